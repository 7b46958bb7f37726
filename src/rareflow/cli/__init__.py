"""Command-line adapters: parse input, call the library, format output. No logic here."""

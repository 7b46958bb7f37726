"""Outputs: files, the HTML report, and the formatting the CLI and API share."""

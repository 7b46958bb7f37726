"""Readers: contract files -> validated tables and rejects. Readers never analyse."""

"""Backups an operator can trust: `vibes backup`, `vibes backup --verify`, `vibes restore`.

A backup file is a tar archive of three members: `data` (a `pg_dump` custom-format dump,
or a SQLite database file made with the online backup API), `manifest.json` (format
version, database kind, schema revision, and per table its row count and a content hash,
taken from the same snapshot as the data) and `SHA256SUMS` (over the other two). Any
changed byte is caught before anything is restored. The server's keys are not in it.
"""

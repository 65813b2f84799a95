"""Stores: decision log, feedback, shared state (SQLite by default, Postgres to scale)."""

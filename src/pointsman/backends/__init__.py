"""Backends: provider clients, and the reliable dispatch (retries, fallback, breakers) over them."""

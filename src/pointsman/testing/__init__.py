"""Test doubles that are real: local HTTP servers speaking the providers' protocols, with injectable faults."""

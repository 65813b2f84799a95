"""Test doubles that are real: local HTTP servers speaking providers' protocols, with injectable faults."""

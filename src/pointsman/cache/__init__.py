"""Semantic cache of responses."""

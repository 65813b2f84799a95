"""Configuration: YAML validated by pydantic, errors that name the bad key."""

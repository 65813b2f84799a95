"""pointsman: route each LLM request to the model that should answer it."""

__version__ = "0.1.0"

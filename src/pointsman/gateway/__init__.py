"""The HTTP gateway: an OpenAI-compatible server that routes each request."""

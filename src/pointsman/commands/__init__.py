"""CLI commands, one module per area; each exposes `register(app)`. Heavy imports stay inside commands."""

"""Policy: rules over signals -> a decision; objectives that turn predictions into a choice."""

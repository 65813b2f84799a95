"""Guards: block, redact or divert a request before any backend sees it."""

"""Learned request classifiers over the request embedding: domain/task, difficulty, jailbreak, out-of-domain.

See docs/classifiers.md."""

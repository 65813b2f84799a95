"""Learned request classifiers (domain/task, difficulty, jailbreak, out-of-domain) over the request embedding."""

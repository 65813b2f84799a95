"""Learning from traffic: feedback files, contextual bandits, drift detection, off-policy evaluation, replay."""

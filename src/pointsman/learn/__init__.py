"""Learning from traffic: feedback files, contextual bandits, drift, off-policy evaluation, replay."""

"""Routers: learned selectors predicting each model's quality for a query, one estimator contract."""

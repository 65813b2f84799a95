"""Evaluation: quality-cost curves, the field's metrics, cross-validation, reports and plots."""

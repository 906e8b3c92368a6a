"""Evaluation: metrics, the eval command, comparison sheets, style metrics."""

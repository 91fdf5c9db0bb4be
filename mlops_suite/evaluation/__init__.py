"""Evaluation stage: metrics on the held-out split, slices, and the report."""

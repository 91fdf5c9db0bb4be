"""Serving stage: the KServe sklearn runtime locally, infra validation, deployment."""

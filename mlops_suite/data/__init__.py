"""Data stage: ingest, profile (statistics and schema), validate, split."""

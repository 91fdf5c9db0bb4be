"""Kubeflow Pipelines components for the whole lifecycle of a tabular scikit-learn model."""

__version__ = "0.1.0"

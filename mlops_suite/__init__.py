"""Kubeflow Pipelines components for the lifecycle of a tabular scikit-learn model."""

__version__ = "0.1.0"

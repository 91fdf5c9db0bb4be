"""The model registry: immutable, numbered versions of a model and a champion pointer.

:class:`ModelRegistry` (in :mod:`~mlops_suite.registry.model_registry`) keeps the
versions, champion and lineage; :mod:`~mlops_suite.registry.store` holds the storage
back ends (a local folder, or any fsspec URI such as ``gs://`` and ``s3://``);
:mod:`~mlops_suite.registry.records` the champion pointer and lineage written beside
the model files; :mod:`~mlops_suite.registry.names` the rule every model name follows.
"""

from mlops_suite.registry.model_registry import ModelRegistry
from mlops_suite.registry.names import MAX_NAME_LENGTH, validate_model_name
from mlops_suite.registry.records import LINEAGE_KEYS, Champion, Registration

__all__ = [
    "LINEAGE_KEYS",
    "MAX_NAME_LENGTH",
    "Champion",
    "ModelRegistry",
    "Registration",
    "validate_model_name",
]

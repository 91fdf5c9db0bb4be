"""The model registry: immutable, numbered versions of a model, aliases and history.

:class:`ModelRegistry` (in :mod:`~mlops_suite.registry.model_registry`) keeps the
versions, champion and lineage; :mod:`~mlops_suite.registry.store` holds the storage
back ends (a local folder, or any fsspec URI such as ``gs://`` and ``s3://``);
:mod:`~mlops_suite.registry.records` the champion pointer and lineage written beside
the model files; :mod:`~mlops_suite.registry.names` the rule every model name follows;
:mod:`~mlops_suite.registry.aliases` the named aliases (``challenger``, ``staging``);
:mod:`~mlops_suite.registry.history` the append-only history and each version's
status; :mod:`~mlops_suite.registry.runs` what each pipeline run's gate and retraining
decision decided; :mod:`~mlops_suite.registry.governance` what people do: approve,
reject, move aliases.
"""

from mlops_suite.registry.aliases import CHALLENGER, CHAMPION, validate_alias
from mlops_suite.registry.history import (
    APPROVAL_MODES,
    APPROVED,
    AUTO,
    MANUAL,
    PENDING,
    REJECTED,
    Event,
    check_approval_mode,
)
from mlops_suite.registry.model_registry import ModelRegistry
from mlops_suite.registry.names import MAX_NAME_LENGTH, validate_model_name
from mlops_suite.registry.records import LINEAGE_KEYS, Champion, Registration

__all__ = [
    "APPROVAL_MODES",
    "APPROVED",
    "AUTO",
    "CHALLENGER",
    "CHAMPION",
    "LINEAGE_KEYS",
    "MANUAL",
    "MAX_NAME_LENGTH",
    "PENDING",
    "REJECTED",
    "Champion",
    "Event",
    "ModelRegistry",
    "Registration",
    "check_approval_mode",
    "validate_alias",
    "validate_model_name",
]

"""Registration: an approved candidate becomes a registry version, with its lineage.

The registry stores whatever it is handed; the rules of the pipeline's registration
step live here: only a model the gate approved is registered, and the lineage records
what only the pipeline knows (schema, metrics, the approval reason, the image and run
that made it). The registry adds the data hash, hyperparameters, package version, git
commit, model hash and time itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlops_suite.artifacts import CALIBRATION_FILE
from mlops_suite.atomic import json_bytes
from mlops_suite.data.schema import schema_sha256
from mlops_suite.errors import RegistryError
from mlops_suite.monitoring.performance_reference import (
    REFERENCE_KEY,
    PerformanceReference,
)
from mlops_suite.registry import ModelRegistry, Registration


def register_approved(
    registry_uri: str,
    model_name: str,
    model_dir: str,
    *,
    decision: Mapping[str, Any],
    metrics: Mapping[str, Any],
    schema: dict[str, Any],
    statistics: dict[str, Any],
    component_image: str = "",
    pipeline_run_id: str = "",
    performance_reference: Mapping[str, Any] | None = None,
    calibration: Mapping[str, Any] | None = None,
) -> Registration:
    """Registers an approved model folder and makes it the champion.

    A model byte-identical to the champion adds no version (``created`` is False).

    Args:
        registry_uri: The model registry (a path or fsspec URI).
        model_name: The registered model's name.
        model_dir: The approved model folder (``model.joblib`` + ``metadata.json``).
        decision: The approval gate's decision (``blessing.json``): ``approved`` and
            ``reason``.
        metrics: The model's evaluation metrics on the test split.
        schema: The schema the training data was validated against.
        statistics: The training data's profile, the reference for monitoring.
        component_image: The image the pipeline's steps ran in.
        pipeline_run_id: The run that produced the model.
        performance_reference: The model's performance across chunks of the test
            split (``PerformanceReference.to_dict``), recorded in ``metadata.json``
            with the approval gate's bounds, for monitoring.
        calibration: The calibrator of its class probabilities
            (``Calibrator.to_dict``), stored as ``calibration.json`` beside it.

    Returns:
        The version the champion now is, and whether it is new.

    Raises:
        RegistryError: The model was not approved (nothing is written), or the
            registry cannot be written.
    """
    if decision.get("approved") is not True:
        raise RegistryError(
            f"model {model_name!r} was not approved, so it is not registered: "
            f"{decision.get('reason', 'no reason recorded')}"
        )
    lineage = {
        "schema_sha256": schema_sha256(schema),
        "metrics": dict(metrics),
        "approval_reason": decision["reason"],
        "component_image": component_image,
        "pipeline_run_id": pipeline_run_id,
    }
    extra: dict[str, Any] = {}
    if performance_reference is not None:
        reference = PerformanceReference.from_dict(performance_reference)
        checks = decision.get("checks")
        extra[REFERENCE_KEY] = reference.with_approval(checks).to_dict()
    files = {CALIBRATION_FILE: json_bytes(calibration)} if calibration else None
    return ModelRegistry(registry_uri).register(
        model_name,
        model_dir,
        lineage=lineage,
        schema=schema,
        statistics=statistics,
        files=files,
        extra_metadata=extra,
    )

"""Registration: an approved candidate becomes a registry version, with its lineage.

The registry stores whatever it is handed; the rules of the pipeline's registration
step live here: only a model the gate approved is registered, and the lineage records
what only the pipeline knows (schema, metrics per slice, the approval reason and
checks, the champion it was compared with, every tuning trial, the intended use, the
image, run and library versions that made it). The registry adds the data hash,
hyperparameters, package version, git commit, model hash and time itself, and writes
the model card from all of it. With ``manual`` approval the version waits, as the
pending ``challenger``, for a person to approve it; the champion is left alone.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from importlib import metadata as package_metadata
from typing import Any

from mlops_suite.artifacts import CALIBRATION_FILE
from mlops_suite.atomic import json_bytes
from mlops_suite.data.schema import schema_sha256
from mlops_suite.errors import RegistryError
from mlops_suite.monitoring.performance_reference import (
    REFERENCE_KEY,
    PerformanceReference,
)
from mlops_suite.registry import (
    AUTO,
    ModelRegistry,
    Registration,
    check_approval_mode,
)


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
    approval: str = AUTO,
    evaluation: Mapping[str, Any] | None = None,
    trials: Sequence[Mapping[str, Any]] = (),
    intended_use: str = "",
    performance_reference: Mapping[str, Any] | None = None,
    calibration: Mapping[str, Any] | None = None,
) -> Registration:
    """Registers an approved model folder: the champion, or a pending challenger.

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
        pipeline_run_id: The run that produced the model; the actor of the history
            events.
        approval: ``auto`` (the new version becomes champion) or ``manual`` (it
            becomes the pending ``challenger`` and waits for a person).
        evaluation: The whole evaluation (``evaluation.json``): its slices and
            class support go into the lineage, its ``explanation`` into the
            version's metadata.
        trials: Every hyperparameter trial of the run, best first
            (:func:`mlops_suite.tuning.trial_records`); empty when it did not tune.
        intended_use: What the model is for, in the card's words; empty when not
            given.
        performance_reference: The model's performance across chunks of the test
            split (``PerformanceReference.to_dict``), recorded in ``metadata.json``
            with the approval gate's bounds, for monitoring.
        calibration: The calibrator of its class probabilities
            (``Calibrator.to_dict``), stored as ``calibration.json`` beside it.

    Returns:
        The version (the champion's, or the pending challenger's), whether it is
        new, and its status.

    Raises:
        RegistryError: The approval mode is unknown, or the model was not approved
            (nothing is written), or the registry cannot be written.
    """
    check_approval_mode(approval)
    if decision.get("approved") is not True:
        raise RegistryError(
            f"model {model_name!r} was not approved, so it is not registered: "
            f"{decision.get('reason', 'no reason recorded')}"
        )
    evaluation = evaluation or {}
    lineage = {
        "schema_sha256": schema_sha256(schema),
        "metrics": dict(metrics),
        "approval_reason": decision["reason"],
        "approval_checks": list(decision.get("checks") or []),
        "compared_with_version": decision.get("champion_version"),
        "component_image": component_image,
        "pipeline_run_id": pipeline_run_id,
        "intended_use": intended_use.strip() or None,
        "evaluation": _evaluation_summary(evaluation),
        "tuning_trials": [dict(trial) for trial in trials] or None,
        "library_versions": library_versions(),
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
        approval=approval,
        explanation=evaluation.get("explanation"),
        files=files,
        extra_metadata=extra,
    )


def _evaluation_summary(evaluation: Mapping[str, Any]) -> dict[str, Any] | None:
    """What the card needs of an evaluation besides the overall metrics."""
    if not evaluation:
        return None
    matrix = evaluation.get("confusion_matrix") or {}
    support = {
        str(label): int(sum(row))
        for label, row in zip(
            matrix.get("labels") or [], matrix.get("matrix") or [], strict=False
        )
    }
    return {
        "n_rows": evaluation.get("n_rows"),
        "primary_metric": evaluation.get("primary_metric"),
        "slice_column": evaluation.get("slice_column"),
        "slices": evaluation.get("slices") or {},
        "class_support": support or None,
    }


# Recorded with every version: the model's pickle is only as portable as these.
_LIBRARIES = ("scikit-learn", "numpy", "scipy", "pandas", "joblib")


def library_versions() -> dict[str, str | None]:
    """Python's and the model libraries' versions in the running environment.

    The register step runs in the same image as training, so these are the
    versions the model was fitted and pickled with.

    Returns:
        ``{"python": ..., "scikit-learn": ..., ...}``; None for a library that is
        not installed.
    """
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            found[name] = package_metadata.version(name)
        except package_metadata.PackageNotFoundError:
            found[name] = None
    return found

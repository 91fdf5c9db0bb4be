"""Registration: an approved candidate becomes a registry version, with its lineage.

The registry stores whatever it is handed; the rules of the pipeline's registration
step live here: only a model the gate approved is registered, and the lineage records
what only the pipeline knows (schema, metrics, the approval reason, the image and run
that made it). The registry adds the data hash, hyperparameters, package version, git
commit, model hash and time itself. With ``manual`` approval the version waits, as the
pending ``challenger``, for a person to approve it; the champion is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlops_suite.data.schema import schema_sha256
from mlops_suite.errors import RegistryError
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
    lineage = {
        "schema_sha256": schema_sha256(schema),
        "metrics": dict(metrics),
        "approval_reason": decision["reason"],
        "component_image": component_image,
        "pipeline_run_id": pipeline_run_id,
    }
    return ModelRegistry(registry_uri).register(
        model_name,
        model_dir,
        lineage=lineage,
        schema=schema,
        statistics=statistics,
        approval=approval,
    )

"""The registration step's rules: only approved models, with the pipeline's lineage."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mlops_suite.data.schema import schema_sha256
from mlops_suite.errors import RegistryError
from mlops_suite.registration import register_approved
from mlops_suite.registry import ModelRegistry

SCHEMA = {"features": [{"name": "x0", "type": "numeric"}]}
STATISTICS = {"rows": 6, "columns": {}}


def register(registry: Path, folder: Path, decision: dict) -> object:
    return register_approved(
        str(registry),
        "demo",
        str(folder),
        decision=decision,
        metrics={"accuracy": 1.0},
        schema=SCHEMA,
        statistics=STATISTICS,
        component_image="example/image:1",
        pipeline_run_id="run-7",
    )


def test_an_approved_model_is_registered_with_the_pipelines_lineage(
    tmp_path: Path, make_model_folder: Callable[..., Path]
) -> None:
    folder = make_model_folder()
    result = register(
        tmp_path / "registry", folder, {"approved": True, "reason": "Approved: ok."}
    )
    assert result.version == 1 and result.created
    lineage = ModelRegistry(str(tmp_path / "registry")).lineage("demo", 1)
    assert lineage["approval_reason"] == "Approved: ok."
    assert lineage["metrics"] == {"accuracy": 1.0}
    assert lineage["schema_sha256"] == schema_sha256(SCHEMA)
    assert lineage["component_image"] == "example/image:1"
    assert lineage["pipeline_run_id"] == "run-7"


@pytest.mark.parametrize(
    "decision",
    [
        {"approved": False, "reason": "Rejected: roc_auc 0.61 is below the minimum."},
        {"reason": "no verdict"},
        {"approved": "yes", "reason": "a string is not a verdict"},
    ],
)
def test_a_model_without_approval_changes_nothing(
    tmp_path: Path, make_model_folder: Callable[..., Path], decision: dict
) -> None:
    registry = tmp_path / "registry"
    with pytest.raises(RegistryError, match="was not approved") as caught:
        register(registry, make_model_folder(), decision)
    assert decision["reason"] in str(caught.value)
    assert not registry.exists() or ModelRegistry(str(registry)).versions("demo") == []


def test_the_performance_reference_keeps_the_approval_bounds_and_the_calibrator(
    tmp_path: Path, make_model_folder: Callable[..., Path]
) -> None:
    reference = {
        "task": "classification",
        "rows": 60,
        "chunk_rows": 6,
        "metrics": {"accuracy": {"mean": 0.9, "std": 0.05, "values": [0.9] * 10}},
    }
    calibration = {"format": 1, "method": "identity", "classes": [0, 1], "maps": []}
    decision = {
        "approved": True,
        "reason": "Approved.",
        "checks": [
            {"name": "min_accuracy", "metric": "accuracy", "bound": 0.8},
            {"name": "max_log_loss", "metric": "log_loss", "bound": 0.5},
            {"name": "infra_validation", "metric": None, "bound": True},
        ],
    }
    register_approved(
        str(tmp_path / "registry"),
        "demo",
        str(make_model_folder()),
        decision=decision,
        metrics={"accuracy": 0.9},
        schema=SCHEMA,
        statistics=STATISTICS,
        performance_reference=reference,
        calibration=calibration,
    )
    registry = ModelRegistry(str(tmp_path / "registry"))
    recorded = registry.metadata("demo", 1)["performance_reference"]
    # log_loss is not monitored, so only the accuracy bound is kept.
    assert recorded["approval_bounds"] == {"accuracy": 0.8}
    assert recorded["metrics"]["accuracy"]["std"] == 0.05
    assert json.loads(registry.read_file("demo", 1, "calibration.json")) == calibration

"""The registration step's rules: only approved models, with the pipeline's lineage."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import sklearn

from mlops_suite.data.schema import schema_sha256
from mlops_suite.errors import RegistryError
from mlops_suite.registration import register_approved
from mlops_suite.registry import ModelRegistry, Registration

SCHEMA = {"features": [{"name": "x0", "type": "numeric"}]}
STATISTICS = {"rows": 6, "columns": {}}


def register(
    registry: Path, folder: Path, decision: dict, approval: str = "auto"
) -> Registration:
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
        approval=approval,
    )


def test_an_approved_model_is_registered_with_the_pipelines_lineage(
    tmp_path: Path, make_model_folder: Callable[..., Path]
) -> None:
    folder = make_model_folder()
    result = register(
        tmp_path / "registry", folder, {"approved": True, "reason": "Approved: ok."}
    )
    assert result.version == 1 and result.created and result.status == "approved"
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


def test_manual_approval_registers_a_pending_challenger_with_the_run_as_actor(
    tmp_path: Path, make_model_folder: Callable[..., Path]
) -> None:
    approved = {"approved": True, "reason": "Approved: ok."}
    register(tmp_path / "registry", make_model_folder(c=1.0), approved)

    result = register(
        tmp_path / "registry", make_model_folder(c=0.1), approved, approval="manual"
    )

    registry = ModelRegistry(str(tmp_path / "registry"))
    assert (result.version, result.created, result.status) == (2, True, "pending")
    champion = registry.champion("demo")
    assert champion is not None and champion.version == 1
    registered = [e for e in registry.events.read("demo") if e.version == 2]
    assert [(e.event, e.actor) for e in registered] == [
        ("registered", "run-7"),
        ("alias-set", "run-7"),
    ]
    assert registered[0].reason == "Approved: ok."


def test_an_unknown_approval_mode_is_refused_before_anything_is_written(
    tmp_path: Path, make_model_folder: Callable[..., Path]
) -> None:
    approved = {"approved": True, "reason": "Approved: ok."}
    with pytest.raises(RegistryError, match=r"^approval is 'Manual'; expected"):
        register(tmp_path / "registry", make_model_folder(), approved, "Manual")
    assert not (tmp_path / "registry").exists()


EVALUATION = {
    "task": "classification",
    "n_rows": 40,
    "metrics": {"accuracy": 1.0},
    "primary_metric": "roc_auc",
    "confusion_matrix": {"labels": ["a", "b"], "matrix": [[30, 2], [1, 7]]},
    "slice_column": "island",
    "slices": {"Biscoe": {"n_rows": 40, "accuracy": 1.0}},
    "explanation": {
        "method": "permutation_importance",
        "metric": "roc_auc",
        "permutation_importance": {"x1": {"mean": 0.2, "std": 0.01}},
    },
}
TRIALS = [
    {
        "rank": 1,
        "params": {"C": 1.0},
        "metric": "roc_auc",
        "score": 0.9,
        "selected": True,
    },
    {
        "rank": 2,
        "params": {"C": 0.1},
        "metric": "roc_auc",
        "score": 0.8,
        "selected": False,
    },
]


def test_the_lineage_keeps_slices_checks_trials_and_the_explanation(
    tmp_path: Path, make_model_folder: Callable[..., Path]
) -> None:
    checks = [
        {
            "name": "min_roc_auc",
            "metric": "roc_auc",
            "value": 0.9,
            "bound": 0.8,
            "passed": True,
        }
    ]
    register_approved(
        str(tmp_path / "registry"),
        "demo",
        str(make_model_folder()),
        decision={
            "approved": True,
            "reason": "Approved: ok.",
            "checks": checks,
            "champion_version": 3,
        },
        metrics={"accuracy": 1.0},
        schema=SCHEMA,
        statistics=STATISTICS,
        evaluation=EVALUATION,
        trials=TRIALS,
        intended_use="  Sorting penguins in a demo.  ",
    )
    metadata = ModelRegistry(str(tmp_path / "registry")).metadata("demo", 1)
    lineage = metadata["lineage"]
    assert metadata["explanation"] == EVALUATION["explanation"]
    assert lineage["intended_use"] == "Sorting penguins in a demo."
    assert lineage["approval_checks"] == checks
    assert lineage["compared_with_version"] == 3
    # The best model traces back to the trial that chose its parameters.
    assert lineage["tuning_trials"] == TRIALS
    assert lineage["evaluation"] == {
        "n_rows": 40,
        "primary_metric": "roc_auc",
        "slice_column": "island",
        "slices": {"Biscoe": {"n_rows": 40, "accuracy": 1.0}},
        "class_support": {"a": 32, "b": 8},
    }
    assert lineage["library_versions"]["scikit-learn"] == sklearn.__version__


def test_without_evaluation_trials_or_intended_use_the_lineage_says_so(
    tmp_path: Path, make_model_folder: Callable[..., Path]
) -> None:
    folder = make_model_folder()
    register(tmp_path / "registry", folder, {"approved": True, "reason": "ok"})
    metadata = ModelRegistry(str(tmp_path / "registry")).metadata("demo", 1)
    lineage = metadata["lineage"]
    assert lineage["intended_use"] is None
    assert lineage["tuning_trials"] is None
    assert lineage["evaluation"] is None
    assert "explanation" not in metadata


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

"""The approval gate: thresholds, champion comparison, infra validation, reasons."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from mlops_suite.approval import (
    PRIMARY_METRIC,
    ApprovalError,
    Decision,
    Thresholds,
    approve,
    decide,
)

CLS = "classification"
REG = "regression"


def _check(decision: Decision, name: str) -> dict[str, object]:
    return next(check for check in decision.checks if check["name"] == name)


def test_primary_metrics_are_roc_auc_and_rmse() -> None:
    assert PRIMARY_METRIC == {CLS: "roc_auc", REG: "rmse"}


# ------------------------------------------------------------------ thresholds


def test_no_champion_thresholds_alone_decide() -> None:
    decision = decide(
        CLS, {"roc_auc": 0.97, "accuracy": 0.91}, thresholds=Thresholds(min_roc_auc=0.8)
    )

    assert decision.approved
    assert (
        decision.reason
        == "Approved: no champion yet; roc_auc 0.97 meets the minimum 0.80."
    )
    assert decision.champion_version is None
    assert decision.checks == [
        {
            "name": "min_roc_auc",
            "metric": "roc_auc",
            "value": 0.97,
            "bound": 0.8,
            "passed": True,
        }
    ]


def test_every_failed_threshold_is_named_with_its_numbers() -> None:
    decision = decide(
        CLS,
        {"roc_auc": 0.71, "accuracy": 0.65, "f1_macro": 0.9, "log_loss": 0.93},
        thresholds=Thresholds(
            min_roc_auc=0.8, min_accuracy=0.7, min_f1_macro=0.5, max_log_loss=0.5
        ),
    )

    assert not decision.approved
    assert decision.reason == (
        "Rejected: roc_auc 0.71 is below the minimum 0.80; accuracy 0.65 is below the "
        "minimum 0.70; log_loss 0.93 is above the maximum 0.50."
    )
    assert [c["passed"] for c in decision.checks] == [False, False, True, False]


def test_lower_is_better_thresholds_for_regression() -> None:
    passing = decide(
        REG,
        {"rmse": 450.25, "mae": 300.0, "r2": 0.8},
        thresholds=Thresholds(max_rmse=500, min_r2=0.5),
    )
    failing = decide(
        REG,
        {"rmse": 12345.678, "mae": 9.5},
        thresholds={"max_rmse": 10000, "max_mae": 10},
    )

    assert passing.approved
    assert passing.reason == (
        "Approved: no champion yet; rmse 450.2 does not exceed the maximum 500.0 and "
        "r2 0.80 meets the minimum 0.50."
    )
    assert not failing.approved
    assert failing.reason == "Rejected: rmse 12,345.7 is above the maximum 10,000.0."


def test_a_value_rounding_to_the_bound_is_shown_with_enough_digits() -> None:
    decision = decide(CLS, {"roc_auc": 0.7996}, thresholds=Thresholds(min_roc_auc=0.8))

    assert decision.reason == "Rejected: roc_auc 0.7996 is below the minimum 0.80."


def test_a_value_exactly_on_the_bound_passes() -> None:
    assert decide(
        CLS, {"accuracy": 0.9}, thresholds=Thresholds(min_accuracy=0.9)
    ).approved


def test_thresholds_of_the_other_task_are_ignored() -> None:
    decision = decide(
        REG, {"rmse": 3.0}, thresholds=Thresholds(min_roc_auc=0.8, max_rmse=5)
    )

    assert decision.approved
    assert [c["name"] for c in decision.checks] == ["max_rmse"]


@pytest.mark.parametrize(
    ("metrics", "problem"),
    [
        ({"roc_auc": float("nan")}, "NaN"),
        ({"accuracy": 0.9}, "missing"),
        ({"roc_auc": None}, "missing"),
    ],
)
def test_missing_or_nan_metric_needed_by_a_threshold_rejects(
    metrics: dict[str, float | None], problem: str
) -> None:
    decision = decide(CLS, metrics, thresholds=Thresholds(min_roc_auc=0.8))

    assert not decision.approved
    assert decision.reason == (
        f"Rejected: the candidate's roc_auc is {problem}, so the minimum 0.80 "
        "cannot be checked."
    )
    json.dumps(decision.to_dict(), allow_nan=False)  # blessing.json stays strict JSON


def test_no_thresholds_and_no_champion_approves() -> None:
    decision = decide(CLS, {"roc_auc": 0.6}, thresholds=Thresholds())

    assert decision.approved
    assert decision.reason == "Approved: no champion yet and no thresholds are set."


# ------------------------------------------------------------------ champion


def test_within_tolerance_of_champion_is_approved() -> None:
    decision = decide(
        CLS,
        {"roc_auc": 0.991},
        thresholds=Thresholds(min_roc_auc=0.8),
        champion_metrics={"roc_auc": 0.989},
        champion_version=3,
    )

    assert decision.approved
    assert decision.reason == (
        "Approved: roc_auc 0.991 meets the minimum 0.80 and is within 1% of "
        "champion v3 (0.989 on the same test split)."
    )
    assert decision.champion_version == 3


def test_small_drop_within_tolerance_is_approved() -> None:
    decision = decide(
        CLS,
        {"roc_auc": 0.985},
        thresholds=Thresholds(),
        champion_metrics={"roc_auc": 0.989},
        champion_version=3,
    )

    assert decision.approved
    check = _check(decision, "max_regression_vs_champion")
    assert check["passed"] and check["champion_value"] == 0.989
    assert math.isclose(check["bound"], 0.989 * 0.99)  # type: ignore[arg-type]


def test_drop_beyond_tolerance_is_rejected_with_the_percentage() -> None:
    decision = decide(
        CLS,
        {"roc_auc": 0.95},
        thresholds=Thresholds(min_roc_auc=0.8),
        champion_metrics={"roc_auc": 0.99},
        champion_version=3,
    )

    assert not decision.approved
    assert decision.reason == (
        "Rejected: roc_auc 0.95 is 4.0% worse than champion v3 (0.99 on the same test "
        "split), beyond the 1% tolerance."
    )


def test_higher_rmse_than_champion_is_a_regression() -> None:
    decision = decide(
        REG,
        {"rmse": 512.3},
        thresholds=Thresholds(),
        champion_metrics={"rmse": 473.5},
        champion_version=2,
    )

    assert not decision.approved
    assert decision.reason == (
        "Rejected: rmse 512.3 is 8.2% worse than champion v2 (473.5 on the same test "
        "split), beyond the 1% tolerance."
    )
    assert _check(decision, "max_regression_vs_champion")[
        "relative_change"
    ] == pytest.approx(0.0819, abs=1e-4)


def test_lower_rmse_than_champion_is_not_a_regression() -> None:
    decision = decide(
        REG,
        {"rmse": 400.0},
        thresholds=Thresholds(max_rmse=500),
        champion_metrics={"rmse": 473.5},
        champion_version=2,
    )

    assert decision.approved
    assert decision.reason == (
        "Approved: rmse 400.0 does not exceed the maximum 500.0 and is within 1% of "
        "champion v2 (473.5 on the same test split)."
    )


def test_the_tolerance_is_configurable() -> None:
    metrics, champion = {"rmse": 490.0}, {"rmse": 473.5}  # 3.5% worse

    strict = decide(
        REG,
        metrics,
        thresholds=Thresholds(),
        champion_metrics=champion,
        champion_version=2,
    )
    lenient = decide(
        REG,
        metrics,
        thresholds={"max_regression": 0.05},
        champion_metrics=champion,
        champion_version=2,
    )

    assert not strict.approved
    assert lenient.approved
    assert lenient.reason == (
        "Approved: rmse 490.0 is within 5% of champion v2 "
        "(473.5 on the same test split)."
    )


def test_thresholds_still_apply_when_the_champion_is_beaten() -> None:
    decision = decide(
        CLS,
        {"roc_auc": 0.75},
        thresholds=Thresholds(min_roc_auc=0.8),
        champion_metrics={"roc_auc": 0.70},
        champion_version=1,
    )

    assert not decision.approved
    assert decision.reason == "Rejected: roc_auc 0.75 is below the minimum 0.80."


def test_champion_without_the_primary_metric_blocks_the_comparison() -> None:
    decision = decide(
        CLS,
        {"roc_auc": 0.9},
        thresholds=Thresholds(),
        champion_metrics={"roc_auc": float("nan")},
        champion_version=4,
    )

    assert not decision.approved
    assert decision.reason == (
        "Rejected: champion v4's roc_auc on the same test split is NaN, so the "
        "candidate cannot be compared with it."
    )


def test_candidate_without_the_primary_metric_cannot_be_compared() -> None:
    decision = decide(
        REG,
        {"mae": 3.0},
        thresholds=Thresholds(),
        champion_metrics={"rmse": 4.0},
        champion_version=4,
    )

    assert not decision.approved
    assert "the candidate's rmse is missing" in decision.reason
    assert "champion v4" in decision.reason


# ------------------------------------------------------------------ infra


def test_model_that_failed_in_the_serving_runtime_is_rejected() -> None:
    decision = decide(
        CLS,
        {"roc_auc": 0.99},
        thresholds=Thresholds(min_roc_auc=0.8),
        infra_blessed=False,
        infra_reason="ModuleNotFoundError: No module named 'mlops_suite'.\n",
    )

    assert not decision.approved
    assert decision.reason == (
        "Rejected: the model failed to load or answer in the serving runtime "
        "(ModuleNotFoundError: No module named 'mlops_suite')."
    )
    assert _check(decision, "infra_validation")["passed"] is False


def test_infra_blessing_is_recorded_when_it_passed() -> None:
    decision = decide(
        CLS, {"roc_auc": 0.99}, thresholds=Thresholds(), infra_blessed=True
    )

    assert decision.approved
    assert _check(decision, "infra_validation")["passed"] is True


# ------------------------------------------------------------------ settings


def test_thresholds_round_trip_through_dicts() -> None:
    thresholds = Thresholds.from_dict(
        {"min_roc_auc": 0.8, "max_rmse": None, "max_regression": 0.02}
    )

    assert thresholds.min_roc_auc == 0.8 and thresholds.max_rmse is None
    assert Thresholds.from_dict(thresholds.to_dict()) == thresholds
    assert Thresholds.from_dict({}).max_regression == 0.01


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"min_auc": 0.8}, "Unknown threshold 'min_auc'"),
        ({"min_roc_auc": "high"}, "min_roc_auc must be a number"),
        ({"max_regression": -0.1}, "max_regression must be a finite number >= 0"),
        ({"max_rmse": float("inf")}, "max_rmse must be a finite number"),
    ],
)
def test_bad_thresholds_are_explained(data: dict[str, object], message: str) -> None:
    with pytest.raises(ApprovalError, match=message):
        Thresholds.from_dict(data)


def test_unknown_task_is_explained() -> None:
    with pytest.raises(ApprovalError, match="Unknown task 'clustering'"):
        decide("clustering", {}, thresholds=Thresholds())


def test_decision_survives_a_round_trip_through_json() -> None:
    decision = decide(
        REG,
        {"rmse": 512.3},
        thresholds=Thresholds(max_rmse=600),
        champion_metrics={"rmse": 473.5},
        champion_version=2,
    )

    restored = Decision.from_dict(json.loads(json.dumps(decision.to_dict())))

    assert restored == decision


def test_approve_says_why_the_champion_was_not_compared(
    penguins: pd.DataFrame, tmp_path: Path
) -> None:
    # The champion was trained on a column the candidate's test rows no longer have:
    # the thresholds alone decide, and the reason names the column.
    from mlops_suite.model_folder import save_model
    from mlops_suite.registry import ModelRegistry
    from mlops_suite.training.train import train_model

    registry = str(tmp_path / "registry")
    save_model(train_model(penguins, "species"), tmp_path / "model")
    ModelRegistry(registry).register("penguins", str(tmp_path / "model"), lineage={})
    decision = approve(
        "classification",
        {"roc_auc": 0.99, "accuracy": 0.97},
        penguins.drop(columns=["bill_length_mm"]),
        registry_uri=registry,
        model_name="penguins",
        thresholds='{"min_roc_auc": 0.8}',
        max_regression=0.01,
        infra={"blessed": True, "reason": "ok"},
    )
    assert decision.approved
    assert "champion v1 was not re-scored" in decision.reason
    assert "bill_length_mm" in decision.reason


def test_approve_refuses_thresholds_that_are_not_json(
    penguins: pd.DataFrame, tmp_path: Path
) -> None:
    with pytest.raises(ApprovalError, match="not a JSON object"):
        approve(
            "classification",
            {"roc_auc": 0.99},
            penguins,
            registry_uri=str(tmp_path / "registry"),
            model_name="penguins",
            thresholds="{min_roc_auc: 0.8",
            max_regression=0.01,
        )


def test_approve_records_the_runs_decision_for_its_exit_step(
    penguins: pd.DataFrame, tmp_path: Path
) -> None:
    from mlops_suite.errors import RegistryError
    from mlops_suite.model_folder import describe, save_model
    from mlops_suite.registry import ModelRegistry
    from mlops_suite.training.train import train_model

    registry = str(tmp_path / "registry")
    save_model(train_model(penguins, "species"), tmp_path / "model")
    ModelRegistry(registry).register("penguins", str(tmp_path / "model"), lineage={})
    gate = {
        "registry_uri": registry,
        "model_name": "penguins",
        "max_regression": 0.01,
        "candidate_sha256": describe(tmp_path / "model").model_sha256,
    }
    metrics = {"roc_auc": 1.0, "accuracy": 1.0}

    refused = approve(
        CLS, metrics, penguins, thresholds='{"min_roc_auc": 1.5}',
        pipeline_run_id="run-1", **gate,
    )  # fmt: skip
    same = approve(
        CLS, metrics, penguins, thresholds="", pipeline_run_id="run-2", **gate
    )

    runs = ModelRegistry(registry).runs
    assert not refused.approved and same.approved
    rejected = runs.read("penguins", "run-1")["approval"]
    assert (rejected.decision, rejected.reason) == ("rejected", refused.reason)
    unchanged = runs.read("penguins", "run-2")["approval"]
    assert (unchanged.decision, unchanged.champion_version) == ("unchanged", 1)
    with pytest.raises(RegistryError, match="cannot name a run's folder"):
        approve(CLS, metrics, penguins, thresholds="", pipeline_run_id="a/b", **gate)

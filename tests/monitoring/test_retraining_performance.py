"""Retraining decided by performance first, then by drift of features that matter.

The windows are drawn from ``make_world`` (tests/support/world.py), whose labels
follow a known rule, so each scenario's truth is known: a concept change the
features do not show, a shift in a column the label never depends on, labels that
arrive late.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from world import WorldModel, make_world, register_world_model

from mlops_suite.errors import MlopsError
from mlops_suite.monitoring.retraining import DECIDED_BY, decide_retraining


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, world_model: WorldModel) -> str:
    """The world model as champion v1, with importance, reference and calibrator."""
    root = tmp_path_factory.mktemp("registry")
    register_world_model(str(root), root / "model-folder", world_model)
    return str(root)


@pytest.fixture(scope="module")
def unexplained(
    tmp_path_factory: pytest.TempPathFactory, world_model: WorldModel
) -> str:
    """The same model, registered without its permutation importance."""
    root = tmp_path_factory.mktemp("unexplained")
    register_world_model(str(root), root / "model-folder", world_model, explained=False)
    return str(root)


def labels_of(rows: pd.DataFrame, logged: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"request_id": logged["request_id"], "label": rows["label"]})


def test_a_concept_change_no_feature_shows_retrains_on_the_estimate(
    registry: str, world_model: WorldModel
) -> None:
    # x1 and x2 crowd towards the decision boundary, each keeping its marginal.
    logged = world_model.serve(make_world(3000, 40, joint=0.95))
    decision = decide_retraining(registry, "world", logged)

    assert decision.drift is not None and decision.drift.drifted_features == []
    assert decision.retrain and decision.decided_by == "estimated_performance"
    assert decision.reason.startswith("Retrain: estimated accuracy")
    performance = decision.to_dict()["performance"]
    accuracy = performance["metrics"]["accuracy"]
    assert accuracy["estimated"] < accuracy["estimated_threshold"]
    assert accuracy["lower"] < accuracy["estimated"] < accuracy["upper"]
    assert performance["signal"] == "estimated_performance"
    assert "accuracy" in performance["fallen"]
    markdown = decision.to_markdown()
    assert "Decided by: `estimated_performance`" in markdown
    assert "| accuracy |" in markdown and "band" in markdown
    page = decision.to_html()
    assert "estimated_performance" in page and "<h2>Performance</h2>" in page


def test_a_shift_in_a_feature_the_model_ignores_does_not_retrain(
    registry: str, unexplained: str, world_model: WorldModel
) -> None:
    logged = world_model.serve(make_world(3000, 41, ignored_shift=1.0))
    decision = decide_retraining(registry, "world", logged)

    assert decision.drift is not None
    assert decision.drift.drifted_features == ["noise"]  # flagged in the report
    assert not decision.performance_fell
    reference = world_model.reference.metrics["accuracy"].mean
    assert decision.performance is not None
    accuracy = decision.performance.metrics["accuracy"]
    assert accuracy.lower is not None and accuracy.upper is not None
    assert accuracy.lower <= reference <= accuracy.upper  # the estimate holds
    assert not decision.retrain and decision.decided_by == "none"
    assert decision.negligible == ("noise",)
    assert "noise" in decision.reason and "does not rely on it" in decision.reason
    assert decision.to_dict()["negligible_features"] == ["noise"]
    assert "noise drifted, which alone does not call" in decision.to_markdown()

    # Without the importance, every feature counts: the same window retrains.
    blind = decide_retraining(unexplained, "world", logged)
    assert blind.retrain and blind.decided_by == "drift"
    assert blind.reason.startswith("Retrain: drift in noise")


def test_ignore_features_leaves_a_column_out(
    unexplained: str, world_model: WorldModel, tmp_path: Path
) -> None:
    logged = world_model.serve(make_world(3000, 42, ignored_shift=1.0))
    decision = decide_retraining(
        unexplained, "world", logged, ignore_features=["noise"]
    )
    assert decision.drift is not None
    assert list(decision.drift.features) == ["x1", "x2"]
    assert not decision.retrain and decision.decided_by == "none"
    assert decision.to_dict()["ignored_features"] == ["noise"]
    assert "Not compared (ignore_features): noise." in decision.to_markdown()
    assert "not compared (ignore_features): noise" in decision.to_html()

    # The thresholds file says the same, and names that are not compared are
    # left alone.
    thresholds = tmp_path / "thresholds.json"
    thresholds.write_text(json.dumps({"ignore_features": ["noise", "year"]}))
    from_file = decide_retraining(
        unexplained, "world", logged, thresholds=str(thresholds)
    )
    assert from_file.drift is not None and from_file.drift.ignored == ("noise",)
    assert not from_file.retrain


def test_labels_joined_late_let_the_realized_performance_decide(
    registry: str, world_model: WorldModel
) -> None:
    # The rule changed; the inputs did not. The model is as confident as ever, so
    # its estimate holds, but the labels tell the truth once they arrive.
    rows = make_world(3000, 43, x2_weight=1.5)
    logged = world_model.serve(rows)
    before = decide_retraining(registry, "world", logged)
    assert not before.retrain and before.decided_by == "none"
    assert before.performance_signal == "estimated_performance"

    late = labels_of(rows, logged).iloc[:600]  # a fifth of the labels so far
    after = decide_retraining(registry, "world", logged, labels=late)
    assert after.retrain and after.decided_by == "realized_performance"
    assert after.reason.startswith("Retrain: realized accuracy")
    assert after.performance is not None and after.performance.labelled_rows == 600
    accuracy = after.to_dict()["performance"]["metrics"]["accuracy"]
    truth = (logged["prediction"] == rows["label"]).to_numpy()[:600].mean()
    assert accuracy["realized"] == pytest.approx(truth)
    assert accuracy["realized_alert"] and not accuracy["estimated_alert"]


def test_performance_thresholds_can_be_set(
    registry: str, world_model: WorldModel, tmp_path: Path
) -> None:
    logged = world_model.serve(make_world(3000, 44))
    assert not decide_retraining(registry, "world", logged).retrain
    strict = decide_retraining(
        registry, "world", logged, performance_thresholds={"accuracy": 0.95}
    )
    assert strict.retrain and strict.decided_by == "estimated_performance"
    assert "accuracy" in strict.reason and "threshold 0.950" in strict.reason
    assert strict.to_dict()["performance"]["user_thresholds"] == ["accuracy"]
    thresholds = tmp_path / "thresholds.json"
    thresholds.write_text(json.dumps({"performance": {"roc_auc": 0.99}}))
    from_file = decide_retraining(registry, "world", logged, thresholds=str(thresholds))
    assert from_file.decided_by == "estimated_performance"
    assert "roc_auc" in from_file.reason
    with pytest.raises(MlopsError, match="unknown metric 'precision'"):
        decide_retraining(
            registry, "world", logged, performance_thresholds={"precision": 0.9}
        )


def test_min_importance_decides_which_features_matter(
    registry: str, world_model: WorldModel
) -> None:
    logged = world_model.serve(make_world(3000, 45, ignored_shift=1.0))
    # With x2 below the bar too, a shift in noise still does not count, and the
    # report lists both as features the model does not rely on.
    loose = decide_retraining(
        registry, "world", logged, thresholds={"min_importance": 0.4}
    )
    assert loose.negligible == ("x2", "noise") and not loose.retrain


def test_forced_and_no_champion_are_named(
    registry: str, world_model: WorldModel, tmp_path: Path
) -> None:
    logged = world_model.serve(make_world(1000, 46))
    forced = decide_retraining(registry, "world", logged, force=True)
    assert forced.retrain and forced.decided_by == "forced"
    nobody = decide_retraining(str(tmp_path), "world", logged)
    assert nobody.decided_by == "no_champion"
    assert nobody.to_dict()["decided_by"] == "no_champion"
    assert {forced.decided_by, nobody.decided_by} <= set(DECIDED_BY)


def test_a_regressor_is_judged_on_realized_metrics_and_drift_only(
    tmp_path: Path, penguins: pd.DataFrame
) -> None:
    from mlops_suite.data.statistics import compute_statistics
    from mlops_suite.model_folder import save_model
    from mlops_suite.monitoring.performance_reference import (
        REFERENCE_KEY,
        fit_reference,
    )
    from mlops_suite.registry import ModelRegistry
    from mlops_suite.training.train import to_v1_instances, train_model

    data = penguins.dropna(subset=["body_mass_g"]).reset_index(drop=True)
    trained = train_model(data.iloc[:250], "body_mass_g")
    reference, _ = fit_reference(trained.pipeline, trained.metadata, data.iloc[250:])
    save_model(trained, tmp_path / "model")
    features = data.drop(columns=["body_mass_g"])
    ModelRegistry(str(tmp_path / "registry")).register(
        "mass",
        str(tmp_path / "model"),
        lineage={"metrics": {"rmse": reference.metrics["rmse"].mean}},
        statistics=compute_statistics(features),
        extra_metadata={REFERENCE_KEY: reference.to_dict()},
    )
    rows = [f["name"] for f in trained.metadata["features"]]
    logged = features[rows].copy()
    logged.insert(0, "request_id", [f"r{i}" for i in range(len(logged))])
    instances = to_v1_instances(logged, trained.metadata["features"])
    logged["prediction"] = trained.pipeline.predict(instances)
    registry = str(tmp_path / "registry")

    unlabelled = decide_retraining(registry, "mass", logged)
    assert unlabelled.performance is not None
    assert unlabelled.performance_signal is None
    assert "not estimated for regression" in unlabelled.performance.note
    assert "performance is not estimated for regression" in unlabelled.reason
    assert "not estimated for regression" in unlabelled.to_markdown()

    truth = pd.DataFrame(
        {"request_id": logged["request_id"], "label": data["body_mass_g"] + 1500}
    )
    labelled = decide_retraining(registry, "mass", logged, labels=truth)
    assert labelled.retrain and labelled.decided_by == "realized_performance"
    assert labelled.reason.startswith("Retrain: realized rmse")


def test_the_threshold_is_the_reference_chunks_spread_never_narrower(
    registry: str, world_model: WorldModel
) -> None:
    # A window ten reference chunks long is held to one chunk's spread (the
    # estimate's calibration error does not shrink with the rows); a window smaller
    # than a chunk gets a wider one.
    reference = world_model.reference
    for rows, judged in ((3000, reference.chunk_rows), (100, 100)):
        logged = world_model.serve(make_world(rows, 47))
        decision = decide_retraining(registry, "world", logged)
        assert decision.performance is not None
        accuracy = decision.performance.metrics["accuracy"]
        assert accuracy.estimated_threshold == pytest.approx(
            reference.threshold("accuracy", judged)
        )
    assert reference.threshold("accuracy", 100) < reference.threshold("accuracy", 300)

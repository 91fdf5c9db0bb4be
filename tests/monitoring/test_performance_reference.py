"""The performance reference: spread across held-out chunks, band and threshold."""

from __future__ import annotations

import pandas as pd
import pytest
from world import WorldModel, make_world

from mlops_suite.errors import DataError
from mlops_suite.evaluation.metrics import evaluate
from mlops_suite.monitoring.calibrator import IDENTITY
from mlops_suite.monitoring.performance_reference import (
    MetricSpread,
    PerformanceReference,
    fit_reference,
)


def test_the_reference_records_each_metric_across_ten_chunks(
    world_model: WorldModel,
) -> None:
    reference = world_model.reference
    assert reference.rows == 3000 and reference.chunk_rows == 300
    overall = evaluate(
        world_model.trained.pipeline, world_model.trained.metadata, make_world(3000, 2)
    ).metrics
    for name in ("accuracy", "f1_macro", "roc_auc"):
        spread = reference.metrics[name]
        assert len(spread.values) == 10
        assert spread.mean == pytest.approx(overall[name], abs=0.01)
        assert 0 < spread.std < 0.06
    # Logistic regression is calibrated already: calibration would not help.
    assert world_model.calibrator.method == IDENTITY
    assert reference.calibration == "calibration.json"


def test_band_and_threshold_scale_with_the_chunk_size() -> None:
    reference = PerformanceReference(
        task="classification",
        rows=1000,
        chunk_rows=100,
        metrics={"accuracy": MetricSpread(mean=0.9, std=0.04)},
    )
    assert reference.sampling_error("accuracy", 100) == pytest.approx(0.04)
    assert reference.sampling_error("accuracy", 400) == pytest.approx(0.02)
    assert reference.threshold("accuracy", 400) == pytest.approx(0.84)
    assert reference.threshold("roc_auc", 400) is None


def test_the_threshold_is_the_more_lenient_of_the_spread_and_approval() -> None:
    spread = {"accuracy": MetricSpread(mean=0.9, std=0.04)}
    reference = PerformanceReference("classification", 1000, 100, spread)
    strict = reference.with_approval(
        [{"name": "min_accuracy", "metric": "accuracy", "bound": 0.85}]
    )
    lenient = reference.with_approval(
        [{"name": "min_accuracy", "metric": "accuracy", "bound": 0.7}]
    )
    assert strict.threshold("accuracy", 100) == pytest.approx(0.78)
    assert lenient.threshold("accuracy", 100) == pytest.approx(0.7)
    again = PerformanceReference.from_dict(lenient.to_dict())
    assert again.threshold("accuracy", 100) == pytest.approx(0.7)


def test_an_error_metric_alerts_above_its_threshold() -> None:
    spread = {"rmse": MetricSpread(mean=10.0, std=1.0)}
    reference = PerformanceReference("regression", 500, 50, spread)
    assert reference.threshold("rmse", 50) == pytest.approx(13.0)
    bounded = reference.with_approval(
        [{"name": "max_rmse", "metric": "rmse", "bound": 15}]
    )
    assert bounded.threshold("rmse", 50) == pytest.approx(15.0)


def test_a_tiny_held_out_set_has_no_spread(world_model: WorldModel) -> None:
    reference, _ = fit_reference(
        world_model.trained.pipeline, world_model.trained.metadata, make_world(8, 3)
    )
    assert reference.chunk_rows == 8
    assert reference.metrics["accuracy"].std is None
    assert reference.threshold("accuracy", 100) is None


def test_unknown_classes_and_malformed_records_are_refused(
    world_model: WorldModel,
) -> None:
    rows = make_world(50, 4)
    rows.loc[0, "label"] = "maybe"
    with pytest.raises(DataError, match="never saw \\(maybe\\)"):
        fit_reference(world_model.trained.pipeline, world_model.trained.metadata, rows)
    with pytest.raises(DataError, match="performance_reference of v2/metadata.json"):
        PerformanceReference.from_dict({"task": "classification"}, "v2/metadata.json")
    empty = pd.DataFrame(columns=rows.columns)
    with pytest.raises(DataError, match="0 rows"):
        fit_reference(world_model.trained.pipeline, world_model.trained.metadata, empty)

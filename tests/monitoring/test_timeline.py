"""The monitoring timeline: drift and estimated performance per chunk, truth known.

Every scenario is drawn from ``make_world`` (conftest), whose labels follow a known
rule, so the realized metrics say what the estimates should have found.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from world import WorldModel, make_world

from mlops_suite.errors import DataError, MlopsError
from mlops_suite.model_folder import save_model
from mlops_suite.monitoring.chunking import Chunking
from mlops_suite.monitoring.monitored_model import MonitoredModel
from mlops_suite.monitoring.timeline import build_timeline


def monitored(world: WorldModel, folder: Path | None = None) -> MonitoredModel:
    return MonitoredModel(
        metadata=world.trained.metadata,
        name="world v1",
        reference=world.reference,
        calibrator=world.calibrator,
        folder=(lambda: nullcontext(str(folder))) if folder is not None else None,
    )


def labels_of(rows: pd.DataFrame, logged: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"request_id": logged["request_id"], "label": rows["label"]})


def test_a_drop_no_single_feature_shows_is_estimated(world_model: WorldModel) -> None:
    # Chunk 0 is like the reference; in chunk 1 x1 and x2 move together towards the
    # decision boundary while each keeps its N(0, 1) marginal.
    rows = pd.concat(
        [make_world(3000, 10), make_world(3000, 11, joint=0.95)], ignore_index=True
    )
    logged = world_model.serve(rows)
    timeline = build_timeline(
        logged,
        chunking=Chunking(size=3000),
        statistics=world_model.statistics,
        model=monitored(world_model),
        labels=labels_of(rows, logged),
    )
    before, after = timeline.chunks
    assert not before.drifted_features and not after.drifted_features
    accuracy = after.performance["accuracy"]
    assert accuracy.realized is not None and accuracy.realized < 0.7  # the truth
    assert accuracy.estimated is not None and accuracy.estimated < 0.7
    assert abs(accuracy.estimated - accuracy.realized) < 0.04
    assert accuracy.alert and after.performance["roc_auc"].alert
    assert before.alerting_metrics == []
    assert [a["chunk"] for a in timeline.performance_alerts] == [1, 1, 1]


def test_a_shift_in_an_ignored_feature_drifts_but_the_estimate_holds(
    world_model: WorldModel,
) -> None:
    rows = make_world(4000, 12, ignored_shift=1.0)
    timeline = build_timeline(
        world_model.serve(rows),
        chunking=Chunking(size=2000),
        statistics=world_model.statistics,
        model=monitored(world_model),
    )
    reference = world_model.reference.metrics["accuracy"].mean
    for chunk in timeline.chunks:
        assert chunk.drifted_features == ["noise"]
        assert chunk.alerting_metrics == []
        point = chunk.performance["accuracy"]
        assert point.lower <= reference <= point.upper
    assert {a["feature"] for a in timeline.drift_alerts} == {"noise"}
    assert timeline.performance_alerts == []


def test_estimated_roc_auc_is_within_its_band_of_the_realized_one(
    world_model: WorldModel,
) -> None:
    rows = make_world(10_000, 13)
    logged = world_model.serve(rows)
    timeline = build_timeline(
        logged,
        chunking=Chunking(size=2000),
        statistics=world_model.statistics,
        model=monitored(world_model),
        labels=labels_of(rows, logged),
    )
    assert len(timeline.chunks) == 5
    for chunk in timeline.chunks:
        point = chunk.performance["roc_auc"]
        assert point.lower < point.realized < point.upper
        assert point.lower < point.estimated < point.upper


def test_chunks_by_day_follow_the_timestamps_in_any_file_order(
    world_model: WorldModel, tmp_path: Path
) -> None:
    rows = make_world(3000, 14)
    logged = world_model.serve(rows)
    days = np.repeat(pd.to_datetime(["2024-05-01", "2024-05-02", "2024-05-03"]), 1000)
    logged["received_at"] = (
        days + pd.to_timedelta(np.arange(3000) % 1000, "s")
    ).tz_localize("UTC")
    # Files whose rows interleave the days: chunking may not rely on read order.
    shuffled = logged.sample(frac=1.0, random_state=0).reset_index(drop=True)
    folder = tmp_path / "log"
    folder.mkdir()
    for part in range(4):
        shuffled.iloc[part::4].to_parquet(folder / f"batch-{part}.parquet")
    timeline = build_timeline(
        str(folder),
        chunking=Chunking(period="1D"),
        statistics=world_model.statistics,
        model=monitored(world_model),
        batch_rows=300,
    )
    assert [chunk.rows for chunk in timeline.chunks] == [1000, 1000, 1000]
    assert [chunk.start for chunk in timeline.chunks] == [
        "2024-05-01T00:00:00+00:00",
        "2024-05-02T00:00:00+00:00",
        "2024-05-03T00:00:00+00:00",
    ]
    assert timeline.chunks[0].end == "2024-05-02T00:00:00+00:00"
    by_size = build_timeline(
        logged.iloc[:1000],
        chunking=Chunking(size=1000),
        statistics=world_model.statistics,
        model=monitored(world_model),
    )
    # The first day's rows give the same estimate whichever way they were cut.
    assert timeline.chunks[0].performance["accuracy"].estimated == pytest.approx(
        by_size.chunks[0].performance["accuracy"].estimated
    )


def test_labels_joined_late_fill_in_the_realized_metrics(
    world_model: WorldModel,
) -> None:
    rows = make_world(3000, 15)
    logged = world_model.serve(rows)
    every = labels_of(rows, logged)
    early = build_timeline(
        logged,
        chunking=Chunking(size=1000),
        statistics=world_model.statistics,
        model=monitored(world_model),
        labels=every.iloc[:1000],
    )
    assert [c.labelled_rows for c in early.chunks] == [1000, 0, 0]
    assert early.chunks[0].performance["accuracy"].realized is not None
    assert early.chunks[1].performance["accuracy"].realized is None
    late = build_timeline(
        logged,
        chunking=Chunking(size=1000),
        statistics=world_model.statistics,
        model=monitored(world_model),
        labels=every.sample(frac=1.0, random_state=1),
    )
    assert [c.labelled_rows for c in late.chunks] == [1000, 1000, 1000]
    for before, after in zip(early.chunks, late.chunks, strict=True):
        # Labels change what was realized, never what was estimated.
        assert after.performance["accuracy"].estimated == pytest.approx(
            before.performance["accuracy"].estimated
        )
    truth = (logged["prediction"] == rows["label"]).to_numpy()
    assert late.chunks[2].performance["accuracy"].realized == pytest.approx(
        truth[2000:].mean()
    )


def test_without_logged_probabilities_the_model_scores_the_rows(
    world_model: WorldModel, tmp_path: Path
) -> None:
    save_model(world_model.trained, tmp_path / "model")
    logged = world_model.serve(make_world(2000, 16))
    plain = logged.drop(columns=["proba_no", "proba_yes"])
    kwargs = {"chunking": Chunking(size=1000), "statistics": world_model.statistics}
    scored = build_timeline(
        plain, model=monitored(world_model, tmp_path / "model"), **kwargs
    )
    from_log = build_timeline(logged, model=monitored(world_model), **kwargs)
    assert "the model's scores" in scored.note
    for ours, theirs in zip(scored.chunks, from_log.chunks, strict=True):
        for name, point in theirs.performance.items():
            assert ours.performance[name].estimated == pytest.approx(point.estimated)
    unscored = build_timeline(plain, model=monitored(world_model), **kwargs)
    assert not unscored.estimated and "not at hand" in unscored.note
    assert unscored.chunks[0].performance["accuracy"].estimated is None


def test_regression_estimates_nothing_and_says_so(penguins: pd.DataFrame) -> None:
    from mlops_suite.data.statistics import compute_statistics
    from mlops_suite.monitoring.performance_reference import fit_reference
    from mlops_suite.training.train import train_model

    data = penguins.dropna(subset=["body_mass_g"]).reset_index(drop=True)
    trained = train_model(data, "body_mass_g")
    reference, calibrator = fit_reference(trained.pipeline, trained.metadata, data)
    assert calibrator is None and reference.task == "regression"
    logged = data.drop(columns=["body_mass_g"])
    logged["request_id"] = [f"r{i}" for i in range(len(logged))]
    logged["prediction"] = data["body_mass_g"] + 100.0
    model = MonitoredModel(
        metadata=trained.metadata, name="mass v1", reference=reference
    )
    timeline = build_timeline(
        logged,
        chunking=Chunking(size=200),
        statistics=compute_statistics(data.drop(columns=["body_mass_g"])),
        model=model,
        labels=pd.DataFrame(
            {"request_id": logged["request_id"], "label": data["body_mass_g"]}
        ),
    )
    assert not timeline.estimated
    assert "not estimated for regression" in timeline.note
    point = timeline.chunks[0].performance["mae"]
    assert point.estimated is None and point.realized == pytest.approx(100.0)
    assert "not estimated for regression" in timeline.summary()


def test_without_a_model_only_drift_is_measured(world_model: WorldModel) -> None:
    timeline = build_timeline(
        world_model.serve(make_world(1000, 17)),
        chunking=Chunking(size=500),
        statistics=world_model.statistics,
        features=["x1", "x2", "noise"],
    )
    assert len(timeline.chunks) == 2
    assert timeline.chunks[0].performance == {}
    assert set(timeline.chunks[0].drift) == {"x1", "x2", "noise"}
    payload = timeline.to_dict()
    assert set(payload["chunks"][0]["drift"]["x1"]) >= {"score", "threshold", "drifted"}


@pytest.mark.parametrize(
    ("chunking", "fragment"),
    [
        ({}, "exactly one"),
        ({"size": 10, "period": "1D"}, "exactly one"),
        ({"size": 0}, "--chunk-size is 0"),
        ({"period": "fortnight"}, "--chunk-period is 'fortnight'"),
    ],
)
def test_bad_chunking_is_refused(chunking: dict, fragment: str) -> None:
    with pytest.raises(MlopsError, match=fragment):
        Chunking(**chunking)


def test_rows_without_a_time_stop_a_chunking_by_period(world_model: WorldModel) -> None:
    logged = world_model.serve(make_world(10, 18))
    logged["received_at"] = ["2024-05-01T10:00:00Z"] * 9 + ["soon"]
    with pytest.raises(DataError, match=r"1 row\(s\) without a readable time"):
        build_timeline(
            logged,
            chunking=Chunking(period="1D"),
            statistics=world_model.statistics,
            model=monitored(world_model),
        )
    with pytest.raises(DataError, match="no column 'when'"):
        build_timeline(
            logged,
            chunking=Chunking(period="1D", timestamp_column="when"),
            statistics=world_model.statistics,
        )


def test_calendar_and_fixed_periods_start_where_people_expect() -> None:
    times = pd.Series(
        pd.to_datetime(["2024-05-01 23:59", "2024-05-06 00:01", "2024-06-01 08:00"])
    )
    batch = {"received_at": pa.array(times)}
    for period, starts in {
        "W": ["2024-04-29", "2024-05-06", "2024-05-27"],  # Mondays
        "M": ["2024-05-01", "2024-05-01", "2024-06-01"],
        "6h": ["2024-05-01", "2024-05-06", "2024-06-01"],
    }.items():
        chunking = Chunking(period=period)
        keys = chunking.keys(batch, 0, "log")
        found = [chunking.bounds(int(key), 0, 0)[0][:10] for key in keys]
        assert found == starts, period
    start, end = Chunking(period="6h").bounds(
        int(Chunking(period="6h").keys(batch, 0, "")[2]), 0, 0
    )
    assert (start, end) == ("2024-06-01T06:00:00+00:00", "2024-06-01T12:00:00+00:00")


def test_a_model_registered_without_a_calibrator_is_not_estimated(
    world_model: WorldModel,
) -> None:
    model = MonitoredModel(metadata=world_model.trained.metadata, name="old v1")
    timeline = build_timeline(
        world_model.serve(make_world(500, 19)),
        chunking=Chunking(size=500),
        statistics=world_model.statistics,
        model=model,
    )
    assert not timeline.estimated
    assert "registered without a calibrator" in timeline.note
    assert timeline.chunks[0].performance["accuracy"].estimated is None


def test_a_logged_prediction_the_model_cannot_make_is_named(
    world_model: WorldModel,
) -> None:
    logged = world_model.serve(make_world(20, 20))
    logged.loc[3, "prediction"] = "perhaps"
    with pytest.raises(DataError, match="holds 'perhaps', which is not one of"):
        build_timeline(
            logged,
            chunking=Chunking(size=10),
            statistics=world_model.statistics,
            model=monitored(world_model),
        )


def test_the_thresholds_file_sets_performance_thresholds_and_leaves_columns_out(
    world_model: WorldModel,
) -> None:
    rows = make_world(2000, 17, ignored_shift=1.0)
    timeline = build_timeline(
        world_model.serve(rows),
        chunking=Chunking(size=2000),
        statistics=world_model.statistics,
        model=monitored(world_model),
        thresholds={"ignore_features": ["noise"], "performance": {"accuracy": 0.95}},
    )
    (chunk,) = timeline.chunks
    assert list(chunk.drift) == ["x1", "x2"]
    accuracy = chunk.performance["accuracy"]
    assert accuracy.threshold == 0.95 and accuracy.alert
    assert not chunk.performance["roc_auc"].alert  # its threshold is the reference's

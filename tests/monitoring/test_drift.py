"""detect_drift: the right features are flagged, and bad inputs fail clearly."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlops_suite.data.statistics import compute_statistics
from mlops_suite.errors import DataError, MlopsError
from mlops_suite.monitoring import DriftReport, detect_drift, distribution_distance

ROWS = 20_000


@pytest.fixture(scope="module")
def reference(table) -> pd.DataFrame:
    return table(ROWS, seed=1)


def test_exactly_the_drifted_features_are_flagged(
    reference, write_parquet, table, drifted
):
    current = write_parquet(table(ROWS, seed=2, drift=True), "current.parquet")

    report = detect_drift(compute_statistics(reference), current)

    assert report.drifted
    assert report.drifted_features == drifted
    assert report.features["income"].reasons == ("distance",)
    assert report.features["color"].metric == "linf"
    # L-infinity is the largest change of one value's share: here 0.2.
    assert report.features["color"].score == pytest.approx(0.2, abs=0.02)


def test_unchanged_data_flags_nothing_and_records_every_score(
    reference, write_parquet, table
):
    current = write_parquet(table(ROWS, seed=2), "current.parquet")

    result = detect_drift(compute_statistics(reference), current).to_dict()

    assert result["drifted"] is False
    assert result["drifted_features"] == []
    assert list(result["features"]) == list(reference.columns)
    for entry in result["features"].values():
        assert 0.0 <= entry["score"] < entry["threshold"] / 2
        assert entry["drifted"] is False
    assert result["rows_reference"] == ROWS
    assert result["rows_current"] == ROWS
    assert result["features"]["wait"]["missing_rate_reference"] == pytest.approx(
        0.02, abs=0.005
    )
    assert result["features"]["color"]["unseen_share"] == 0.0
    assert result["features"]["income"]["unseen_share"] is None
    json.dumps(result)  # the report is stored as a JSON artifact


def test_a_new_category_is_flagged_as_unseen(reference, table):
    current = table(5_000, seed=3)
    new = np.random.default_rng(0).random(len(current)) < 0.15
    current.loc[new, "city"] = "Cannes"

    city = detect_drift(reference, current).features["city"]

    assert city.drifted
    assert "unseen_share" in city.reasons
    assert city.unseen_share == pytest.approx(new.mean())
    assert "Cannes" in (city.categories or ())


def test_a_small_unseen_share_alone_is_flagged(reference, table):
    current = table(5_000, seed=3)
    current.loc[: int(0.08 * len(current)), "city"] = "Cannes"

    city = detect_drift(reference, current).features["city"]

    # An 8 % new value moves no share by 0.1, but the model never saw it.
    assert city.score < city.threshold
    assert city.reasons == ("unseen_share",)


def test_a_feature_that_becomes_mostly_missing_is_flagged(reference, table):
    current = table(5_000, seed=3)
    current.loc[current.index[: int(0.8 * len(current))], "score"] = np.nan

    score = detect_drift(reference, current).features["score"]

    assert score.drifted
    assert "missing_rate" in score.reasons
    assert score.missing_rate_reference == 0.0
    assert score.missing_rate_current == pytest.approx(0.8, abs=0.001)
    # The values left follow the reference: only the missing rate moved.
    assert score.score < score.threshold


def test_a_missing_column_names_the_column_and_the_file(
    reference, write_parquet, table
):
    current = write_parquet(table(1_000, seed=2).drop(columns="city"), "batch.parquet")

    with pytest.raises(DataError, match="'city'") as error:
        detect_drift(compute_statistics(reference), current)

    assert str(current) in str(error.value)
    assert "missing" in str(error.value)


def test_a_type_change_names_the_column_and_the_file(reference, write_parquet, table):
    frame = table(1_000, seed=2)
    frame["income"] = frame["income"].round().astype(int).astype(str)
    current = write_parquet(frame, "batch.parquet")

    with pytest.raises(DataError, match="'income' is numeric") as error:
        detect_drift(reference, current)

    assert "text" in str(error.value)
    assert str(current) in str(error.value)


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_a_raw_reference_file_decides_like_its_statistics(
    reference, write_parquet, tmp_path, kind, table, drifted
):
    current = write_parquet(table(5_000, seed=2, drift=True), "current.parquet")
    if kind == "parquet":
        raw = write_parquet(reference, "reference.parquet")
    else:
        raw = tmp_path / "reference.csv"
        reference.to_csv(raw, index=False)

    from_statistics = detect_drift(compute_statistics(reference), current)
    from_file = detect_drift(raw, current)

    assert from_file.drifted_features == from_statistics.drifted_features == drifted
    assert from_file.rows_reference == ROWS
    for name, result in from_statistics.features.items():
        other = from_file.features[name]
        assert other.drifted == result.drifted
        assert other.score == pytest.approx(result.score, abs=1e-9)
        assert other.missing_rate_reference == pytest.approx(
            result.missing_rate_reference
        )


def test_a_folder_of_batch_files_equals_one_file(
    reference, write_parquet, tmp_path, table
):
    current = table(9_000, seed=2, drift=True)
    whole = write_parquet(current, "whole.parquet")
    for number, rows in enumerate(np.array_split(np.arange(len(current)), 4)):
        write_parquet(
            current.iloc[rows], f"batches/date=2024-0{number + 1}/part.parquet"
        )
    # What a sink leaves next to its batches must not be read as data.
    (tmp_path / "batches" / "_SUCCESS").write_text("")
    (tmp_path / "batches" / ".part-5.parquet.tmp").write_text("partial")

    statistics = compute_statistics(reference)
    one = detect_drift(statistics, whole).to_dict()
    many = detect_drift(statistics, tmp_path / "batches").to_dict()

    assert many["features"] == one["features"]
    assert many["rows_current"] == one["rows_current"] == 9_000


def test_tiny_batches_give_the_one_shot_result(reference, write_parquet, table):
    raw = write_parquet(reference.iloc[:6_000], "reference.parquet")
    current = write_parquet(table(4_000, seed=2, drift=True), "current.parquet")

    one_shot = detect_drift(raw, current, batch_rows=1_000_000).to_dict()
    batched = detect_drift(raw, current, batch_rows=37).to_dict()

    assert batched == one_shot


def test_prediction_drift_is_reported_apart_from_features(write_parquet, table):
    reference = table(5_000, seed=1, prediction=True)
    current = write_parquet(
        table(5_000, seed=2, prediction=True, drift=True), "current.parquet"
    )

    report = detect_drift(compute_statistics(reference), current)

    assert "prediction" not in report.features
    assert report.prediction is not None
    assert report.prediction.drifted
    assert report.prediction.score == pytest.approx(0.3, abs=0.03)
    assert report.to_dict()["prediction_drifted"] is True


def test_predictions_compare_with_the_training_label(table):
    training = table(5_000, seed=1)
    training["label"] = np.where(training["income"] > 50_000, "yes", "no")
    serving = table(5_000, seed=2).assign(prediction="yes")

    report = detect_drift(
        training,
        serving,
        features=["income", "city"],
        reference_prediction_column="label",
    )

    assert list(report.features) == ["income", "city"]
    assert report.prediction is not None
    assert report.prediction.name == "prediction"
    assert report.prediction.score == pytest.approx(0.5, abs=0.03)


def test_no_prediction_column_means_no_prediction_drift(reference, table):
    report = detect_drift(reference, table(2_000, seed=2))

    assert report.prediction is None
    assert report.to_dict()["prediction"] is None


def test_label_only_in_the_reference_needs_features(reference, table):
    training = reference.assign(label="yes")
    serving = table(2_000, seed=2)

    with pytest.raises(DataError, match="'label'.*features="):
        detect_drift(training, serving)
    report = detect_drift(training, serving, features=list(reference.columns))
    assert not report.drifted


def test_psi_flags_the_shift_like_jensen_shannon(reference, table, drifted):
    current = table(5_000, seed=2, drift=True)

    report = detect_drift(reference, current, numeric_metric="psi")

    assert report.drifted_features == drifted
    assert report.features["income"].metric == "psi"
    assert report.features["income"].score > 0.15


def test_the_report_survives_a_json_round_trip(reference, table):
    report = detect_drift(reference, table(3_000, seed=2, drift=True))

    again = DriftReport.from_dict(json.loads(json.dumps(report.to_dict())))

    assert again.to_dict() == report.to_dict()


def test_values_outside_the_reference_range_count_as_drift(reference, table):
    current = table(3_000, seed=2)
    current["score"] = current["score"] + 1_000

    score = detect_drift(reference, current).features["score"]

    assert score.out_of_range_share == 1.0
    assert score.score == pytest.approx(1.0)
    assert score.drifted


def test_empty_current_data_is_refused(reference, write_parquet, table):
    empty = write_parquet(table(10, seed=2).iloc[:0], "empty.parquet")

    with pytest.raises(DataError, match="0 rows"):
        detect_drift(reference, empty)


@pytest.mark.parametrize(
    ("option", "value"),
    [("numeric_metric", "linf"), ("categorical_metric", "ks"), ("batch_rows", 0)],
)
def test_bad_options_are_refused(reference, option, value):
    with pytest.raises(MlopsError, match=option):
        detect_drift(reference, reference, **{option: value})


def test_a_nonexistent_path_is_a_clear_error(reference, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        detect_drift(reference, tmp_path / "nowhere.parquet")


def test_distances_of_known_distributions():
    assert distribution_distance("linf", [5, 5], [7, 3]) == pytest.approx(0.2)
    assert distribution_distance("jensenshannon", [1, 0], [0, 1]) == pytest.approx(1)
    assert distribution_distance("jensenshannon", [2, 2], [1, 1]) == 0.0


def test_the_jensen_shannon_distance_is_scipys() -> None:
    from scipy.spatial.distance import jensenshannon

    rng = np.random.default_rng(0)
    for size in (2, 12, 40):
        for _ in range(50):
            p = rng.integers(0, 1_000, size) * (rng.random(size) < 0.8)
            q = rng.integers(0, 1_000, size) * (rng.random(size) < 0.8)
            if p.sum() == 0 or q.sum() == 0:
                continue
            expected = jensenshannon(p / p.sum(), q / q.sum(), base=2)
            assert distribution_distance("jensenshannon", p, q) == pytest.approx(
                expected, rel=1e-9, abs=1e-12
            )
    assert distribution_distance("psi", [1, 1], [1, 1]) == 0.0
    assert distribution_distance("psi", [0.5, 0.5], [0.7, 0.3]) == pytest.approx(
        0.2 * np.log(1.4) - 0.2 * np.log(0.6)
    )
    assert distribution_distance("linf", [0, 0], [1, 1]) == 0.0


def test_a_statistics_json_file_is_a_reference(reference, table, tmp_path):
    path = tmp_path / "statistics.json"
    path.write_text(json.dumps(compute_statistics(reference)))
    current = table(3_000, seed=2, drift=True)

    from_file = detect_drift(path, current)

    assert (
        from_file.to_dict()["features"]
        == (detect_drift(compute_statistics(reference), current).to_dict()["features"])
    )
    assert str(path) in from_file.reference


def test_malformed_statistics_are_a_clear_error(table):
    with pytest.raises(DataError, match="statistics.json format"):
        detect_drift({"statistics": {}}, table(100, seed=1))

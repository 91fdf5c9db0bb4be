"""Thresholds: defaults, per-feature overrides from a dict or a JSON file, columns
left out, performance thresholds."""

from __future__ import annotations

import json

import pytest

from mlops_suite.errors import MlopsError
from mlops_suite.monitoring import DEFAULT_THRESHOLDS, detect_drift, load_thresholds
from mlops_suite.monitoring.thresholds import (
    parse_performance_thresholds,
    split_names,
)


@pytest.fixture(scope="module")
def frames(table):
    return table(5_000, seed=1), table(5_000, seed=2, drift=True)


def test_defaults_are_recorded_per_metric(frames):
    report = detect_drift(*frames)

    income, color = report.features["income"], report.features["color"]
    assert income.threshold == DEFAULT_THRESHOLDS["jensenshannon"]
    assert color.threshold == DEFAULT_THRESHOLDS["linf"]
    assert color.missing_rate_threshold == DEFAULT_THRESHOLDS["missing_rate"]
    assert color.unseen_threshold == DEFAULT_THRESHOLDS["unseen_share"]


def test_a_feature_threshold_changes_only_that_feature(frames):
    report = detect_drift(*frames, thresholds={"features": {"income": 0.5}})

    assert report.features["income"].threshold == 0.5
    assert not report.features["income"].drifted
    assert report.drifted_features == ["color"]


def test_a_default_override_applies_to_every_feature_of_that_metric(frames):
    report = detect_drift(*frames, thresholds={"default": {"linf": 0.5}})

    assert report.drifted_features == ["income"]
    assert {report.features[name].threshold for name in ("color", "member")} == {0.5}
    assert report.features["income"].threshold == DEFAULT_THRESHOLDS["jensenshannon"]


def test_thresholds_from_a_json_file(frames, tmp_path):
    path = tmp_path / "thresholds.json"
    path.write_text(
        json.dumps(
            {
                "default": {"jensenshannon": 0.3},
                "features": {"color": {"threshold": 0.5, "missing_rate": 0.01}},
            }
        )
    )

    report = detect_drift(*frames, thresholds=path)

    assert report.features["score"].threshold == 0.3
    assert report.features["color"].threshold == 0.5
    assert report.features["color"].missing_rate_threshold == 0.01
    assert report.drifted_features == []


def test_an_override_for_a_feature_not_compared_is_refused(frames):
    with pytest.raises(MlopsError, match="'incme'.*not compared"):
        detect_drift(*frames, thresholds={"features": {"incme": 0.2}})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"defaults": {}}, "unknown key 'defaults'"),
        ({"default": {"ks": 0.1}}, "unknown key 'ks'"),
        ({"default": {"psi": -1}}, "greater than or equal to 0"),
        ({"features": {"income": "high"}}, "'high'"),
        ({"features": {"income": {"linf": True}}}, "True"),
        ({"ignore_features": "year"}, "'ignore_features' is 'year'"),
        ({"performance": {"accuracy": 1.5}}, "'accuracy' is 1.5.*between 0 and 1"),
        ({"performance": {"precision": 0.9}}, "unknown metric 'precision'"),
        ({"min_importance": 2}, "'min_importance' is 2"),
    ],
)
def test_malformed_thresholds_are_one_clear_sentence(spec, message):
    with pytest.raises(MlopsError, match=message):
        load_thresholds(spec)


def test_an_unreadable_thresholds_file_names_the_file(tmp_path):
    path = tmp_path / "thresholds.json"
    path.write_text("{not json")

    with pytest.raises(MlopsError, match="thresholds.json"):
        load_thresholds(path)


def test_ignored_features_are_not_compared(frames):
    report = detect_drift(
        *frames,
        thresholds={"ignore_features": ["income"], "features": {"income": 0.3}},
    )
    assert "income" not in report.features and report.ignored == ("income",)
    assert report.drifted_features == ["color"]
    assert report.to_dict()["ignored_features"] == ["income"]
    # Named through the argument too, added to those of the file.
    limits = load_thresholds({"ignore_features": ["income"]}).with_settings(
        ignore=["color", "not-a-column"]
    )
    assert detect_drift(*frames, thresholds=limits).drifted_features == []
    with pytest.raises(MlopsError, match="no feature to compare"):
        detect_drift(*frames, features=["income"], thresholds=limits)


def test_performance_thresholds_from_the_file_and_the_argument():
    limits = load_thresholds({"performance": {"accuracy": 0.8, "rmse": 12}})
    assert limits.performance == {"accuracy": 0.8, "rmse": 12.0}
    given = parse_performance_thresholds('{"accuracy": 0.9}')
    assert limits.with_settings(performance=given).performance == {
        "accuracy": 0.9,
        "rmse": 12.0,
    }
    assert parse_performance_thresholds("") == {}
    with pytest.raises(MlopsError, match="not valid JSON"):
        parse_performance_thresholds("{accuracy")
    assert split_names(" year, id ,") == ["year", "id"]

"""Thresholds: defaults, per-feature overrides from a dict or a JSON file."""

from __future__ import annotations

import json

import pytest

from mlops_suite.errors import MlopsError
from mlops_suite.monitoring import DEFAULT_THRESHOLDS, detect_drift, load_thresholds


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

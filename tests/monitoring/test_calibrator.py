"""The calibrator of class probabilities: isotonic maps as JSON, or the identity."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from mlops_suite.errors import DataError
from mlops_suite.monitoring.calibrator import (
    IDENTITY,
    ISOTONIC,
    Calibrator,
    fit_calibrator,
)


def overconfident(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Binary scores whose true chance is much milder than the score says."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0.2, 0.8, rows)
    y = (rng.random(rows) < truth).astype(int)
    score = np.clip(0.5 + 2.5 * (truth - 0.5), 0, 1)
    return np.column_stack([1 - score, score]), y


def test_isotonic_maps_calibrate_exactly_as_scikit_learn() -> None:
    proba, y = overconfident(4000, 0)
    calibrator = fit_calibrator(proba, y, ["no", "yes"])
    assert calibrator.method == ISOTONIC
    reference = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip")
    reference.fit(proba[:, 1], y)
    # Scores beyond the fitted range are clipped to its ends, as scikit-learn does.
    score = np.linspace(-0.1, 1.1, 500)
    fresh = np.column_stack([1 - score, score])
    ours = calibrator.calibrate(fresh)
    np.testing.assert_allclose(ours[:, 1], reference.predict(fresh[:, 1]), atol=1e-12)
    np.testing.assert_allclose(ours.sum(axis=1), 1.0)


def test_calibration_makes_overconfident_scores_honest() -> None:
    proba, y = overconfident(4000, 1)
    calibrator = fit_calibrator(proba, y, [0, 1])
    unseen, truth = overconfident(20_000, 2)
    calibrated = calibrator.calibrate(unseen)[:, 1]
    confident = calibrated > 0.7
    # Among rows the calibrated score calls >70 % likely, about that share are 1.
    assert truth[confident].mean() == pytest.approx(
        calibrated[confident].mean(), abs=0.02
    )
    raw = unseen[:, 1] > 0.9
    assert truth[raw].mean() < 0.85  # the raw score overstated it


def test_already_calibrated_scores_keep_the_identity() -> None:
    rng = np.random.default_rng(3)
    score = rng.uniform(0, 1, 3000)
    y = (rng.random(3000) < score).astype(int)
    calibrator = fit_calibrator(np.column_stack([1 - score, score]), y, [0, 1])
    assert calibrator.method == IDENTITY
    assert calibrator.maps == ()


def test_too_few_rows_of_a_class_keep_the_identity() -> None:
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]])
    calibrator = fit_calibrator(proba, np.array([0, 0, 1]), ["a", "b"])
    assert calibrator.method == IDENTITY
    np.testing.assert_array_equal(calibrator.calibrate(proba), proba)


def test_multiclass_rows_sum_to_one_and_survive_json() -> None:
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(3000, 3)) * 3
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    # The truth follows much softer probabilities than the scores.
    soft = np.exp(logits / 3) / np.exp(logits / 3).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in soft])
    calibrator = fit_calibrator(proba, y, ["a", "b", "c"])
    assert calibrator.method == ISOTONIC and len(calibrator.maps) == 3
    again = Calibrator.from_dict(json.loads(json.dumps(calibrator.to_dict())))
    np.testing.assert_array_equal(again.calibrate(proba), calibrator.calibrate(proba))
    np.testing.assert_allclose(again.calibrate(proba).sum(axis=1), 1.0)


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"format": 99}, "format 1"),
        ({"format": 1, "method": "platt", "classes": [0, 1], "maps": []}, "method"),
        ({"format": 1, "method": "isotonic", "classes": [0, 1], "maps": []}, "0 maps"),
        (
            {
                "format": 1,
                "method": "isotonic",
                "classes": [0, 1],
                "maps": [{"x": [0.5, 0.1], "y": [0, 1]}],
            },
            "increasing",
        ),
    ],
)
def test_a_malformed_file_is_refused_with_its_name(
    payload: dict, fragment: str
) -> None:
    with pytest.raises(DataError, match=fragment) as caught:
        Calibrator.from_dict(payload, "v3/calibration.json")
    assert "v3/calibration.json" in str(caught.value)

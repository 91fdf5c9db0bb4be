"""CBPE: expected accuracy, macro F1 and ROC AUC from calibrated probabilities."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from mlops_suite.evaluation.metrics import ovr_roc_auc
from mlops_suite.monitoring.estimation import (
    ExpectedConfusion,
    estimate_performance,
    score_bins,
)


def calibrated_binary(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores that are the true chance of class 1, and labels drawn from them."""
    rng = np.random.default_rng(seed)
    score = rng.beta(2, 2, rows)
    y = (rng.random(rows) < score).astype(int)
    return np.column_stack([1 - score, score]), y


def test_estimates_match_realized_metrics_on_calibrated_scores() -> None:
    proba, y = calibrated_binary(200_000, 0)
    predicted = proba.argmax(axis=1)
    estimated = estimate_performance(proba, proba, predicted)
    assert estimated["accuracy"] == pytest.approx(
        accuracy_score(y, predicted), abs=0.005
    )
    assert estimated["f1_macro"] == pytest.approx(
        f1_score(y, predicted, average="macro"), abs=0.005
    )
    assert estimated["roc_auc"] == pytest.approx(
        roc_auc_score(y, proba[:, 1]), abs=0.005
    )


def test_binned_auc_equals_the_exact_expected_auc() -> None:
    proba, _ = calibrated_binary(50_000, 1)
    score = proba[:, 1]
    # The exact expected ROC curve: rows sorted by score, p of a positive each.
    order = np.argsort(score)[::-1]
    positives = np.r_[0, np.cumsum(score[order])]
    negatives = np.r_[0, np.cumsum(1 - score[order])]
    exact = np.trapezoid(positives / positives[-1], negatives / negatives[-1])
    estimated = estimate_performance(proba, proba, proba.argmax(axis=1))["roc_auc"]
    assert estimated == pytest.approx(exact, abs=1e-4)


def test_tallies_add_up_in_any_grouping() -> None:
    proba, _ = calibrated_binary(10_000, 2)
    predicted = proba.argmax(axis=1)
    whole = ExpectedConfusion(2)
    whole.add(proba, proba, predicted)
    first, second = ExpectedConfusion(2), ExpectedConfusion(2)
    order = np.random.default_rng(0).permutation(10_000)
    first.add(proba[order[:3000]], proba[order[:3000]], predicted[order[:3000]])
    second.add(proba[order[3000:]], proba[order[3000:]], predicted[order[3000:]])
    first.merge(second)
    for name, value in whole.estimates().items():
        assert first.estimates()[name] == pytest.approx(value, abs=1e-12)


def test_multiclass_estimates_follow_the_one_vs_rest_definitions() -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(100_000, 3)) * 1.5
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = (rng.random(100_000)[:, None] > np.cumsum(proba, axis=1)).sum(axis=1)
    predicted = proba.argmax(axis=1)
    estimated = estimate_performance(proba, proba, predicted)
    assert estimated["accuracy"] == pytest.approx(
        accuracy_score(y, predicted), abs=0.006
    )
    assert estimated["f1_macro"] == pytest.approx(
        f1_score(y, predicted, average="macro"), abs=0.006
    )
    assert estimated["roc_auc"] == pytest.approx(ovr_roc_auc(y, proba), abs=0.006)


def test_an_empty_or_one_sided_chunk_estimates_nothing_it_cannot() -> None:
    empty = ExpectedConfusion(2)
    assert empty.estimates() == {"accuracy": None, "f1_macro": None, "roc_auc": None}
    certain = np.array([[0.0, 1.0], [0.0, 1.0]])
    estimated = estimate_performance(certain, certain, np.array([1, 1]))
    assert estimated["accuracy"] == 1.0 and estimated["roc_auc"] is None


def test_score_bins_keep_the_order_of_scores() -> None:
    scores = np.array([0.0, 1e-9, 0.01, 0.4999, 0.5, 0.5001, 0.99, 1.0])
    bins = score_bins(scores)
    assert np.all(np.diff(bins) >= 0)
    assert bins[3] < bins[5] and bins[0] == 0 and bins[-1] == 4095

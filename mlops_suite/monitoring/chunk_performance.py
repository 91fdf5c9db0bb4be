"""One chunk's performance: the estimate with its band, the realized value, the alert.

:func:`judge_performance` turns a chunk's tallies into one
:class:`~.timeline_result.MetricPoint` per monitored metric. The estimate comes from
the chunk's expected confusion (:mod:`.estimation`), its band and threshold from the
performance reference (:mod:`.performance_reference`), scaled to the rows the
estimate stands on. Realized metrics are computed on the chunk's labelled rows by
the evaluation stage's own functions, so they compare like with like with the
numbers recorded at approval; a realized value alerts only when at least
:data:`MIN_LABELLED_ROWS` rows carry it, against the threshold for that many rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlops_suite.artifacts import CLASSIFICATION
from mlops_suite.evaluation.metrics import (
    Metrics,
    accuracy_and_f1,
    ovr_roc_auc,
    regression_metrics,
)
from mlops_suite.monitoring.estimation import ExpectedConfusion
from mlops_suite.monitoring.performance_reference import (
    MONITORED,
    SIGMAS,
    PerformanceReference,
)
from mlops_suite.monitoring.timeline_result import MetricPoint
from mlops_suite.tasks import HIGHER_IS_BETTER

# Fewest labelled rows whose realized metric may raise an alert (as decay requires).
MIN_LABELLED_ROWS = 30
# Metrics bounded to [0, 1], whose band is clipped there.
_UNIT_INTERVAL = ("accuracy", "f1_macro", "roc_auc")


def judge_performance(
    task: str | None,
    reference: PerformanceReference | None,
    expected: ExpectedConfusion | None,
    scored_rows: int,
    truth: Sequence[np.ndarray],
    predicted: Sequence[np.ndarray],
    scores: Sequence[np.ndarray],
    *,
    estimated: bool,
) -> dict[str, MetricPoint]:
    """Every monitored metric of one chunk.

    Args:
        task: ``classification`` or ``regression``; None when no model is known.
        reference: The model's performance reference, if registered with one.
        expected: The chunk's expected confusion (classification, when estimated).
        scored_rows: Rows the estimate stands on.
        truth: The labelled rows' true classes (as indices) or values, in pieces.
        predicted: Their predictions, coded as ``truth``.
        scores: Their class probabilities (classification), in pieces; may be
            empty when the log has none.
        estimated: Whether performance is estimated.

    Returns:
        Metric name to its point; empty when no model is known.
    """
    if task is None:
        return {}
    estimates = expected.estimates() if estimated and expected is not None else {}
    realized, labelled = _realized(task, truth, predicted, scores)
    points = {}
    for name in MONITORED[task]:
        higher = HIGHER_IS_BETTER[name]
        estimate = estimates.get(name)
        lower = upper = threshold = None
        if estimate is not None and reference is not None:
            error = reference.sampling_error(name, scored_rows)
            if error is not None:
                lower, upper = estimate - SIGMAS * error, estimate + SIGMAS * error
                if name in _UNIT_INTERVAL:
                    lower, upper = max(lower, 0.0), min(upper, 1.0)
            threshold = reference.threshold(name, scored_rows)
        elif reference is not None and labelled:
            threshold = reference.threshold(name, labelled)
        alert = _past(estimate, threshold, higher)
        value = realized.get(name)
        if (
            value is not None
            and reference is not None
            and labelled >= MIN_LABELLED_ROWS
        ):
            alert = alert or _past(value, reference.threshold(name, labelled), higher)
        points[name] = MetricPoint(
            estimated=estimate,
            lower=lower,
            upper=upper,
            realized=value,
            threshold=threshold,
            alert=alert,
            higher_is_better=higher,
        )
    return points


def _past(value: float | None, threshold: float | None, higher: bool) -> bool:
    if value is None or threshold is None:
        return False
    return value < threshold if higher else value > threshold


def _realized(
    task: str,
    truth: Sequence[np.ndarray],
    predicted: Sequence[np.ndarray],
    scores: Sequence[np.ndarray],
) -> tuple[Metrics, int]:
    """The metrics of the labelled rows, and how many there are."""
    if not truth:
        return {}, 0
    y = np.concatenate(truth)
    guess = np.concatenate(predicted)
    if not len(y):
        return {}, 0
    if task != CLASSIFICATION:
        return regression_metrics(y, guess), len(y)
    metrics = accuracy_and_f1(y, guess)
    if scores and sum(len(piece) for piece in scores) == len(y):
        metrics["roc_auc"] = ovr_roc_auc(y, np.concatenate(scores))
    return metrics, len(y)

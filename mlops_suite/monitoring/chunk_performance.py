"""One chunk's performance: the estimate with its band, the realized value, the alert.

A :class:`PerformanceTally` collects a chunk's rows batch by batch: the expected
confusion the estimate comes from (:mod:`.estimation`) and the labelled rows.
:func:`judge_performance` turns it into one :class:`~.timeline_result.MetricPoint`
per monitored metric. The estimate's band and threshold come from the performance
reference (:mod:`.performance_reference`), scaled to the rows the estimate stands
on, unless the user set the metric's threshold outright. Realized metrics are
computed on the chunk's labelled rows by the evaluation stage's own functions, so
they compare like with like with the numbers recorded at approval; a realized value
alerts only when at least :data:`MIN_LABELLED_ROWS` rows carry it, against the
threshold for that many rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

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
from mlops_suite.monitoring.scoring_plan import ScoredBatch
from mlops_suite.monitoring.timeline_result import MetricPoint
from mlops_suite.tasks import HIGHER_IS_BETTER

# Fewest labelled rows whose realized metric may raise an alert (as decay requires).
MIN_LABELLED_ROWS = 30
# Metrics bounded to [0, 1], whose band is clipped there.
_UNIT_INTERVAL = ("accuracy", "f1_macro", "roc_auc")


@dataclass
class PerformanceTally:
    """What one chunk's rows say of the model: expected confusion, labelled rows.

    Attributes:
        expected: The running expected confusion; None when nothing is estimated.
        scored: Rows the estimate stands on.
        truth: The labelled rows' true classes (as indices) or values, in pieces.
        predicted: Their predictions, coded as ``truth``.
        scores: Their class probabilities (classification), in pieces.
    """

    expected: ExpectedConfusion | None = None
    scored: int = 0
    truth: list[np.ndarray] = field(default_factory=list)
    predicted: list[np.ndarray] = field(default_factory=list)
    scores: list[np.ndarray] = field(default_factory=list)

    @property
    def labelled(self) -> int:
        """Rows whose label was joined."""
        return sum(len(piece) for piece in self.truth)

    def add(self, scored: ScoredBatch, rows: np.ndarray | slice) -> None:
        """Count some rows of a scored batch.

        Args:
            scored: The batch's scores, predictions and labels.
            rows: The rows of the batch that belong to this chunk.
        """
        ok = scored.ok[rows] if scored.ok is not None else None
        if self.expected is not None and scored.scores is not None and ok is not None:
            assert scored.calibrated is not None and scored.predicted is not None
            self.expected.add(
                scored.scores[rows][ok],
                scored.calibrated[rows][ok],
                scored.predicted[rows][ok],
            )
            self.scored += int(ok.sum())
        if scored.truth is None or scored.predicted is None:
            return
        labelled = scored.truth[rows]
        guessed = scored.predicted[rows]
        if np.issubdtype(labelled.dtype, np.integer):  # class indices, -1 unknown
            known = labelled >= 0
        else:
            known = np.isfinite(labelled) & np.isfinite(guessed)
        if ok is not None:
            known &= ok
        if known.any():
            self.truth.append(labelled[known])
            self.predicted.append(guessed[known])
            if scored.scores is not None:
                self.scores.append(scored.scores[rows][known])

    def realized(self, task: str) -> Metrics:
        """The task's metrics on the labelled rows; empty without any."""
        return realized_metrics(task, self.truth, self.predicted, self.scores)


def judge_performance(
    task: str | None,
    reference: PerformanceReference | None,
    tally: PerformanceTally,
    *,
    estimated: bool,
    thresholds: Mapping[str, float] | None = None,
) -> dict[str, MetricPoint]:
    """Every monitored metric of one chunk.

    Args:
        task: ``classification`` or ``regression``; None when no model is known.
        reference: The model's performance reference, if registered with one.
        tally: The chunk's rows.
        estimated: Whether performance is estimated.
        thresholds: Thresholds the user set per metric, in place of the
            reference's.

    Returns:
        Metric name to its point; empty when no model is known.
    """
    if task is None:
        return {}
    expected = tally.expected
    estimates = expected.estimates() if estimated and expected is not None else {}
    realized = tally.realized(task)
    labelled = tally.labelled
    points = {}
    for name in MONITORED[task]:
        higher = HIGHER_IS_BETTER[name]
        estimate = estimates.get(name)
        lower, upper = band(reference, name, estimate, tally.scored)
        threshold = None
        if estimate is not None:
            threshold = metric_threshold(reference, thresholds, name, tally.scored)
        elif labelled:
            threshold = metric_threshold(reference, thresholds, name, labelled)
        alert = is_past(estimate, threshold, higher)
        value = realized.get(name)
        if value is not None and labelled >= MIN_LABELLED_ROWS:
            past = is_past(
                value, metric_threshold(reference, thresholds, name, labelled), higher
            )
            alert = alert or past
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


def metric_threshold(
    reference: PerformanceReference | None,
    thresholds: Mapping[str, float] | None,
    name: str,
    rows: int,
) -> float | None:
    """The value past which ``name`` alerts on ``rows`` rows.

    Args:
        reference: The model's performance reference, or None.
        thresholds: Thresholds the user set per metric, or None.
        name: A monitored metric.
        rows: The rows the value stands on.

    Returns:
        The user's threshold for the metric, else the reference's, else None.
    """
    if thresholds and name in thresholds:
        return float(thresholds[name])
    return reference.threshold(name, rows) if reference is not None else None


def band(
    reference: PerformanceReference | None,
    name: str,
    estimate: float | None,
    rows: int,
) -> tuple[float | None, float | None]:
    """The estimate plus and minus three sampling errors for ``rows`` rows.

    Args:
        reference: The model's performance reference, or None.
        name: A monitored metric.
        estimate: The estimate, or None.
        rows: The rows it stands on.

    Returns:
        ``(lower, upper)``, clipped to [0, 1] for scores of that range; ``(None,
        None)`` without an estimate or a reference spread.
    """
    if estimate is None or reference is None:
        return None, None
    error = reference.sampling_error(name, rows)
    if error is None:
        return None, None
    lower, upper = estimate - SIGMAS * error, estimate + SIGMAS * error
    if name in _UNIT_INTERVAL:
        lower, upper = max(lower, 0.0), min(upper, 1.0)
    return lower, upper


def is_past(value: float | None, threshold: float | None, higher: bool) -> bool:
    """Whether ``value`` is worse than ``threshold`` (below it, or above an error's).

    Args:
        value: The metric's value, or None.
        threshold: Its threshold, or None.
        higher: Whether higher is better.

    Returns:
        False when either is None.
    """
    if value is None or threshold is None:
        return False
    return value < threshold if higher else value > threshold


def realized_metrics(
    task: str,
    truth: Sequence[np.ndarray],
    predicted: Sequence[np.ndarray],
    scores: Sequence[np.ndarray],
) -> Metrics:
    """The metrics of labelled rows, as the evaluation stage computes them.

    Args:
        task: ``classification`` or ``regression``.
        truth: True classes (as indices) or values, in pieces.
        predicted: Predictions, coded as ``truth``.
        scores: Class probabilities of the same rows (classification), in pieces;
            ROC AUC is left out unless every row has them.

    Returns:
        The metrics; empty without rows.
    """
    if not truth:
        return {}
    y = np.concatenate(truth)
    guess = np.concatenate(predicted)
    if not len(y):
        return {}
    if task != CLASSIFICATION:
        return regression_metrics(y, guess)
    metrics = accuracy_and_f1(y, guess)
    if scores and sum(len(piece) for piece in scores) == len(y):
        metrics["roc_auc"] = ovr_roc_auc(y, np.concatenate(scores))
    return metrics

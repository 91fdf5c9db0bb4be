"""The latest window's performance, as the retraining decision judges it.

:func:`check_performance` reads the window once, in batches, and tallies what it
says of the champion (:class:`~.chunk_performance.PerformanceTally`): a classifier's
accuracy, macro F1 and ROC AUC estimated from its calibrated probabilities
(confidence-based performance estimation, :mod:`.estimation`), and, for rows whose
label was joined, the realized metrics. Each is judged against its threshold: the
one the user set, else the one derived from the performance reference recorded at
registration: the lower of the reference mean minus three standard deviations of
its chunks' performance and the approval minimum (:mod:`.performance_reference`).
The deviation is the reference chunks' own, scaled up for a window smaller than a
reference chunk but never down for a larger one: a window of many rows would
otherwise be held to a band narrower than the estimate's calibration error and the
reference's own uncertainty (a near-perfect model, evaluated on a few dozen rows,
would "fall" on unchanged data).

The truth beats an estimate: with at least
:data:`~.chunk_performance.MIN_LABELLED_ROWS` labelled rows and a threshold to judge
them by, the realized metrics are the signal, otherwise the estimates are. A
regressor's performance is not estimated (nothing calibrated to estimate it from):
only realized metrics, when labels are joined.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from mlops_suite.monitoring.chunk_performance import (
    MIN_LABELLED_ROWS,
    PerformanceTally,
    band,
    is_past,
    metric_threshold,
)
from mlops_suite.monitoring.drift import DEFAULT_BATCH_ROWS
from mlops_suite.monitoring.estimation import ExpectedConfusion
from mlops_suite.monitoring.monitored_model import MonitoredModel
from mlops_suite.monitoring.payloads.columns import PREDICTION_COLUMN
from mlops_suite.monitoring.performance_reference import MONITORED
from mlops_suite.monitoring.scoring_plan import ScoringPlan
from mlops_suite.monitoring.sources import open_parts
from mlops_suite.tasks import HIGHER_IS_BETTER

# The signals a performance check gives, as the decision names them.
ESTIMATED = "estimated_performance"
REALIZED = "realized_performance"


@dataclass(frozen=True)
class MetricCheck:
    """One metric on the window: estimated with its band, and realized.

    Attributes:
        name: The metric, e.g. ``accuracy``.
        higher_is_better: Its direction.
        estimated: The estimate on the scored rows; None when not estimated.
        lower: The estimate minus three sampling errors.
        upper: The estimate plus three sampling errors.
        estimated_threshold: The estimate's threshold, for the rows scored.
        realized: The value on the labelled rows; None without labels.
        realized_threshold: The realized value's threshold, for the rows labelled.
    """

    name: str
    higher_is_better: bool
    estimated: float | None = None
    lower: float | None = None
    upper: float | None = None
    estimated_threshold: float | None = None
    realized: float | None = None
    realized_threshold: float | None = None

    @property
    def estimated_alert(self) -> bool:
        """Whether the estimate is past its threshold."""
        return is_past(self.estimated, self.estimated_threshold, self.higher_is_better)

    @property
    def realized_alert(self) -> bool:
        """Whether the realized value is past its threshold."""
        return is_past(self.realized, self.realized_threshold, self.higher_is_better)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "estimated": self.estimated,
            "lower": self.lower,
            "upper": self.upper,
            "estimated_threshold": self.estimated_threshold,
            "estimated_alert": self.estimated_alert,
            "realized": self.realized,
            "realized_threshold": self.realized_threshold,
            "realized_alert": self.realized_alert,
            "higher_is_better": self.higher_is_better,
        }


@dataclass(frozen=True)
class PerformanceCheck:
    """The champion's performance on the window, estimated and realized.

    Attributes:
        task: ``classification`` or ``regression``.
        note: How performance was estimated, or why it was not.
        estimated: Whether performance was estimated.
        scored_rows: Rows the estimates stand on.
        labelled_rows: Rows whose label was joined.
        metrics: Every monitored metric.
        user_thresholds: The metrics whose threshold the user set.
    """

    task: str
    note: str
    estimated: bool
    scored_rows: int
    labelled_rows: int
    metrics: Mapping[str, MetricCheck]
    user_thresholds: tuple[str, ...] = ()

    @property
    def realized_judged(self) -> bool:
        """Whether enough rows are labelled, with a threshold, to judge the truth."""
        return self.labelled_rows >= MIN_LABELLED_ROWS and any(
            m.realized is not None and m.realized_threshold is not None
            for m in self.metrics.values()
        )

    @property
    def estimate_judged(self) -> bool:
        """Whether an estimate has a threshold to be judged against."""
        return any(
            m.estimated is not None and m.estimated_threshold is not None
            for m in self.metrics.values()
        )

    @property
    def signal(self) -> str | None:
        """``realized_performance``, ``estimated_performance``, or None (nothing to
        judge): the truth when there is enough of it, else the estimate."""
        if self.realized_judged:
            return REALIZED
        if self.estimate_judged:
            return ESTIMATED
        return None

    @property
    def fallen(self) -> list[str]:
        """The metrics past their threshold, by the signal."""
        if self.signal == REALIZED:
            return [n for n, m in self.metrics.items() if m.realized_alert]
        if self.signal == ESTIMATED:
            return [n for n, m in self.metrics.items() if m.estimated_alert]
        return []

    @property
    def fell(self) -> bool:
        """Whether performance fell past a threshold."""
        return bool(self.fallen)

    def describe(self) -> str:
        """What the signal says: the fallen metrics, or that performance holds."""
        signal = self.signal
        if signal is None:
            return "performance not judged"
        realized = signal == REALIZED
        kind = "realized" if realized else "estimated"
        judged = [
            m
            for m in self.metrics.values()
            if (m.realized_threshold if realized else m.estimated_threshold) is not None
            and (m.realized if realized else m.estimated) is not None
        ]
        fallen = [m for m in judged if m.name in self.fallen]
        shown = fallen or judged
        text = ", ".join(_describe(m, realized, band=bool(fallen)) for m in shown)
        if fallen:
            return f"{kind} {text}"
        return f"{kind} performance holds ({text})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the signal, what fell, and every metric."""
        return {
            "task": self.task,
            "signal": self.signal,
            "fell": self.fell,
            "fallen": self.fallen,
            "estimated": self.estimated,
            "note": self.note,
            "scored_rows": self.scored_rows,
            "labelled_rows": self.labelled_rows,
            "user_thresholds": list(self.user_thresholds),
            "metrics": {name: m.to_dict() for name, m in self.metrics.items()},
        }


def _describe(metric: MetricCheck, realized: bool, *, band: bool) -> str:
    value = metric.realized if realized else metric.estimated
    threshold = metric.realized_threshold if realized else metric.estimated_threshold
    assert value is not None and threshold is not None
    past = metric.realized_alert if realized else metric.estimated_alert
    if metric.higher_is_better:
        relation = "<" if past else ">="
    else:
        relation = ">" if past else "<="
    text = f"{metric.name} {value:.3f} {relation} threshold {threshold:.3f}"
    if band and not realized and metric.lower is not None and metric.upper is not None:
        text += f" (band {metric.lower:.3f}-{metric.upper:.3f})"
    return text


def check_performance(
    current: str | os.PathLike[str] | pd.DataFrame,
    model: MonitoredModel,
    *,
    labels: Any = None,
    label_column: str = "label",
    thresholds: Mapping[str, float] | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> PerformanceCheck:
    """Estimate (and, with labels, measure) the model's performance on a window.

    Args:
        current: The window: a Parquet file, a folder of Parquet batches from the
            payload sink, a CSV file, or a DataFrame.
        model: The model behind the traffic (:mod:`.monitored_model`).
        labels: Ground truth (``request_id``, ``label_column``, optional ``row``),
            a file or a DataFrame; None for none.
        label_column: The labels' column.
        thresholds: Thresholds the user set per metric, in place of the
            reference's.
        batch_rows: Rows per batch read.

    Returns:
        The check.

    Raises:
        DataError: The window cannot be read, holds a value the model does not
            know, or the labels cannot be joined on it.
    """
    parts = open_parts(current, role="current")
    plan = ScoringPlan.make(parts, model, PREDICTION_COLUMN, labels, label_column)
    task = str(plan.task)
    expected = ExpectedConfusion(len(plan.classes)) if plan.estimate else None
    tally = PerformanceTally(expected)
    if plan.columns and (plan.estimate or plan.labels is not None):
        for part in parts:
            for batch in part.batches(plan.columns, batch_rows):
                size = len(batch[plan.columns[0]])
                tally.add(plan.score(batch, part.label), slice(0, size))
    estimates = expected.estimates() if expected is not None else {}
    realized = tally.realized(task)
    reference = model.reference
    # Rows a threshold is derived for: never more than a reference chunk's.
    ceiling = reference.chunk_rows if reference is not None else None

    def judged(rows: int) -> int:
        return min(rows, ceiling) if ceiling else rows

    metrics = {}
    for name in MONITORED[task]:
        estimate = estimates.get(name)
        value = realized.get(name)
        lower, upper = band(reference, name, estimate, tally.scored)
        metrics[name] = MetricCheck(
            name=name,
            higher_is_better=HIGHER_IS_BETTER[name],
            estimated=estimate,
            lower=lower,
            upper=upper,
            estimated_threshold=(
                metric_threshold(reference, thresholds, name, judged(tally.scored))
                if estimate is not None
                else None
            ),
            realized=value,
            realized_threshold=(
                metric_threshold(reference, thresholds, name, judged(tally.labelled))
                if value is not None
                else None
            ),
        )
    return PerformanceCheck(
        task=task,
        note=plan.note,
        estimated=plan.estimate,
        scored_rows=tally.scored,
        labelled_rows=tally.labelled,
        metrics=metrics,
        user_thresholds=tuple(n for n in MONITORED[task] if n in (thresholds or {})),
    )

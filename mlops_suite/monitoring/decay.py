"""Has the served model got worse? Live metrics from labelled predictions (decay).

:func:`compute_decay` joins the logged predictions with their ground truth
(:mod:`.label_join`), scores the joined rows with the metrics the evaluation stage
records at approval, and compares each with the value in the registry lineage: a
metric that got worse by more than its allowed relative drop has *decayed*.

The metrics are computed by :mod:`mlops_suite.evaluation.metrics` itself, so live
and approval-time numbers compare like with like: classification ``accuracy`` and
``f1_macro``, plus ``roc_auc`` and ``log_loss`` (lower is better) when the log
carries class probabilities (the sink's ``proba_<class>`` columns, logged when the
model is served with ``PREDICT_PROBA=true``); regression ``rmse``, ``mae`` and
``r2``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlops_suite.artifacts import CLASSIFICATION, REGRESSION
from mlops_suite.errors import DataError, MlopsError
from mlops_suite.evaluation.metrics import (
    Metrics,
    accuracy_and_f1,
    class_log_loss,
    ovr_roc_auc,
    regression_metrics,
)
from mlops_suite.monitoring.label_join import LabelledPredictions, join_labels
from mlops_suite.monitoring.payloads.columns import PREDICTION_COLUMN
from mlops_suite.tasks import HIGHER_IS_BETTER, check_task

DEFAULT_LABEL_COLUMN = "label"
DEFAULT_MAX_DROP = 0.05
DEFAULT_MIN_JOINED_ROWS = 30
# Changes this close to the threshold count as equal to it (floating-point noise).
_TOLERANCE = 1e-9

TASK_METRICS: dict[str, tuple[str, ...]] = {
    CLASSIFICATION: ("accuracy", "f1_macro", "roc_auc", "log_loss"),
    REGRESSION: ("rmse", "mae", "r2"),
}


class DecayThresholdError(MlopsError):
    """The allowed metric drops are malformed (negative, or for unknown metrics)."""


@dataclass(frozen=True)
class MetricDecay:
    """One metric, live against approval time.

    Attributes:
        name: The metric, e.g. ``accuracy`` or ``rmse``.
        live: Its value on the joined rows; None when undefined there.
        reference: Its value recorded at approval; None when not recorded.
        relative_change: ``(live - reference) / |reference|`` (negative means the
            number went down); None when either is missing or the reference is 0.
        max_drop: The largest relative worsening tolerated (absolute when the
            reference is 0).
        higher_is_better: Whether a larger value is better (False for errors).
        decayed: Whether the metric got worse by more than ``max_drop``.
    """

    name: str
    live: float | None
    reference: float | None
    relative_change: float | None
    max_drop: float
    higher_is_better: bool
    decayed: bool

    def to_dict(self) -> dict[str, Any]:
        """The comparison as JSON-ready data."""
        return {
            "live": self.live,
            "reference": self.reference,
            "relative_change": self.relative_change,
            "decayed": self.decayed,
            "max_drop": self.max_drop,
            "higher_is_better": self.higher_is_better,
        }


@dataclass(frozen=True)
class DecayReport:
    """Live metrics on labelled predictions, compared with those at approval.

    Attributes:
        task: ``classification`` or ``regression``.
        metrics: Every live metric by name (those without a reference included).
        joined_rows: Predictions that found their label.
        unmatched_predictions: Predictions without a label (yet).
        unmatched_labels: Labels without a logged prediction.
    """

    task: str
    metrics: dict[str, MetricDecay]
    joined_rows: int
    unmatched_predictions: int
    unmatched_labels: int

    @property
    def decayed_metrics(self) -> list[str]:
        """Names of the metrics that got worse beyond their threshold."""
        return [name for name, metric in self.metrics.items() if metric.decayed]

    @property
    def decayed(self) -> bool:
        """Whether any metric decayed."""
        return bool(self.decayed_metrics)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (the shape the monitoring step records)."""
        return {
            "task": self.task,
            "metrics": {name: m.to_dict() for name, m in self.metrics.items()},
            "decayed": self.decayed,
            "decayed_metrics": self.decayed_metrics,
            "joined_rows": self.joined_rows,
            "unmatched_predictions": self.unmatched_predictions,
            "unmatched_labels": self.unmatched_labels,
        }

    def summary(self) -> str:
        """One sentence naming what decayed, or that nothing did."""
        shown = [
            metric
            for metric in self.metrics.values()
            if metric.live is not None and metric.reference is not None
            if metric.decayed or not self.decayed
        ]
        described = ", ".join(_describe(metric) for metric in shown) or "no metrics"
        where = f"on {self.joined_rows} labelled predictions"
        if self.decayed:
            return f"The model decayed {where}: {described}."
        return f"No decay beyond the thresholds {where} ({described})."


def _describe(metric: MetricDecay) -> str:
    text = f"{metric.name} {metric.reference:.4g} -> {metric.live:.4g}"
    if metric.relative_change is not None:
        text += f" ({metric.relative_change:+.1%})"
    return text


# ------------------------------------------------------------------------- decay


def compute_decay(
    predictions: pd.DataFrame | str | os.PathLike[str],
    labels: pd.DataFrame | str | os.PathLike[str],
    *,
    task: str,
    reference_metrics: Mapping[str, Any],
    label_column: str = DEFAULT_LABEL_COLUMN,
    prediction_column: str = PREDICTION_COLUMN,
    classes: Sequence[Any] | None = None,
    max_drop: float | Mapping[str, float] = DEFAULT_MAX_DROP,
    min_joined_rows: int = DEFAULT_MIN_JOINED_ROWS,
) -> DecayReport:
    """Score logged predictions against their labels and compare with approval time.

    Predictions and labels are joined on ``request_id``, and on ``row`` too when
    both have it; without ``row`` on one side, each request must hold a single
    instance. Keys and classes match by value whatever their storage type (``17``,
    ``17.0`` and ``"17"`` are one ID; ``True`` and ``"true"`` one class). Rows
    whose key, prediction or label is missing are left out (a label not known
    yet); a row repeated with the same values counts once.

    Decay: a metric that got worse than its reference by more than its allowed
    relative drop, ``(reference - live) / |reference|`` for scores and
    ``(live - reference) / |reference|`` for errors (rmse, mae); the plain
    difference when the reference is 0. Metrics without a reference are reported
    but never decayed.

    Args:
        predictions: The prediction log: a DataFrame, a Parquet or CSV file, or a
            folder of Parquet batches as the payload sink writes them; columns
            ``request_id``, ``prediction`` and, optionally, ``row`` and
            ``proba_<class>`` for every class.
        labels: Ground truth: a DataFrame, or a CSV/Parquet file, with
            ``request_id``, ``label_column`` and, optionally, ``row``.
        task: ``classification`` or ``regression``.
        reference_metrics: Metrics recorded at approval, i.e.
            ``ModelRegistry.metadata(name, version)["lineage"]["metrics"]``.
        label_column: The labels' column holding the true value.
        prediction_column: The log's column holding the prediction.
        classes: The model's classes (classification). When given, labels and
            predictions outside them are refused, and ``roc_auc`` and
            ``log_loss`` are computed when the log has a ``proba_<class>`` column
            for every class.
        max_drop: Allowed relative worsening: one fraction for every metric, or a
            mapping of metric name to fraction (metrics left out keep 0.05).
        min_joined_rows: Fewest labelled predictions worth judging.

    Returns:
        The live metrics, their comparison with the reference and the join counts.

    Raises:
        DataError: The labels file is missing or unreadable; a needed column is
            absent; keys or values are malformed or contradict each other; nothing
            joins; fewer than ``min_joined_rows`` rows join; or the reference
            metrics hold none of the task's metrics.
        DecayThresholdError: ``max_drop`` or ``min_joined_rows`` is out of range,
            or ``max_drop`` names a metric the task does not have.
        TrainingError: ``task`` is unknown.
    """
    task = check_task(task)
    thresholds = _thresholds(task, max_drop)
    if isinstance(min_joined_rows, bool) or not (
        isinstance(min_joined_rows, int) and min_joined_rows >= 1
    ):
        raise DecayThresholdError(
            f"min_joined_rows is {min_joined_rows!r}; it must be a whole number of "
            "at least 1."
        )
    reference = _reference(task, reference_metrics)
    joined = join_labels(
        predictions,
        labels,
        task=task,
        label_column=label_column,
        prediction_column=prediction_column,
        classes=classes,
        min_joined_rows=min_joined_rows,
    )
    live = _live_metrics(task, joined)
    return DecayReport(
        task=task,
        metrics={
            name: _compare(name, value, reference.get(name), thresholds[name])
            for name, value in live.items()
        },
        joined_rows=joined.rows,
        unmatched_predictions=joined.logged - joined.rows,
        unmatched_labels=joined.labelled - joined.rows,
    )


def _thresholds(task: str, max_drop: float | Mapping[str, float]) -> dict[str, float]:
    names = TASK_METRICS[task]
    if isinstance(max_drop, Mapping):
        unknown = sorted(str(name) for name in max_drop if name not in names)
        if unknown:
            raise DecayThresholdError(
                f"max_drop names {', '.join(unknown)}, which {task} does not "
                f"measure; expected some of {', '.join(names)}."
            )
        given: dict[str, Any] = {str(name): drop for name, drop in max_drop.items()}
    else:
        given = dict.fromkeys(names, max_drop)
    thresholds = {}
    for name in names:
        drop = given.get(name, DEFAULT_MAX_DROP)
        number = isinstance(drop, int | float) and not isinstance(drop, bool)
        if not number or not math.isfinite(float(drop)) or float(drop) < 0:
            raise DecayThresholdError(
                f"max_drop for {name} is {drop!r}; expected a fraction of at least 0 "
                "(0.05 allows a 5% drop)."
            )
        thresholds[name] = float(drop)
    return thresholds


def _reference(task: str, given: Mapping[str, Any] | None) -> dict[str, float]:
    found = {
        name: float(value)
        for name, value in (given or {}).items()
        if name in TASK_METRICS[task]
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    }
    if not found:
        recorded = ", ".join(sorted(map(str, given or {}))) or "nothing"
        raise DataError(
            f"The reference metrics hold none of {', '.join(TASK_METRICS[task])} "
            f"(recorded: {recorded}); expected the evaluation metrics recorded at "
            "approval in the registry lineage."
        )
    return found


# ------------------------------------------------------------------- metrics


def _live_metrics(task: str, joined: LabelledPredictions) -> Metrics:
    """The task's metrics on the joined rows, as the evaluation stage computes them."""
    if task != CLASSIFICATION:
        return regression_metrics(
            joined.truth.to_numpy(dtype="float64"),
            joined.predicted.to_numpy(dtype="float64"),
        )
    truth = joined.truth.to_numpy(dtype=object)
    metrics = accuracy_and_f1(truth, joined.predicted.to_numpy(dtype=object))
    if joined.probabilities is not None and joined.class_keys is not None:
        metrics.update(
            _probability_metrics(truth, joined.probabilities, joined.class_keys)
        )
    return metrics


def _probability_metrics(
    truth: np.ndarray, probabilities: pd.DataFrame, class_keys: Sequence[str]
) -> Metrics:
    """ROC AUC and log loss of the logged probabilities; None when one is missing."""
    proba = probabilities.to_numpy(dtype="float64")
    if not np.isfinite(proba).all():
        return {"roc_auc": None, "log_loss": None}
    index = {key: position for position, key in enumerate(class_keys)}
    y_idx = np.array([index[value] for value in truth])
    return {
        "roc_auc": ovr_roc_auc(y_idx, proba),
        "log_loss": class_log_loss(y_idx, proba),
    }


def _compare(
    name: str, live: float | None, reference: float | None, max_drop: float
) -> MetricDecay:
    higher = HIGHER_IS_BETTER[name]
    change = None
    decayed = False
    if live is not None and reference is not None:
        if reference != 0:
            change = (live - reference) / abs(reference)
            worse = -change if higher else change
        else:
            worse = (reference - live) if higher else (live - reference)
        decayed = worse > max_drop + _TOLERANCE
    return MetricDecay(
        name=name,
        live=live,
        reference=reference,
        relative_change=change,
        max_drop=max_drop,
        higher_is_better=higher,
        decayed=decayed,
    )


def decay_of_version(
    current: Any,
    labels: Any,
    metadata: Mapping[str, Any],
    *,
    label_column: str,
    max_drop: float | Mapping[str, float] = DEFAULT_MAX_DROP,
) -> DecayReport:
    """Decay of a registered version: its live metrics against those at approval.

    Args:
        current: The logged predictions (see :func:`compute_decay`).
        labels: The ground truth (see :func:`compute_decay`).
        metadata: The version's ``metadata.json``: its task, classes and the metrics
            recorded in its lineage at approval.
        label_column: The labels' column.
        max_drop: The allowed relative drop, overall or per metric.

    Returns:
        The decay report.
    """
    return compute_decay(
        current,
        labels,
        task=metadata["task"],
        reference_metrics=metadata.get("lineage", {}).get("metrics") or {},
        classes=metadata.get("classes"),
        label_column=label_column,
        max_drop=max_drop,
    )

"""Has the served model got worse? Live metrics from labelled predictions (decay).

The payload sink logs one row per predicted instance: ``request_id``, ``row`` (the
instance's position in its request), ``prediction`` and the features. Ground truth
arrives later as a table keyed the same way (``request_id`` and, when a request
carries several instances, ``row``) with a label column. :func:`compute_decay` joins
the two, scores the joined rows with the metrics the evaluation stage records at
approval, and compares each with the value in the registry lineage: a metric that
got worse by more than its allowed relative drop has *decayed*.

Metric definitions follow :mod:`mlops_suite.evaluation.metrics` so live and
approval-time numbers compare like with like: classification ``accuracy`` and
``f1_macro`` (plus ``roc_auc`` when the log carries class probabilities, which
KServe's default predict does not), regression ``rmse``, ``mae`` and ``r2``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)

from mlops_suite.artifacts import CLASSIFICATION, REGRESSION
from mlops_suite.data.ingest import read_table
from mlops_suite.errors import DataError, MlopsError
from mlops_suite.monitoring.drift import PREDICTION_COLUMN
from mlops_suite.monitoring.payloads.columns import REQUEST_ID_COLUMN, ROW_COLUMN
from mlops_suite.monitoring.sources import open_parts
from mlops_suite.training.estimators import check_task

DEFAULT_LABEL_COLUMN = "label"
# Optional per-class probability columns in the log: ``proba_<class>``.
PROBABILITY_PREFIX = "proba_"
DEFAULT_MAX_DROP = 0.05
DEFAULT_MIN_JOINED_ROWS = 30
# Rows read at a time from Parquet or CSV prediction logs.
_BATCH_ROWS = 65_536
# Changes this close to the threshold count as equal to it (floating-point noise).
_TOLERANCE = 1e-9

TASK_METRICS: dict[str, tuple[str, ...]] = {
    CLASSIFICATION: ("accuracy", "f1_macro", "roc_auc"),
    REGRESSION: ("rmse", "mae", "r2"),
}
HIGHER_IS_BETTER: dict[str, bool] = {
    "accuracy": True,
    "f1_macro": True,
    "roc_auc": True,
    "r2": True,
    "rmse": False,
    "mae": False,
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


# ------------------------------------------------------------------------ labels


def load_labels(uri: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a ground-truth table (CSV, TSV or Parquet; local path or fsspec URI).

    Args:
        uri: The labels file.

    Returns:
        The table, as written.

    Raises:
        DataError: The file is missing, unreadable, empty or not a table.
    """
    text = os.fspath(uri)
    try:
        return read_table(text)
    except DataError as exc:
        message = str(exc).rstrip(".")
        quoted = f"'{text}'"
        if message.startswith(quoted):
            message = f"Labels file {quoted}{message[len(quoted) :]}"
        else:
            message = f"Labels file '{text}' could not be read: {message}"
        raise DataError(f"{message}.") from exc


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
            predictions outside them are refused, and ``roc_auc`` is computed when
            the log has a ``proba_<class>`` column for every class.
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
    class_keys = None
    if classes is not None and task == CLASSIFICATION:
        class_keys = [_key(value) for value in classes]
    probabilities = [f"{PROBABILITY_PREFIX}{value}" for value in classes or ()]

    log, log_name = _read_log(predictions, prediction_column, probabilities)
    if isinstance(labels, pd.DataFrame):
        truth, truth_name = labels, "labels DataFrame"
    else:
        truth, truth_name = load_labels(labels), f"labels file '{os.fspath(labels)}'"
    _require(
        list(map(str, truth.columns)), truth_name, [REQUEST_ID_COLUMN, label_column]
    )

    with_probabilities = (
        class_keys is not None
        and bool(probabilities)
        and all(column in log.columns for column in probabilities)
    )
    log = _prepare(
        log,
        log_name,
        value=(prediction_column, _PREDICTION),
        numbers=probabilities if with_probabilities else [],
        task=task,
    )
    truth = _prepare(truth, truth_name, value=(label_column, _LABEL), task=task)
    if class_keys is not None:
        _check_classes(log[_PREDICTION], log_name, prediction_column, class_keys)
        _check_classes(truth[_LABEL], truth_name, label_column, class_keys)
    keys = _join_keys(log, truth, log_name, truth_name)

    joined = log.merge(truth, on=keys, how="inner", validate="one_to_one")
    if joined.empty:
        raise DataError(_no_join(log, truth, keys, log_name, truth_name))
    if len(joined) < min_joined_rows:
        raise DataError(
            f"Only {len(joined)} of the {len(log)} logged predictions have a label in "
            f"the {truth_name}; at least {min_joined_rows} are needed to judge decay "
            "(wait for more labels or lower the minimum)."
        )

    if task == CLASSIFICATION:
        live = _classification_metrics(
            joined, class_keys if with_probabilities else None, probabilities
        )
    else:
        live = _regression_metrics(joined)
    return DecayReport(
        task=task,
        metrics={
            name: _compare(name, value, reference.get(name), thresholds[name])
            for name, value in live.items()
        },
        joined_rows=len(joined),
        unmatched_predictions=len(log) - len(joined),
        unmatched_labels=len(truth) - len(joined),
    )


# Internal names of the two value columns once read, clear of any user column name.
_PREDICTION = "__prediction__"
_LABEL = "__label__"


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


# ------------------------------------------------------------------- reading


def _read_log(
    source: pd.DataFrame | str | os.PathLike[str],
    prediction_column: str,
    probabilities: Sequence[str],
) -> tuple[pd.DataFrame, str]:
    """The log's key, prediction and probability columns, and its name."""
    needed = [REQUEST_ID_COLUMN, prediction_column]
    if isinstance(source, pd.DataFrame):
        name = "predictions DataFrame"
        _require(list(map(str, source.columns)), name, needed)
        return source, name
    parts = open_parts(source, role="predictions")
    for part in parts:
        _require(part.names(), f"prediction log '{part.label}'", needed)
    optional = [ROW_COLUMN, *probabilities]
    columns = needed + [
        column for column in optional if all(column in p.names() for p in parts)
    ]
    # Only these few columns are read, batch by batch: a log's features can be wide.
    frames = [
        pd.DataFrame({column: _series(array) for column, array in batch.items()})
        for part in parts
        for batch in part.batches(columns, _BATCH_ROWS)
    ]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return frame.reindex(columns=columns), f"prediction log '{os.fspath(source)}'"


def _series(array: pa.Array) -> pd.Series:
    series = array.to_pandas()
    # Parquet text arrives dictionary-encoded; categories differ between batches.
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    return series


def _require(present: Sequence[str], name: str, columns: Sequence[str]) -> None:
    for column in columns:
        if column not in present:
            shown = ", ".join(present[:12]) + (", ..." if len(present) > 12 else "")
            raise DataError(
                f"The {name} has no '{column}' column (columns: {shown or 'none'})."
            )


def _key(value: Any) -> str:
    """A value as a join or class key: ``True`` -> ``true``, ``17.0`` -> ``17``."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    return str(value)


def _prepare(
    frame: pd.DataFrame,
    name: str,
    *,
    value: tuple[str, str],
    task: str,
    numbers: Sequence[str] = (),
) -> pd.DataFrame:
    """Keys and values normalised, incomplete rows dropped, repeats merged."""
    column, target = value
    complete = frame.dropna(subset=[REQUEST_ID_COLUMN, column])
    prepared = pd.DataFrame(index=complete.index)
    prepared[REQUEST_ID_COLUMN] = complete[REQUEST_ID_COLUMN].map(_key)
    if ROW_COLUMN in complete.columns:
        prepared[ROW_COLUMN] = _rows(complete[ROW_COLUMN], name)
    if task == CLASSIFICATION:
        prepared[target] = complete[column].map(_key)
    else:
        prepared[target] = _numbers(complete[column], name, column)
    for extra in numbers:
        prepared[extra] = _numbers(complete[extra], name, extra)
    prepared = prepared.drop_duplicates()
    keys = [c for c in (REQUEST_ID_COLUMN, ROW_COLUMN) if c in prepared.columns]
    repeated = prepared.duplicated(subset=keys, keep=False)
    if repeated.any():
        clashing = prepared.loc[repeated, keys].drop_duplicates()
        example = tuple(clashing.head(1).to_dict("records")[0].values())
        shown = example[0] if len(example) == 1 else example
        raise DataError(
            f"The {name} gives different values for {len(clashing)} "
            f"{' and '.join(keys)} key(s) (e.g. {shown!r}); expected one value per "
            "key."
        )
    return prepared.reset_index(drop=True)


def _rows(series: pd.Series, name: str) -> pd.Series:
    numbers = pd.to_numeric(series, errors="coerce")
    bad = numbers.isna() | (numbers < 0) | (numbers % 1 != 0)
    if bad.any():
        raise DataError(
            f"The {name} has {int(bad.sum())} '{ROW_COLUMN}' value(s) that are not "
            f"whole numbers of 0 or more (e.g. {series[bad].iloc[0]!r})."
        )
    return numbers.astype("int64")


def _numbers(series: pd.Series, name: str, column: str) -> pd.Series:
    numbers = pd.to_numeric(series, errors="coerce")
    bad = numbers.isna() & series.notna()
    if bad.any():
        raise DataError(
            f"The {name} has {int(bad.sum())} value(s) in '{column}' that are not "
            f"numbers (e.g. {series[bad].iloc[0]!r}); expected numbers."
        )
    return numbers.astype("float64")


def _check_classes(
    values: pd.Series, name: str, column: str, class_keys: Sequence[str]
) -> None:
    unknown = sorted(set(values.unique()) - set(class_keys))
    if unknown:
        raise DataError(
            f"The {name} has {len(unknown)} value(s) in '{column}' that are not among "
            f"the model's classes ({', '.join(unknown[:5])}); expected one of "
            f"{', '.join(class_keys)}."
        )


def _join_keys(
    log: pd.DataFrame, truth: pd.DataFrame, log_name: str, truth_name: str
) -> list[str]:
    """``request_id``, plus ``row`` when both sides have it."""
    if ROW_COLUMN in log.columns and ROW_COLUMN in truth.columns:
        return [REQUEST_ID_COLUMN, ROW_COLUMN]
    for side, other, side_name, other_name in (
        (log, truth, log_name, truth_name),
        (truth, log, truth_name, log_name),
    ):
        if ROW_COLUMN in side.columns and ROW_COLUMN not in other.columns:
            several = side.loc[side[REQUEST_ID_COLUMN].duplicated(), REQUEST_ID_COLUMN]
            if not several.empty:
                raise DataError(
                    f"The {other_name} has no '{ROW_COLUMN}' column, but "
                    f"{several.nunique()} requests in the {side_name} hold several "
                    f"instances (e.g. request_id {several.iloc[0]!r}); add each "
                    f"instance's 0-based '{ROW_COLUMN}' to tell them apart."
                )
    return [REQUEST_ID_COLUMN]


def _no_join(
    log: pd.DataFrame,
    truth: pd.DataFrame,
    keys: Sequence[str],
    log_name: str,
    truth_name: str,
) -> str:
    def example(frame: pd.DataFrame) -> str:
        if frame.empty:
            return "none"
        first = tuple(frame[list(keys)].head(1).to_dict("records")[0].values())
        return repr(first[0] if len(first) == 1 else first)

    return (
        f"None of the {len(log)} logged predictions in the {log_name} matches any of "
        f"the {len(truth)} labels in the {truth_name} on {' and '.join(keys)} "
        f"(e.g. {example(log)} and {example(truth)}); check that the labels come "
        "from the same requests."
    )


# ------------------------------------------------------------------- metrics


def _classification_metrics(
    joined: pd.DataFrame,
    class_keys: Sequence[str] | None,
    probabilities: Sequence[str],
) -> dict[str, float | None]:
    truth = joined[_LABEL].to_numpy(dtype=object)
    predicted = joined[_PREDICTION].to_numpy(dtype=object)
    metrics: dict[str, float | None] = {
        "accuracy": float(accuracy_score(truth, predicted)),
        "f1_macro": float(f1_score(truth, predicted, average="macro", zero_division=0)),
    }
    if class_keys is not None:
        metrics["roc_auc"] = _roc_auc(truth, joined[list(probabilities)], class_keys)
    return metrics


def _roc_auc(
    truth: np.ndarray, probabilities: pd.DataFrame, class_keys: Sequence[str]
) -> float | None:
    """ROC AUC as the evaluation stage computes it: positive class, or OvR mean."""
    proba = probabilities.to_numpy(dtype="float64")
    if not np.isfinite(proba).all():
        return None
    index = {key: position for position, key in enumerate(class_keys)}
    y_idx = np.array([index[value] for value in truth])
    present = [
        k for k in range(len(class_keys)) if 0 < int(np.sum(y_idx == k)) < len(y_idx)
    ]
    if not present:
        return None
    if len(class_keys) == 2:
        score = float(roc_auc_score(y_idx == 1, proba[:, 1]))
    else:
        score = float(
            np.mean([roc_auc_score(y_idx == k, proba[:, k]) for k in present])
        )
    return score if math.isfinite(score) else None


def _regression_metrics(joined: pd.DataFrame) -> dict[str, float | None]:
    truth = joined[_LABEL].to_numpy(dtype="float64")
    predicted = joined[_PREDICTION].to_numpy(dtype="float64")
    r2 = float(r2_score(truth, predicted)) if len(truth) >= 2 else math.nan
    return {
        "rmse": float(math.sqrt(mean_squared_error(truth, predicted))),
        "mae": float(mean_absolute_error(truth, predicted)),
        "r2": r2 if math.isfinite(r2) else None,
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

"""Join ground-truth labels with the logged predictions they belong to.

The payload sink logs one row per predicted instance: ``request_id``, ``row`` (the
instance's position in its request), ``prediction`` and the features. Ground truth
arrives later as a table keyed the same way (``request_id`` and, when a request
carries several instances, ``row``) with a label column. :func:`join_labels` reads
the few columns it needs from the log in bounded batches, normalises keys and
values on both sides, and joins them one to one, so the decay check
(:mod:`.decay`) scores only predictions whose label is known.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from mlops_suite.artifacts import CLASSIFICATION
from mlops_suite.data.ingest import read_table
from mlops_suite.errors import DataError
from mlops_suite.monitoring.payloads.columns import (
    REQUEST_ID_COLUMN,
    ROW_COLUMN,
    probability_column,
)
from mlops_suite.monitoring.sources import open_parts

# Rows read at a time from Parquet or CSV prediction logs.
_BATCH_ROWS = 65_536
# Names of the two value columns once read, clear of any user column name.
_PREDICTION = "__prediction__"
LABEL = "__label__"


@dataclass(frozen=True)
class LabelledPredictions:
    """The logged predictions that found their label, one row per instance.

    Attributes:
        truth: The label of each joined row: for classification a class key, the
            value as text (``True`` -> ``true``, ``17.0`` -> ``17``); for
            regression a float.
        predicted: The prediction of each joined row, coded as ``truth``.
        probabilities: The ``proba_<class>`` columns of the joined rows, in the
            order of ``class_keys``; None unless the classes were given and the log
            has a column for every class.
        class_keys: The model's classes as keys, when given (classification).
        logged: Logged predictions with a key and a value, repeats merged.
        labelled: Labels with a key and a value, repeats merged.
    """

    truth: pd.Series
    predicted: pd.Series
    probabilities: pd.DataFrame | None
    class_keys: tuple[str, ...] | None
    logged: int
    labelled: int

    @property
    def rows(self) -> int:
        """Predictions that found their label."""
        return len(self.truth)


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


def join_labels(
    predictions: pd.DataFrame | str | os.PathLike[str],
    labels: pd.DataFrame | str | os.PathLike[str],
    *,
    task: str,
    label_column: str,
    prediction_column: str,
    classes: Sequence[Any] | None,
    min_joined_rows: int,
) -> LabelledPredictions:
    """Join the logged predictions with their labels, one to one.

    Predictions and labels are joined on ``request_id``, and on ``row`` too when
    both have it; without ``row`` on one side, each request must hold a single
    instance. Keys and classes match by value whatever their storage type (``17``,
    ``17.0`` and ``"17"`` are one ID; ``True`` and ``"true"`` one class). Rows
    whose key, prediction or label is missing are left out (a label not known
    yet); a row repeated with the same values counts once.

    Args:
        predictions: The prediction log: a DataFrame, a Parquet or CSV file, or a
            folder of Parquet batches as the payload sink writes them; columns
            ``request_id``, ``prediction_column`` and, optionally, ``row`` and
            ``proba_<class>`` for every class.
        labels: Ground truth: a DataFrame, or a CSV/Parquet file, with
            ``request_id``, ``label_column`` and, optionally, ``row``.
        task: ``classification`` or ``regression`` (already checked).
        label_column: The labels' column holding the true value.
        prediction_column: The log's column holding the prediction.
        classes: The model's classes (classification), or None. When given, labels
            and predictions outside them are refused, and the ``proba_<class>``
            columns are read when the log has one for every class.
        min_joined_rows: Fewest joined rows accepted.

    Returns:
        The joined rows and the counts on each side.

    Raises:
        DataError: The labels file is missing or unreadable; a needed column is
            absent; keys or values are malformed or contradict each other; nothing
            joins; or fewer than ``min_joined_rows`` rows join.
    """
    class_keys = None
    if classes is not None and task == CLASSIFICATION:
        class_keys = [as_key(value) for value in classes]
    probabilities = [probability_column(value) for value in classes or ()]

    log, log_name = _read_log(predictions, prediction_column, probabilities)
    truth, truth_name = prepare_labels(
        labels, task=task, label_column=label_column, classes=classes
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
    if class_keys is not None:
        _check_classes(log[_PREDICTION], log_name, prediction_column, class_keys)
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
    return LabelledPredictions(
        truth=joined[LABEL],
        predicted=joined[_PREDICTION],
        probabilities=joined[probabilities] if with_probabilities else None,
        class_keys=tuple(class_keys) if class_keys is not None else None,
        logged=len(log),
        labelled=len(truth),
    )


def prepare_labels(
    labels: pd.DataFrame | str | os.PathLike[str],
    *,
    task: str,
    label_column: str,
    classes: Sequence[Any] | None,
) -> tuple[pd.DataFrame, str]:
    """Read ground truth and normalise it for a join with the prediction log.

    Args:
        labels: A DataFrame, or a CSV/Parquet file, with ``request_id``,
            ``label_column`` and, optionally, ``row``.
        task: ``classification`` or ``regression`` (already checked).
        label_column: The labels' column holding the true value.
        classes: The model's classes (classification), or None; labels outside
            them are refused.

    Returns:
        The labels, one row per key: ``request_id`` as a key (:func:`as_key`),
        ``row`` when given, and the value under :data:`LABEL` (a class key, or a
        float for regression); and how messages name them.

    Raises:
        DataError: The file is missing or unreadable, a needed column is absent,
            or keys or values are malformed, repeated with other values, or not
            among the classes.
    """
    if isinstance(labels, pd.DataFrame):
        truth, truth_name = labels, "labels DataFrame"
    else:
        truth, truth_name = load_labels(labels), f"labels file '{os.fspath(labels)}'"
    _require(
        list(map(str, truth.columns)), truth_name, [REQUEST_ID_COLUMN, label_column]
    )
    truth = _prepare(truth, truth_name, value=(label_column, LABEL), task=task)
    if classes is not None and task == CLASSIFICATION:
        class_keys = [as_key(value) for value in classes]
        _check_classes(truth[LABEL], truth_name, label_column, class_keys)
    return truth, truth_name


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


def as_key(value: Any) -> str:
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
    prepared[REQUEST_ID_COLUMN] = complete[REQUEST_ID_COLUMN].map(as_key)
    if ROW_COLUMN in complete.columns:
        prepared[ROW_COLUMN] = _rows(complete[ROW_COLUMN], name)
    if task == CLASSIFICATION:
        prepared[target] = complete[column].map(as_key)
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

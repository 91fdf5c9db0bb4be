"""A monitoring timeline: drift and performance of the current data, chunk by chunk.

``mlops monitor --chunk-size N`` (or ``--chunk-period 1D``) cuts the current data
into chunks of N rows in read order (or by period of a timestamp column) and, per
chunk, measures the drift of every feature against the training profile (the same
measures and thresholds as :mod:`.drift`), estimates a classifier's accuracy, macro
F1 and ROC AUC from its calibrated probabilities (:mod:`.estimation`), and, for
rows whose label was joined, computes the realized metrics with the evaluation
stage's own functions. Each estimate gets a band of three sampling errors and is
judged against a threshold derived from the performance reference recorded at
registration (:mod:`.performance_reference`).

Class probabilities come from the log's ``proba_<class>`` columns when every file
has one per class; otherwise the model scores the logged features. A regression
model's performance is not estimated: there is no calibrated confidence to estimate
it from, so only drift and, with labels, realized metrics are reported.

The data is read once, in batches; each chunk keeps only running counts (histograms,
expected confusion sums) and its labelled rows, so memory does not grow with the
number of rows, and rows may arrive in any order.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from mlops_suite.artifacts import NUMERIC
from mlops_suite.errors import DataError, MlopsError
from mlops_suite.monitoring.chunk_performance import (
    PerformanceTally,
    judge_performance,
)
from mlops_suite.monitoring.chunking import Chunking
from mlops_suite.monitoring.drift import DEFAULT_BATCH_ROWS, check_current_columns
from mlops_suite.monitoring.estimation import ExpectedConfusion
from mlops_suite.monitoring.measures import judge_feature
from mlops_suite.monitoring.monitored_model import MonitoredModel
from mlops_suite.monitoring.payloads.columns import PREDICTION_COLUMN
from mlops_suite.monitoring.profile import ColumnCounter, NumericCounter, ValueCounter
from mlops_suite.monitoring.reference import ReferenceColumn, statistics_columns
from mlops_suite.monitoring.scoring_plan import ScoredBatch, ScoringPlan
from mlops_suite.monitoring.sources import Batch, Part, open_parts
from mlops_suite.monitoring.thresholds import (
    JENSEN_SHANNON,
    L_INFINITY,
    load_thresholds,
)
from mlops_suite.monitoring.timeline_result import ChunkDrift, ChunkResult, Timeline


@dataclass
class _Chunk:
    """The running state of one chunk."""

    counters: dict[str, ColumnCounter]
    performance: PerformanceTally
    rows: int = 0
    first: int | None = None
    last: int = 0


def build_timeline(
    current: str | os.PathLike[str] | pd.DataFrame | Part,
    *,
    chunking: Chunking,
    statistics: Mapping[str, Any],
    model: MonitoredModel | None = None,
    features: Sequence[str] | None = None,
    thresholds: Any = None,
    labels: str | os.PathLike[str] | pd.DataFrame | None = None,
    label_column: str = "label",
    prediction_column: str = PREDICTION_COLUMN,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    reference_label: str = "the training profile",
) -> Timeline:
    """Cut the current data into chunks and judge each one.

    Args:
        current: A Parquet file, a folder of Parquet batches from the payload sink,
            a CSV file, or a DataFrame.
        chunking: How to cut the rows.
        statistics: The training profile (``statistics.json`` format).
        model: The model behind the traffic; without it only drift is measured.
        features: Columns to compare; default the model's features, or every
            profiled column but the prediction.
        thresholds: Drift thresholds: a dict, a JSON file, or None for defaults.
        labels: Ground truth (``request_id``, ``label_column``, optional ``row``);
            needs ``model``. None reports no realized metrics.
        label_column: The labels' column.
        prediction_column: The log's prediction column.
        batch_rows: Rows per batch read.
        reference_label: How reports name the drift reference.

    Returns:
        The timeline.

    Raises:
        DataError: The data cannot be read, lacks a compared column, holds a value
            the model does not know, has no rows, or labels cannot be joined.
        MlopsError: Labels were given without a model.
    """
    if labels is not None and model is None:
        raise MlopsError(
            "labels need the model's metadata (--registry and --model-name)"
        )
    limits = load_thresholds(thresholds)
    entries = statistics_columns(statistics, reference_label)
    if features is None:
        features = (
            [str(f["name"]) for f in model.features]
            if model is not None
            else [name for name in entries if name != prediction_column]
        )
    chosen = limits.compared(dict.fromkeys(features))
    if not chosen:
        raise MlopsError(
            f"no feature to compare; every one is ignored ({', '.join(limits.ignored)})"
        )
    missing = [name for name in chosen if name not in entries]
    if missing:
        raise DataError(
            f"feature '{missing[0]}' is not in {reference_label}; expected one of "
            f"{list(entries)}"
        )
    rows_reference = int(statistics["num_rows"])
    profiles = {
        name: ReferenceColumn.from_statistics(
            entries[name], rows_reference, reference_label
        )
        for name in chosen
    }
    parts = open_parts(current, role="current")
    current_label = (
        parts[0].label
        if isinstance(current, pd.DataFrame | Part)
        else os.fspath(current)
    )
    check_current_columns(
        parts,
        {name: name for name in chosen},
        {name: profile.kind for name, profile in profiles.items()},
        reference_label,
    )
    limits.check_features(chosen)
    plan = ScoringPlan.make(parts, model, prediction_column, labels, label_column)
    columns = list(dict.fromkeys([*chosen, *plan.columns, *chunking.columns]))
    for part in parts:
        absent = [name for name in chunking.columns if name not in part.names()]
        if absent:
            raise DataError(
                f"the current data '{part.label}' has no column '{absent[0]}' to cut "
                "chunks by; pass --timestamp-column with the column holding each "
                "row's time"
            )

    def new_chunk() -> _Chunk:
        counters: dict[str, ColumnCounter] = {
            name: NumericCounter(profile.edges)
            if profile.kind == NUMERIC
            else ValueCounter(profile.frequencies)
            for name, profile in profiles.items()
        }
        expected = ExpectedConfusion(len(plan.classes)) if plan.estimate else None
        return _Chunk(counters=counters, performance=PerformanceTally(expected))

    chunks: dict[int, _Chunk] = {}
    offset = 0
    for part in parts:
        for batch in part.batches(columns, batch_rows):
            size = len(batch[columns[0]])
            keys = chunking.keys(batch, offset, part.label)
            scored = plan.score(batch, part.label)
            for key, rows in _groups(keys):
                chunk = chunks.get(key)
                if chunk is None:
                    chunk = chunks[key] = new_chunk()
                _add(chunk, batch, rows, scored, chosen, offset)
            offset += size
    if offset == 0:
        raise DataError(
            f"the current data '{current_label}' has 0 rows; expected at least one "
            "row to compare"
        )

    results = []
    for key in sorted(chunks):
        chunk = chunks[key]
        drift = {}
        for name, profile in profiles.items():
            metric = JENSEN_SHANNON if profile.kind == NUMERIC else L_INFINITY
            judged = judge_feature(
                name,
                profile,
                chunk.counters[name],
                metric,
                limits.for_feature(name, metric),
            )
            drift[name] = ChunkDrift(
                metric=metric,
                score=judged.score,
                threshold=judged.threshold,
                drifted=judged.drifted,
                reasons=judged.reasons,
            )
        start, end = chunking.bounds(key, chunk.first or 0, chunk.last)
        results.append(
            ChunkResult(
                start=start,
                end=end,
                rows=chunk.rows,
                scored_rows=chunk.performance.scored,
                labelled_rows=chunk.performance.labelled,
                drift=drift,
                performance=judge_performance(
                    plan.task,
                    model.reference if model is not None else None,
                    chunk.performance,
                    estimated=plan.estimate,
                    thresholds=limits.performance,
                ),
            )
        )
    return Timeline(
        chunks=results,
        task=plan.task,
        chunking=chunking.describe(),
        estimated=plan.estimate,
        note=plan.note,
        current=current_label,
        reference=reference_label,
        model=model.name if model is not None else "",
    )


def _groups(keys: np.ndarray) -> list[tuple[int, np.ndarray | slice]]:
    """Rows of each chunk key in a batch: slices when sorted, indices otherwise."""
    if not len(keys):
        return []
    if np.all(keys[1:] >= keys[:-1]):
        cuts = [0, *(np.flatnonzero(np.diff(keys)) + 1).tolist(), len(keys)]
        return [
            (int(keys[a]), slice(a, b))
            for a, b in zip(cuts[:-1], cuts[1:], strict=True)
        ]
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    cuts = [0, *(np.flatnonzero(np.diff(ordered)) + 1).tolist(), len(keys)]
    return [
        (int(ordered[a]), order[a:b]) for a, b in zip(cuts[:-1], cuts[1:], strict=True)
    ]


def _add(
    chunk: _Chunk,
    batch: Batch,
    rows: np.ndarray | slice,
    scored: ScoredBatch,
    features: Sequence[str],
    offset: int,
) -> None:
    """Count one chunk's rows of a batch."""
    if isinstance(rows, slice):
        count = rows.stop - rows.start
        positions = np.arange(rows.start, rows.stop)
        for name in features:
            chunk.counters[name].add(batch[name].slice(rows.start, count))
    else:
        count = len(rows)
        positions = rows
        taken = pa.array(rows)
        for name in features:
            chunk.counters[name].add(batch[name].take(taken))
    chunk.rows += count
    first, last = offset + int(positions.min()), offset + int(positions.max())
    chunk.first = first if chunk.first is None else min(chunk.first, first)
    chunk.last = max(chunk.last, last)
    chunk.performance.add(scored, rows)

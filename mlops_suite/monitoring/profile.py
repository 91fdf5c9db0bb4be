"""Histograms and category counts built batch by batch, in constant memory.

Drift compares two distributions per feature; this module builds them without
holding a column in memory. A numeric column is binned on fixed edges as its batches
go by (the reference's 20 equal-width bins from min to max, plus two open-ended bins
for values below the minimum and above the maximum); a categorical or boolean column
is a running count per value. Adding batches in any grouping gives the same counts,
so a folder of batch files equals one file and a small ``batch_rows`` equals a large
one.

A raw reference file becomes the same profile as ``statistics.json`` (the subset
drift needs) by :func:`profile_parts`, with the same edges (``numpy.linspace`` from
min to max) and the same top-100 frequencies, so a file and the statistics computed
from it at registration give the same drift scores.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from mlops_suite.artifacts import BOOLEAN, CATEGORICAL, NUMERIC
from mlops_suite.data.statistics import HISTOGRAM_BINS, MAX_FREQUENCIES, OTHER
from mlops_suite.errors import DataError
from mlops_suite.monitoring.sources import Part, Range

# Distinct values counted one by one per column; past this, new values are only
# counted in total (an ID column would otherwise grow without bound).
MAX_TRACKED_VALUES = 100_000
# Where the current data's values past MAX_TRACKED_VALUES are counted.
UNTRACKED = "__untracked__"
# Threads that count columns in parallel (numpy releases the GIL while binning).
MAX_THREADS = 4


def finite_numbers(array: pa.Array) -> np.ndarray:
    """Return the finite values of a numeric Arrow array as float64.

    Nulls, NaN and infinities are dropped: none of them is a value a model can use,
    so drift counts them as missing.

    Args:
        array: An integer, float, decimal or null Arrow array.

    Returns:
        A 1-D float64 array.
    """
    if pa.types.is_null(array.type):
        return np.empty(0, dtype=np.float64)
    if pa.types.is_decimal(array.type):
        array = pc.cast(array, pa.float64())
    numbers = np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)
    finite = np.isfinite(numbers)
    return numbers if finite.all() else numbers[finite]


class NumericCounter:
    """Counts a numeric column's values in fixed bins.

    ``counts`` has ``len(edges) + 1`` slots: values below ``edges[0]``, then one per
    bin (a value equal to an inner edge goes to the bin on its right, the maximum
    into the last bin, as ``numpy.histogram``), then values above ``edges[-1]``. A
    reference with a single value (all edges equal) keeps that value in the last bin,
    as the statistics do.

    Args:
        edges: Increasing bin edges; empty when the reference has no value, in which
            case only rows and missing values are counted.
    """

    def __init__(self, edges: npt.ArrayLike) -> None:
        self.edges = np.asarray(edges, dtype=np.float64)
        self.bins = max(len(self.edges) - 1, 0)
        self.counts = np.zeros(self.bins + 2 if self.bins else 0, dtype=np.int64)
        self.rows = 0
        self.values = 0
        self._uniform = False
        if self.bins:
            low, high = float(self.edges[0]), float(self.edges[-1])
            self._uniform = (
                low < high
                and math.isfinite(high - low)
                and np.array_equal(self.edges, np.linspace(low, high, self.bins + 1))
            )
            # Bounds of each slot (below, bins..., above) used to correct the few
            # values that rounding put one slot off: slot s holds lower[s] <= x <
            # upper[s], which is numpy.histogram's rule for the same edges.
            past_high = np.nextafter(high, np.inf)
            inner = self.edges[:-1]
            self._lower = np.concatenate([[-np.inf], inner, [past_high]])
            self._upper = np.concatenate([inner, [past_high, np.inf]])
            self._scale = self.bins / (high - low) if self._uniform else 0.0

    def add(self, array: pa.Array) -> None:
        """Count one batch of the column."""
        numbers = finite_numbers(array)
        self.rows += len(array)
        self.values += int(numbers.size)
        if not self.bins or not numbers.size:
            return
        if self._uniform:
            self.counts += self._uniform_slots(numbers)
            return
        low, high = float(self.edges[0]), float(self.edges[-1])
        below = int(np.count_nonzero(numbers < low))
        above = int(np.count_nonzero(numbers > high))
        self.counts[0] += below
        self.counts[-1] += above
        if low == high:
            self.counts[-2] += numbers.size - below - above
        else:
            kept = numbers[(numbers >= low) & (numbers <= high)]
            index = np.searchsorted(self.edges, kept, side="right") - 1
            index[kept == high] = self.bins - 1
            self.counts[1:-1] += np.bincount(index, minlength=self.bins)

    def _uniform_slots(self, numbers: np.ndarray) -> np.ndarray:
        # Arithmetic binning (a handful of vectorised passes, which release the GIL
        # so columns bin in parallel), then a one-slot correction against the
        # edges themselves so the counts equal numpy.histogram's exactly: a value
        # sitting on an edge must land where the registered statistics put it.
        position = numbers - self.edges[0]
        position *= self._scale
        np.clip(position, -1.0, float(self.bins), out=position)
        slot = position.astype(np.intp)
        slot += 1
        too_high = numbers < self._lower.take(slot)
        too_low = numbers >= self._upper.take(slot)
        slot -= too_high
        slot += too_low
        return np.bincount(slot, minlength=self.bins + 2)

    @property
    def missing(self) -> int:
        """Rows without a usable number."""
        return self.rows - self.values


class RangeScanner:
    """Finds the finite min and max of a numeric column batch by batch."""

    def __init__(self) -> None:
        self.low = math.inf
        self.high = -math.inf

    def add(self, array: pa.Array) -> None:
        """Widen the range with one batch."""
        numbers = finite_numbers(array)
        if numbers.size:
            self.low = min(self.low, float(numbers.min()))
            self.high = max(self.high, float(numbers.max()))

    @property
    def range(self) -> Range | None:
        """``(min, max)``, or ``None`` when no usable value was seen."""
        return (self.low, self.high) if self.low <= self.high else None


class ValueCounter:
    """Counts a categorical or boolean column's values as text.

    Values are counted under their text form (``"true"``/``"false"`` for booleans,
    ``str(value)`` otherwise, as the statistics do). Values in ``known`` are always
    counted one by one; others until :data:`MAX_TRACKED_VALUES` distinct values
    have been seen, after which new ones are summed under :data:`UNTRACKED`.

    Args:
        known: Values to track whatever the number of distinct values.
    """

    def __init__(self, known: Iterable[str] = ()) -> None:
        self.known = frozenset(known)
        self.counts: dict[str, int] = {}
        self.rows = 0
        self.values = 0

    def add(self, array: pa.Array) -> None:
        """Count one batch of the column."""
        self.rows += len(array)
        if pa.types.is_null(array.type):
            return
        present = len(array) - array.null_count
        self.values += present
        if not present:
            return
        if pa.types.is_boolean(array.type):
            trues = int(pc.sum(array).as_py() or 0)
            self._count("true", trues)
            self._count("false", present - trues)
        elif pa.types.is_dictionary(array.type):
            codes = array.indices.drop_null().to_numpy(zero_copy_only=False)
            tally = np.bincount(codes, minlength=len(array.dictionary))
            words = array.dictionary.to_pylist()
            for code in np.flatnonzero(tally):
                self._count(_text(words[code]), int(tally[code]))
        else:
            tally = pc.value_counts(array.drop_null())
            words = tally.field("values").to_pylist()
            numbers = tally.field("counts").to_numpy()
            for word, number in zip(words, numbers, strict=True):
                self._count(_text(word), int(number))

    def _count(self, word: str, number: int) -> None:
        if not number:
            return
        if word in self.counts:
            self.counts[word] += number
        elif word in self.known or len(self.counts) < MAX_TRACKED_VALUES:
            self.counts[word] = number
        else:
            self.counts[UNTRACKED] = self.counts.get(UNTRACKED, 0) + number

    @property
    def missing(self) -> int:
        """Rows without a value."""
        return self.rows - self.values


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def top_frequencies(counts: dict[str, int]) -> dict[str, int]:
    """Keep the 100 most frequent values (ties by value), the rest under OTHER.

    Args:
        counts: Value → count; values summed under UNTRACKED join OTHER.

    Returns:
        The frequencies as ``statistics.json`` stores them.
    """
    ranked = sorted(
        ((word, number) for word, number in counts.items() if word != UNTRACKED),
        key=lambda item: (-item[1], item[0]),
    )
    kept = dict(ranked[:MAX_FREQUENCIES])
    rest = sum(number for _, number in ranked[MAX_FREQUENCIES:])
    rest += counts.get(UNTRACKED, 0)
    if rest:
        kept[OTHER] = kept.get(OTHER, 0) + rest
    return kept


ColumnCounter = NumericCounter | ValueCounter


def count_batches(
    parts: Sequence[Part], counters: Mapping[str, ColumnCounter], *, batch_rows: int
) -> int:
    """Feed every batch of the parts to the counters; return the number of rows.

    Columns of a batch are counted in parallel threads while Arrow decodes the next
    batch: binning is a few vectorised numpy passes that release the GIL, so on a
    multi-core machine counting costs little more than reading. Each counter sees
    its batches one at a time and in order.

    Args:
        parts: The table's parts.
        counters: Column name → counter; every column is read.
        batch_rows: Rows per batch.

    Returns:
        The number of rows read.
    """
    columns = list(counters)
    rows = 0
    workers = max(1, min(len(columns), os.cpu_count() or 1, MAX_THREADS))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: list[Future[None]] = []
        for part in parts:
            for batch in part.batches(columns, batch_rows):
                # Wait for the previous batch so a counter never runs twice at once.
                for job in pending:
                    job.result()
                rows += len(batch[columns[0]])
                pending = [pool.submit(counters[c].add, batch[c]) for c in columns]
        for job in pending:
            job.result()
    return rows


def merged_kinds(
    parts: Sequence[Part], columns: Sequence[str], *, role: str
) -> dict[str, str]:
    """Check every part has the columns with one kind, and return the kinds.

    A column that is empty in every part (Arrow type ``null``) is categorical, as
    the statistics classify an all-missing text column.

    Raises:
        DataError: A part lacks a column, or two parts disagree on its kind.
    """
    found: dict[str, tuple[str, str]] = {}
    for part in parts:
        names = set(part.names())
        for name in columns:
            if name not in names:
                raise DataError(
                    f"column '{name}' is missing from the {role} data "
                    f"'{part.label}'; expected it in every file"
                )
        for name, kind in part.kinds(columns).items():
            if kind is None:
                continue
            if name in found and found[name][0] != kind:
                raise DataError(
                    f"column '{name}' is {found[name][0]} in '{found[name][1]}' but "
                    f"{part.describe(name)} in '{part.label}'; expected one type in "
                    f"every {role} file"
                )
            found.setdefault(name, (kind, part.label))
    return {name: found.get(name, (CATEGORICAL, ""))[0] for name in columns}


def profile_parts(
    parts: Sequence[Part], columns: Sequence[str], *, batch_rows: int, role: str
) -> dict[str, Any]:
    """Profile columns of a raw table in the ``statistics.json`` format.

    Numeric columns get ``count``, ``missing``, ``missing_fraction``, ``min``,
    ``max`` and the 20-bin ``histogram``; categorical and boolean columns get
    ``count``, ``missing``, ``missing_fraction`` and ``frequencies`` (categorical:
    also ``unique``). Quantiles, mean and std are not computed. The min and max come
    from the Parquet footers when every row group records them, otherwise from one
    extra pass; the counts take one pass.

    Args:
        parts: The table's parts.
        columns: Columns to profile.
        batch_rows: Rows per batch read.
        role: ``"reference"`` or ``"current"``, for messages.

    Returns:
        ``{"num_rows": int, "columns": [...]}`` for the given columns, in order.
    """
    kinds = merged_kinds(parts, columns, role=role)
    numeric = [name for name in columns if kinds[name] == NUMERIC]
    ranges = _numeric_ranges(parts, numeric, batch_rows)
    counters: dict[str, ColumnCounter] = {}
    for name in columns:
        if kinds[name] == NUMERIC:
            bounds = ranges[name]
            edges = (
                np.linspace(bounds[0], bounds[1], HISTOGRAM_BINS + 1)
                if bounds is not None
                else np.empty(0)
            )
            counters[name] = NumericCounter(edges)
        else:
            counters[name] = ValueCounter()
    rows = count_batches(parts, counters, batch_rows=batch_rows)
    return {
        "num_rows": rows,
        "columns": [
            _column_profile(name, kinds[name], counters[name], rows) for name in columns
        ],
    }


def _numeric_ranges(
    parts: Sequence[Part], columns: Sequence[str], batch_rows: int
) -> dict[str, Range | None]:
    scanners = {name: RangeScanner() for name in columns}
    for part in parts:
        known = part.ranges(columns)
        unknown = [name for name in columns if name not in known]
        for name, bounds in known.items():
            if bounds is not None:
                scanners[name].low = min(scanners[name].low, bounds[0])
                scanners[name].high = max(scanners[name].high, bounds[1])
        if unknown:
            for batch in part.batches(unknown, batch_rows):
                for name in unknown:
                    scanners[name].add(batch[name])
    return {name: scanner.range for name, scanner in scanners.items()}


def _column_profile(
    name: str, kind: str, counter: NumericCounter | ValueCounter, rows: int
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "type": kind,
        "count": counter.values,
        "missing": counter.missing,
        "missing_fraction": counter.missing / rows if rows else 0.0,
    }
    if isinstance(counter, NumericCounter):
        if counter.bins:
            entry["min"] = float(counter.edges[0])
            entry["max"] = float(counter.edges[-1])
            entry["histogram"] = {
                "edges": [float(edge) for edge in counter.edges],
                "counts": [int(count) for count in counter.counts[1:-1]],
            }
        else:
            entry["min"] = entry["max"] = None
            entry["histogram"] = {"edges": [], "counts": []}
        return entry
    if kind == BOOLEAN:
        entry["frequencies"] = {
            "true": counter.counts.get("true", 0),
            "false": counter.counts.get("false", 0),
        }
    else:
        entry["unique"] = len(counter.counts)
        entry["frequencies"] = top_frequencies(counter.counts)
    return entry

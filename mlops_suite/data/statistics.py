"""Summary statistics of a table: the profile people read and drift is measured against.

The output is the ``statistics.json`` format of the project contracts. Monitoring
compares live traffic with it, so its shape is fixed: one entry per column, in column
order, with the same keys for every column of a kind, and no NaN (``null`` instead).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from mlops_suite.artifacts import BOOLEAN, NUMERIC
from mlops_suite.data.kinds import column_kind, to_numbers

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
# The histogram and frequency contract, defined here only: monitoring profiles a raw
# reference file with the same edges and the same top values (see
# mlops_suite.monitoring.profile), so drift scores agree whichever it was given.
HISTOGRAM_BINS = 20
# Frequencies keep this many most frequent values; the rest are summed as OTHER.
MAX_FREQUENCIES = 100
OTHER = "__other__"


def compute_statistics(df: pd.DataFrame) -> dict[str, Any]:
    """Profile every column of a table.

    Every column has ``name``, ``type``, ``dtype``, ``count``, ``missing`` and
    ``missing_fraction``. ``missing`` counts empty cells; ``count`` counts usable
    values, so for a numeric column stored as text ``num_rows - count - missing`` is
    the number of values that are not finite numbers. Numeric columns add ``min``,
    ``max``, ``mean``, ``std`` (sample, as pandas), ``quantiles`` (linear, as pandas)
    and a 20-bin equal-width ``histogram`` from min to max (a constant column puts
    every value in the last bin). Categorical columns add ``unique`` and
    ``frequencies`` (the 100 most frequent values as strings, ties by value, the rest
    under ``"__other__"``); boolean columns add ``frequencies`` with ``"true"`` and
    ``"false"``. A column with no values keeps its entry, with ``null`` statistics.

    Args:
        df: The table.

    Returns:
        ``{"num_rows": int, "columns": [...]}``, JSON-serializable.
    """
    return {
        "num_rows": len(df),
        "columns": [_column_statistics(str(name), df[name]) for name in df.columns],
    }


def _column_statistics(name: str, series: pd.Series) -> dict[str, Any]:
    kind = column_kind(series)
    present = series.notna()
    missing = int((~present).sum())
    entry: dict[str, Any] = {
        "name": name,
        "type": kind,
        "dtype": str(series.dtype),
        "missing": missing,
        "missing_fraction": missing / len(series) if len(series) else 0.0,
    }
    if kind == NUMERIC:
        numbers = to_numbers(series).dropna().to_numpy(dtype="float64")
        entry["count"] = int(numbers.size)
        entry.update(_numeric_summary(numbers))
    elif kind == BOOLEAN:
        values = series[present].map(bool)
        trues = int(values.sum())
        entry["count"] = int(values.size)
        entry["frequencies"] = {"true": trues, "false": int(values.size) - trues}
    else:
        values = series[present]
        entry["count"] = int(values.size)
        counts = values.astype(str).value_counts()
        entry["unique"] = int(counts.size)
        entry["frequencies"] = _frequencies(counts)
    return _ordered(entry)


def _numeric_summary(numbers: np.ndarray) -> dict[str, Any]:
    keys = [str(q) for q in QUANTILES]
    if numbers.size == 0:
        return {
            "min": None,
            "max": None,
            "mean": None,
            "std": None,
            "quantiles": dict.fromkeys(keys),
            "histogram": {"edges": [], "counts": []},
        }
    low, high = float(numbers.min()), float(numbers.max())
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
    if low == high:
        counts = np.zeros(HISTOGRAM_BINS, dtype=int)
        counts[-1] = numbers.size
    else:
        counts, _ = np.histogram(numbers, bins=edges)
    return {
        "min": low,
        "max": high,
        "mean": _finite(numbers.mean()),
        "std": _finite(numbers.std(ddof=1)) if numbers.size > 1 else None,
        "quantiles": dict(
            zip(
                keys, (_finite(q) for q in np.quantile(numbers, QUANTILES)), strict=True
            )
        ),
        "histogram": {
            "edges": [float(edge) for edge in edges],
            "counts": [int(count) for count in counts],
        },
    }


def _frequencies(counts: pd.Series) -> dict[str, int]:
    # value_counts breaks ties arbitrarily; sort by (-count, value) for stable output.
    ranked = sorted(counts.items(), key=lambda item: (-int(item[1]), str(item[0])))
    kept = {str(value): int(count) for value, count in ranked[:MAX_FREQUENCIES]}
    rest = sum(int(count) for _, count in ranked[MAX_FREQUENCIES:])
    if rest:
        kept[OTHER] = rest
    return kept


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


_KEY_ORDER = ("name", "type", "dtype", "count", "missing", "missing_fraction")


def _ordered(entry: dict[str, Any]) -> dict[str, Any]:
    """Put the common keys first, as in the contract, so the JSON reads the same."""
    head = {key: entry[key] for key in _KEY_ORDER}
    return head | {key: value for key, value in entry.items() if key not in head}

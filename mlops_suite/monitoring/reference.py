"""The reference side of a drift check: a ``statistics.json`` profile, read and checked.

The reference is the statistics profile registered with the model (or the same
profile computed from a raw reference table by :func:`~.profile.profile_parts`).
Each compared column becomes a :class:`ReferenceColumn`: its histogram on fixed
edges (numeric) or its value counts (categorical, boolean), checked once so the
comparison can trust it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import fsspec
import numpy as np
import pandas as pd

from mlops_suite.artifacts import FEATURE_TYPES, NUMERIC
from mlops_suite.errors import DataError


def is_statistics_file(reference: Any) -> bool:
    """Whether a reference argument names a ``statistics.json`` file (``.json``)."""
    if isinstance(reference, Mapping | pd.DataFrame):
        return False
    return os.fspath(reference).lower().endswith(".json")


def read_statistics(location: str) -> dict[str, Any]:
    """Read a ``statistics.json`` file, local or behind an fsspec URI.

    Raises:
        DataError: The file cannot be read as JSON, or holds no JSON object.
    """
    try:
        with fsspec.open(location, "r", encoding="utf-8") as handle:
            payload = json.load(handle)
    except (OSError, ValueError) as exc:
        raise DataError(
            f"the reference statistics '{location}' cannot be read as JSON ({exc}); "
            "expected a statistics.json file"
        ) from exc
    if not isinstance(payload, dict):
        raise DataError(
            f"the reference statistics '{location}' holds {type(payload).__name__}; "
            "expected the statistics.json object"
        )
    return payload


@dataclass(frozen=True)
class ReferenceColumn:
    """One column of the reference profile, checked and ready to compare.

    Attributes:
        name: Column name.
        kind: ``numeric``, ``categorical`` or ``boolean``.
        rows: Rows of the reference.
        values: Rows with a usable value.
        edges: Numeric: the histogram's bin edges, min to max (else empty).
        counts: Numeric: the count per bin (else empty).
        frequencies: Categorical and boolean: the count per value, rare values
            possibly summed under ``__other__`` (else empty).
    """

    name: str
    kind: str
    rows: int
    values: int
    edges: np.ndarray
    counts: np.ndarray
    frequencies: dict[str, int]

    @property
    def missing_rate(self) -> float:
        """Share of reference rows without a usable value."""
        return 1.0 - self.values / self.rows if self.rows else 0.0

    @classmethod
    def from_statistics(
        cls, entry: Mapping[str, Any], rows: int, source: str
    ) -> ReferenceColumn:
        """Read and check one ``columns`` entry of a ``statistics.json`` profile.

        Args:
            entry: The column's entry.
            rows: The profile's ``num_rows``.
            source: What the profile is, for messages.

        Returns:
            The column.

        Raises:
            DataError: The entry has an unknown type, a malformed histogram
                (numeric) or no frequencies (categorical, boolean).
        """
        name = str(entry.get("name"))
        kind = entry.get("type")
        if kind not in FEATURE_TYPES:
            raise DataError(
                f"column '{name}' of {source} has type {kind!r}; expected one of "
                f"{list(FEATURE_TYPES)}"
            )
        values = entry.get("count")
        if values is None:
            values = rows - int(entry.get("missing") or 0)
        edges = np.empty(0)
        counts = np.empty(0, dtype=np.int64)
        frequencies: dict[str, int] = {}
        if kind == NUMERIC:
            histogram = entry.get("histogram") or {}
            edges = np.asarray(histogram.get("edges") or [], dtype=np.float64)
            counts = np.asarray(histogram.get("counts") or [], dtype=np.int64)
            shape_ok = (edges.size == counts.size + 1) or (
                edges.size == counts.size == 0
            )
            if not shape_ok or (int(values) > 0 and counts.size == 0):
                raise DataError(
                    f"column '{name}' of {source} has {edges.size} histogram edges "
                    f"and {counts.size} counts; expected edges = counts + 1"
                )
            if edges.size and np.any(np.diff(edges) < 0):
                raise DataError(
                    f"column '{name}' of {source} has decreasing histogram edges; "
                    "expected them sorted from min to max"
                )
        else:
            given = entry.get("frequencies")
            if not isinstance(given, Mapping):
                raise DataError(
                    f"column '{name}' of {source} has no 'frequencies'; expected "
                    "value counts for a categorical or boolean column"
                )
            frequencies = {str(word): int(number) for word, number in given.items()}
        return cls(
            name=name,
            kind=str(kind),
            rows=rows,
            values=int(values),
            edges=edges,
            counts=counts,
            frequencies=frequencies,
        )


def statistics_columns(
    statistics: Mapping[str, Any], source: str
) -> dict[str, Mapping[str, Any]]:
    """The ``columns`` entries of a ``statistics.json`` profile, by name.

    Args:
        statistics: The profile.
        source: What the profile is, for messages.

    Returns:
        Column name -> its entry, in profile order.

    Raises:
        DataError: The profile has no ``num_rows`` or no ``columns`` list.
    """
    columns = statistics.get("columns")
    if (
        not isinstance(columns, list)
        or not all(isinstance(entry, Mapping) for entry in columns)
        or "num_rows" not in statistics
    ):
        raise DataError(
            f"{source} has no 'num_rows' and 'columns' list; expected the "
            "statistics.json format"
        )
    return {str(entry.get("name")): entry for entry in columns}

"""How a monitoring timeline cuts rows into chunks: by count, or by period of time.

* ``Chunking(size=N)``: rows ``0..N-1`` in read order (files in path order, rows in
  file order) are chunk 0, the next N chunk 1, and so on; the last chunk may be
  smaller.
* ``Chunking(period="1D", timestamp_column="received_at")``: rows fall into the
  period holding their timestamp, whatever order they are read in. A fixed span
  (``1D``, ``6h``, ``30min``, any ``pandas.Timedelta`` text) cuts UTC time into
  equal periods from the Unix epoch, so ``1D`` chunks are UTC days; ``W``, ``M``,
  ``Q`` and ``Y`` are calendar weeks (Monday to Sunday), months, quarters and
  years. Naive timestamps count as UTC.

Each chunk has an integer key; :meth:`Chunking.keys` gives every row of a batch its
key and :meth:`Chunking.bounds` turns a key back into the chunk's start and end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from mlops_suite.errors import DataError, MlopsError
from mlops_suite.monitoring.payloads.columns import RECEIVED_AT_COLUMN
from mlops_suite.monitoring.sources import Batch

# Calendar periods, which have no fixed length.
CALENDAR_PERIODS = ("W", "M", "Q", "Y")


@dataclass(frozen=True)
class Chunking:
    """How to cut the rows: exactly one of ``size`` and ``period``.

    Attributes:
        size: Rows per chunk.
        period: A fixed span such as ``1D`` or ``6h``, or ``W``, ``M``, ``Q``, ``Y``.
        timestamp_column: The column holding each row's time (with ``period``).

    Raises:
        MlopsError: Neither or both of ``size`` and ``period`` are given, ``size``
            is not a positive whole number, or ``period`` is not understood.
    """

    size: int | None = None
    period: str | None = None
    timestamp_column: str = RECEIVED_AT_COLUMN

    def __post_init__(self) -> None:
        if (self.size is None) == (self.period is None):
            raise MlopsError("give exactly one of --chunk-size and --chunk-period")
        if self.size is not None and (
            isinstance(self.size, bool)
            or not isinstance(self.size, int)
            or self.size < 1
        ):
            raise MlopsError(
                f"--chunk-size is {self.size!r}; expected a whole number of rows of "
                "at least 1"
            )
        if self.period is not None:
            self._span()  # fails early on a period it cannot use

    def _span(self) -> int | None:
        """The period's length in nanoseconds; None for a calendar period."""
        text = str(self.period).strip()
        if text.upper() in CALENDAR_PERIODS:
            return None
        try:
            span = pd.Timedelta(text)
        except (ValueError, TypeError):
            span = None
        if span is None or span <= pd.Timedelta(0):
            raise MlopsError(
                f"--chunk-period is {self.period!r}; expected a span such as 1D, 6h "
                f"or 30min, or one of {', '.join(CALENDAR_PERIODS)}"
            )
        return int(span.value)

    @property
    def columns(self) -> list[str]:
        """The columns chunking reads."""
        return [self.timestamp_column] if self.period is not None else []

    def describe(self) -> str:
        """How the rows were cut, for reports."""
        if self.size is not None:
            return f"every {self.size:,} rows"
        return f"per {self.period} of '{self.timestamp_column}'"

    def keys(self, batch: Batch, offset: int, label: str) -> np.ndarray:
        """The chunk key of every row of a batch.

        Args:
            batch: The batch's columns.
            offset: Rows read before it.
            label: Its file, for messages.

        Returns:
            One int64 key per row.

        Raises:
            DataError: A timestamp is missing or not a time.
        """
        if self.size is not None:
            rows = len(next(iter(batch.values())))
            return (offset + np.arange(rows, dtype=np.int64)) // self.size
        times = _utc_nanoseconds(
            batch[self.timestamp_column], self.timestamp_column, label
        )
        span = self._span()
        if span is not None:
            return times // span
        stamps = pd.to_datetime(times, unit="ns")
        return np.asarray(stamps.to_period(self._calendar()).asi8, dtype=np.int64)

    def bounds(self, key: int, first: int, last: int) -> tuple[Any, Any]:
        """A chunk's start and end.

        Args:
            key: The chunk's key.
            first: Its first row, in read order.
            last: Its last row.

        Returns:
            ``(first, last)`` rows for chunks by size; for chunks by period the
            period's start and end as ISO UTC times (the end excluded).
        """
        if self.size is not None:
            return first, last
        span = self._span()
        if span is not None:
            start = pd.Timestamp(key * span, unit="ns", tz="UTC")
            end = pd.Timestamp((key + 1) * span, unit="ns", tz="UTC")
        else:
            period = pd.Period(ordinal=key, freq=self._calendar())
            start = period.start_time.tz_localize("UTC")
            end = (period + 1).start_time.tz_localize("UTC")
        return start.isoformat(), end.isoformat()

    def _calendar(self) -> str:
        return str(self.period).strip().upper()


def _utc_nanoseconds(array: pa.Array, column: str, label: str) -> np.ndarray:
    """Each row's time as nanoseconds since the epoch, UTC."""
    values = array.to_pandas()
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
        values.dtype
    ):
        raise DataError(
            f"column '{column}' of '{label}' holds numbers; expected times (a "
            "timestamp column or ISO 8601 text) to cut chunks by period"
        )
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        stamps = pd.to_datetime(values, utc=True)
    else:
        stamps = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    bad = stamps.isna()
    if bad.any():
        example = values[bad].iloc[0]
        raise DataError(
            f"column '{column}' of '{label}' has {int(bad.sum())} row(s) without a "
            f"readable time (e.g. {example!r}); expected a time on every row to cut "
            "chunks by period"
        )
    return np.asarray(stamps.dt.as_unit("ns").astype("int64"), dtype=np.int64)

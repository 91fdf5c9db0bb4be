"""Read tables for monitoring in bounded batches: Parquet files or folders, CSV, frames.

Live traffic arrives as Parquet batch files written by the request logger's sink and
grows without limit, so nothing here loads a whole file: a source is a list of
*parts* (one per file, or one in-memory frame) and each part yields its columns in
batches of at most ``batch_rows`` rows, read with
``pyarrow.parquet.ParquetFile.iter_batches`` for Parquet and Arrow's streaming reader
for CSV.

A column's kind is one of the project's three (numeric, categorical, boolean) and,
for Parquet and frames, comes from the Arrow type, so checking a 10M-row file costs
one footer read: integers, floats and decimals are numeric, ``bool`` is boolean, and
everything else (strings, dictionaries such as pandas ``category``, dates) is
categorical. A column of Arrow type ``null`` (a batch in which it was always empty)
has no kind and fits any reference. CSV holds only text, so a CSV part is scanned
once to classify its columns by the rule of :mod:`mlops_suite.data.kinds`: only
``true``/``false`` is boolean, at least 95 % finite numbers is numeric (the other
values then count as missing), anything else is categorical.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from mlops_suite.artifacts import BOOLEAN, CATEGORICAL, NUMERIC
from mlops_suite.data.kinds import NUMERIC_TEXT_SHARE
from mlops_suite.errors import DataError

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".tsv", ".tab")
_TAB_SUFFIXES = (".tsv", ".tab")
# Bytes buffered per Parquet column while reading.
_READ_BUFFER_BYTES = 1 << 20
# Bytes per CSV block: the streaming reader holds about one block at a time.
_CSV_BLOCK_BYTES = 4 << 20
_BOOL_WORDS = ("true", "false")

Range = tuple[float, float]
Batch = dict[str, pa.Array]


def arrow_kind(data_type: pa.DataType) -> str | None:
    """Map an Arrow type to a column kind.

    Args:
        data_type: The Arrow type of a column.

    Returns:
        ``artifacts.NUMERIC``, ``CATEGORICAL`` or ``BOOLEAN``; ``None`` for the Arrow
        ``null`` type, whose column holds no value and so fits any kind.
    """
    if pa.types.is_null(data_type):
        return None
    if pa.types.is_boolean(data_type):
        return BOOLEAN
    if (
        pa.types.is_integer(data_type)
        or pa.types.is_floating(data_type)
        or pa.types.is_decimal(data_type)
    ):
        return NUMERIC
    return CATEGORICAL


def _is_text(data_type: pa.DataType) -> bool:
    return (
        pa.types.is_string(data_type)
        or pa.types.is_large_string(data_type)
        or pa.types.is_string_view(data_type)
    )


def describe_kind(kind: str | None, data_type: pa.DataType | str) -> str:
    """A column's kind and storage type as messages show it: ``text (string)``."""
    if kind == CATEGORICAL and isinstance(data_type, pa.DataType):
        word = "text" if _is_text(data_type) else "categorical"
        return f"{word} ({data_type})"
    return f"{kind or 'empty'} ({data_type})"


@dataclass
class Part:
    """One file, or one in-memory frame, of a source.

    Attributes:
        label: How messages name it: a path, a URI or ``the given DataFrame``.
    """

    label: str

    def names(self) -> list[str]:
        """Every column name, in file order."""
        raise NotImplementedError

    def kinds(self, columns: Sequence[str]) -> dict[str, str | None]:
        """The kind of each of ``columns`` (all must exist); ``None`` when empty."""
        raise NotImplementedError

    def describe(self, column: str) -> str:
        """The column's kind and storage type, for error messages."""
        raise NotImplementedError

    def num_rows(self) -> int:
        """Number of rows."""
        raise NotImplementedError

    def ranges(self, columns: Sequence[str]) -> dict[str, Range | None]:
        """Finite min and max of numeric columns, when known without a scan.

        Args:
            columns: Numeric columns.

        Returns:
            ``{column: (min, max)}``, ``None`` for a column without a usable value;
            columns whose range is not known are left out and must be scanned.
        """
        return {}

    def batches(self, columns: Sequence[str], batch_rows: int) -> Iterator[Batch]:
        """Yield ``{column: array}`` for batches of at most ``batch_rows`` rows."""
        raise NotImplementedError


@dataclass
class ParquetPart(Part):
    """A Parquet file, local or behind an fsspec URI."""

    fs: Any = None
    path: str = ""
    _metadata: pq.FileMetaData | None = field(default=None, repr=False)
    _schema: pa.Schema | None = field(default=None, repr=False)

    def _source(self) -> Any:
        # A local path lets Arrow read with its own I/O; other filesystems go
        # through a Python file object.
        if isinstance(self.fs, LocalFileSystem):
            return self.path
        return self.fs.open(self.path, "rb")

    def _read_footer(self) -> None:
        if self._metadata is not None:
            return
        try:
            handle = pq.ParquetFile(self._source())
        except (pa.ArrowException, OSError) as exc:
            raise DataError(
                f"'{self.label}' is not a readable Parquet file ({exc}); expected "
                "Parquet batch files"
            ) from exc
        self._metadata = handle.metadata
        self._schema = handle.schema_arrow
        handle.close()

    def names(self) -> list[str]:
        self._read_footer()
        assert self._schema is not None
        return list(self._schema.names)

    def _type(self, column: str) -> pa.DataType:
        self._read_footer()
        assert self._schema is not None
        return self._schema.field(column).type

    def kinds(self, columns: Sequence[str]) -> dict[str, str | None]:
        return {name: arrow_kind(self._type(name)) for name in columns}

    def describe(self, column: str) -> str:
        data_type = self._type(column)
        return describe_kind(arrow_kind(data_type), data_type)

    def num_rows(self) -> int:
        self._read_footer()
        assert self._metadata is not None
        return int(self._metadata.num_rows)

    def ranges(self, columns: Sequence[str]) -> dict[str, Range | None]:
        """Read the ranges from the row groups' footer statistics.

        A column gets a range only when every row group records a finite integer or
        float min and max (or holds only nulls). Writers leave NaN out of these
        statistics, and drift counts NaN as missing, so the range is the same one a
        scan of the values would find.
        """
        self._read_footer()
        metadata = self._metadata
        assert metadata is not None
        leaves = {
            metadata.schema.column(i).path: i for i in range(metadata.num_columns)
        }
        known: dict[str, Range | None] = {}
        for name in columns:
            data_type = self._type(name)
            usable = pa.types.is_integer(data_type) or pa.types.is_floating(data_type)
            if usable and name in leaves:
                found, bounds = _footer_range(metadata, leaves[name])
                if found:
                    known[name] = bounds
        return known

    def batches(self, columns: Sequence[str], batch_rows: int) -> Iterator[Batch]:
        # Text read as dictionaries lets categories be counted from small integer
        # codes instead of hashing every string of every row.
        text = [name for name in columns if _is_text(self._type(name))]
        try:
            # pre_buffer keeps every row group's raw bytes until the file is closed
            # (memory grows with the file); a buffered stream holds 1 MiB per column.
            handle = pq.ParquetFile(
                self._source(),
                read_dictionary=text,
                pre_buffer=False,
                buffer_size=_READ_BUFFER_BYTES,
            )
            with handle:
                for batch in handle.iter_batches(
                    batch_size=batch_rows, columns=list(columns)
                ):
                    yield {name: batch.column(name) for name in columns}
        except (pa.ArrowException, OSError) as exc:
            raise DataError(
                f"'{self.label}' could not be read ({exc}); expected a complete "
                "Parquet file"
            ) from exc


def _footer_range(metadata: pq.FileMetaData, leaf: int) -> tuple[bool, Range | None]:
    """Combine one column's row-group statistics into ``(usable, range)``."""
    low, high = math.inf, -math.inf
    for group in range(metadata.num_row_groups):
        chunk = metadata.row_group(group).column(leaf)
        stats = chunk.statistics
        if stats is None:
            return False, None
        if stats.has_null_count and stats.null_count == chunk.num_values:
            continue
        if not stats.has_min_max:
            return False, None
        lo, hi = stats.min, stats.max
        if isinstance(lo, bool) or not isinstance(lo, int | float):
            return False, None
        if isinstance(hi, bool) or not isinstance(hi, int | float):
            return False, None
        if not (math.isfinite(float(lo)) and math.isfinite(float(hi))):
            return False, None
        low, high = min(low, float(lo)), max(high, float(hi))
    return True, ((low, high) if low <= high else None)


@dataclass
class _CsvColumnScan:
    present: int = 0
    numbers: int = 0
    booleans: int = 0
    low: float = math.inf
    high: float = -math.inf


@dataclass
class CsvPart(Part):
    """A CSV (or tab-separated) file, read as text and classified by a scan."""

    fs: Any = None
    path: str = ""
    _names: list[str] | None = field(default=None, repr=False)
    _kinds: dict[str, str | None] = field(default_factory=dict, repr=False)
    _ranges: dict[str, Range | None] = field(default_factory=dict, repr=False)
    _rows: int | None = field(default=None, repr=False)

    def _reader(self, columns: Sequence[str] | None) -> pacsv.CSVStreamingReader:
        delimiter = (
            "\t" if PurePosixPath(self.path).suffix.lower() in _TAB_SUFFIXES else ","
        )
        convert = pacsv.ConvertOptions(strings_can_be_null=True)
        if columns is not None:
            convert = pacsv.ConvertOptions(
                column_types=dict.fromkeys(columns, pa.string()),
                include_columns=list(columns),
                strings_can_be_null=True,
            )
        try:
            return pacsv.open_csv(
                self.fs.open(self.path, "rb"),
                read_options=pacsv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
                parse_options=pacsv.ParseOptions(delimiter=delimiter),
                convert_options=convert,
            )
        except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
            raise DataError(
                f"'{self.label}' is not a readable CSV file ({exc}); expected a "
                "UTF-8 table with a header row"
            ) from exc

    def names(self) -> list[str]:
        if self._names is None:
            reader = self._reader(None)
            self._names = list(reader.schema.names)
            reader.close()
        return self._names

    def _text_batches(self, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
        reader = self._reader(columns)
        try:
            yield from reader
        except (pa.ArrowException, UnicodeDecodeError) as exc:
            raise DataError(
                f"'{self.label}' could not be read ({exc}); expected the same number "
                "of fields on every row"
            ) from exc
        finally:
            reader.close()

    def _scan(self, columns: Sequence[str]) -> None:
        todo = [name for name in columns if name not in self._kinds]
        if not todo:
            return
        scans = {name: _CsvColumnScan() for name in todo}
        rows = 0
        for batch in self._text_batches(todo):
            rows += batch.num_rows
            for name in todo:
                _scan_text(scans[name], batch.column(name))
        self._rows = rows
        for name, scan in scans.items():
            self._kinds[name] = _text_kind(scan)
            if self._kinds[name] == NUMERIC:
                self._ranges[name] = (
                    (scan.low, scan.high) if scan.low <= scan.high else None
                )

    def kinds(self, columns: Sequence[str]) -> dict[str, str | None]:
        self._scan(columns)
        return {name: self._kinds[name] for name in columns}

    def describe(self, column: str) -> str:
        self._scan([column])
        return describe_kind(self._kinds[column], "CSV text")

    def num_rows(self) -> int:
        if self._rows is None:
            self._scan(self.names()[:1])
        assert self._rows is not None
        return self._rows

    def ranges(self, columns: Sequence[str]) -> dict[str, Range | None]:
        self._scan(columns)
        return {name: self._ranges[name] for name in columns if name in self._ranges}

    def batches(self, columns: Sequence[str], batch_rows: int) -> Iterator[Batch]:
        kinds = self.kinds(columns)
        for batch in self._text_batches(columns):
            for start in range(0, batch.num_rows, batch_rows):
                chunk = batch.slice(start, batch_rows)
                yield {
                    name: _convert_text(chunk.column(name), kinds[name])
                    for name in columns
                }


def _scan_text(scan: _CsvColumnScan, array: pa.Array) -> None:
    present = array.drop_null()
    scan.present += len(present)
    if not len(present):
        return
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(present))
    scan.booleans += int(pc.sum(pc.is_in(lowered, pa.array(_BOOL_WORDS))).as_py() or 0)
    numbers = _parse_numbers(present)
    finite = numbers[np.isfinite(numbers)]
    scan.numbers += int(finite.size)
    if finite.size:
        scan.low = min(scan.low, float(finite.min()))
        scan.high = max(scan.high, float(finite.max()))


def _text_kind(scan: _CsvColumnScan) -> str | None:
    if scan.present == 0:
        return None
    if scan.booleans == scan.present:
        return BOOLEAN
    if scan.numbers / scan.present >= NUMERIC_TEXT_SHARE:
        return NUMERIC
    return CATEGORICAL


def _parse_numbers(array: pa.Array) -> np.ndarray:
    """Parse text as float64; what is not a number (or is missing) becomes NaN."""
    values = pd.Series(array.to_numpy(zero_copy_only=False), dtype=object)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")


def _convert_text(array: pa.Array, kind: str | None) -> pa.Array:
    if kind == NUMERIC:
        numbers = _parse_numbers(array)
        return pa.array(numbers, mask=~np.isfinite(numbers), type=pa.float64())
    if kind == BOOLEAN:
        lowered = pc.utf8_lower(pc.utf8_trim_whitespace(array))
        return pc.equal(lowered, pa.scalar("true"))
    return array


@dataclass
class FramePart(Part):
    """A pandas DataFrame already in memory."""

    frame: pd.DataFrame = field(default_factory=pd.DataFrame)
    _arrays: dict[str, pa.Array] = field(default_factory=dict, repr=False)

    def names(self) -> list[str]:
        return [str(name) for name in self.frame.columns]

    def _array(self, column: str) -> pa.Array:
        if column not in self._arrays:
            try:
                self._arrays[column] = pa.array(self.frame[column], from_pandas=True)
            except (pa.ArrowException, TypeError, ValueError) as exc:
                raise DataError(
                    f"column '{column}' of {self.label} mixes value types ({exc}); "
                    "expected numbers, booleans or text in one column"
                ) from exc
        return self._arrays[column]

    def kinds(self, columns: Sequence[str]) -> dict[str, str | None]:
        return {name: arrow_kind(self._array(name).type) for name in columns}

    def describe(self, column: str) -> str:
        data_type = self._array(column).type
        return describe_kind(arrow_kind(data_type), data_type)

    def num_rows(self) -> int:
        return len(self.frame)

    def batches(self, columns: Sequence[str], batch_rows: int) -> Iterator[Batch]:
        arrays = {name: self._array(name) for name in columns}
        for start in range(0, len(self.frame), batch_rows):
            yield {
                name: array.slice(start, batch_rows) for name, array in arrays.items()
            }


def open_parts(
    source: str | os.PathLike[str] | pd.DataFrame | Part, *, role: str
) -> list[Part]:
    """Resolve a table argument into parts to read.

    Args:
        source: A DataFrame; a part already opened; a Parquet, CSV or TSV file; or a
            folder (local or an fsspec URI) whose ``*.parquet``/``*.pq`` files, at
            any depth and in path order, are batches of one table. Names starting
            with ``.`` or ``_`` (temporary files, ``_SUCCESS`` markers) are skipped.
            A folder without Parquet files that holds the objects KServe's logger
            writes to storage is read as those
            (:mod:`mlops_suite.monitoring.logger_storage`), here without the model's
            metadata, so only named instances can be read.
        role: ``"reference"`` or ``"current"``, for messages.

    Returns:
        The parts, at least one.

    Raises:
        DataError: The path does not exist, or a folder holds no Parquet file and
            no KServe logger object.
    """
    if isinstance(source, Part):
        return [source]
    if isinstance(source, pd.DataFrame):
        return [FramePart(label=f"the {role} DataFrame", frame=source)]
    text = os.fspath(source)
    try:
        fs, root = fsspec.core.url_to_fs(text)
        # Object-store clients cache listings per process; new batches keep coming.
        fs.invalidate_cache()
        is_dir = fs.isdir(root)
        exists = is_dir or fs.isfile(root)
    except (ImportError, ValueError, OSError) as exc:
        raise DataError(
            f"the {role} data '{text}' cannot be opened ({exc}); expected a local path "
            "or an fsspec URI"
        ) from exc
    if not exists:
        raise DataError(
            f"the {role} data '{text}' does not exist; expected a Parquet file, a CSV "
            "file or a folder of Parquet files"
        )
    if not is_dir:
        return [_file_part(fs, root, text)]
    files = parquet_files(fs, root)
    if not files:
        # Imported here: that module builds on this one.
        from mlops_suite.monitoring import logger_storage

        logged = logger_storage.logged_objects(fs, root, text)
        if logged is not None:
            return [logger_storage.read_logged_objects(logged)]
        raise DataError(
            f"the {role} folder '{text}' holds no Parquet file; expected batch files "
            "named *.parquet, or the <id>-request.json objects KServe's logger "
            "writes to storage"
        )
    return [_file_part(fs, path, _label(fs, path, text)) for path in files]


def parquet_files(fs: Any, root: str) -> list[str]:
    """List the Parquet batch files of a folder, at any depth, in path order.

    Names starting with ``.`` or ``_`` (temporary files, the sink's journal,
    ``_SUCCESS`` markers), or under such a folder, are skipped.

    Args:
        fs: The folder's fsspec filesystem.
        root: The folder's path on ``fs``.

    Returns:
        The ``*.parquet``/``*.pq`` paths on ``fs``.
    """
    return sorted(
        path
        for path in fs.find(root)
        if PurePosixPath(path).suffix.lower() in PARQUET_SUFFIXES
        and not _hidden(PurePosixPath(path).relative_to(PurePosixPath(root)))
    )


def _hidden(relative: PurePosixPath) -> bool:
    return any(part.startswith((".", "_")) for part in relative.parts)


def _label(fs: Any, path: str, given: str) -> str:
    if isinstance(fs, LocalFileSystem):
        return path
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
    return f"{protocol}://{path}" if "://" in given else path


def _file_part(fs: Any, path: str, label: str) -> Part:
    if PurePosixPath(path).suffix.lower() in CSV_SUFFIXES:
        return CsvPart(label=label, fs=fs, path=path)
    return ParquetPart(label=label, fs=fs, path=path)

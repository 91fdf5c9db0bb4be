"""Read a raw table from anywhere, fix its version, and store it as Parquet.

``ingest`` is the first stage of the pipeline: it reads a CSV or Parquet file from a
local path or an fsspec URI, refuses files a person would not call a table, computes
the content hash that versions the data, and writes the table as the Parquet file
every later stage reads.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import struct
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.registry import known_implementations

from mlops_suite import atomic
from mlops_suite.artifacts import DATASET_FILE
from mlops_suite.data.kinds import is_bool_value, is_missing_value
from mlops_suite.errors import DataError

PARQUET_MAGIC = b"PAR1"
_PARQUET_SUFFIXES = (".parquet", ".pq")
_TAB_SUFFIXES = (".tsv", ".tab")
# Formats people mistake for a table file; named in the error so they know what to do.
_BINARY_MAGIC = {
    b"\x1f\x8b": "gzip-compressed (decompress it first)",
    b"PK\x03\x04": "a zip archive or an Excel workbook (export it as CSV)",
    b"BZh": "bzip2-compressed (decompress it first)",
    b"\xfd7zXZ": "xz-compressed (decompress it first)",
}
# How far into a file to look for NUL bytes, the mark of a binary file.
_SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class IngestSummary:
    """What ``ingest`` read and wrote.

    Attributes:
        rows: Number of data rows.
        columns: Number of columns.
        column_names: Column names, in file order.
        sha256: ``dataset_sha256`` of the table: the data version.
        source_uri: The URI or path the table was read from.
    """

    rows: int
    columns: int
    column_names: list[str]
    sha256: str
    source_uri: str

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as a JSON-ready dict."""
        return asdict(self)


def read_table(uri: str) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet table from a local path or an fsspec URI.

    The format is Parquet when the content starts with the Parquet magic bytes
    ``PAR1`` (whatever the name), otherwise it follows the extension: ``.parquet`` and
    ``.pq`` must be Parquet, ``.tsv``/``.tab`` are tab-separated, ``.csv`` is
    comma-separated, and any other name is sniffed among comma, tab, semicolon and
    pipe. Text must be UTF-8.

    Args:
        uri: A local path, a ``file://`` URI, or any URI fsspec knows (``gs://``,
            ``s3://``, ``http(s)://``, ``memory://``...). Remote protocols need their
            fsspec backend installed (``gcsfs``, ``s3fs``...).

    Returns:
        The table with a fresh ``RangeIndex``.

    Raises:
        DataError: The file is missing, unreachable, empty, binary or malformed, has
            a header but no rows, or repeats a column name.
    """
    data = _read_bytes(uri)
    if not data.strip():
        raise DataError(f"'{uri}' is empty; expected a CSV or Parquet table")
    suffix = PurePosixPath(uri.split("?", 1)[0]).suffix.lower()
    if data.startswith(PARQUET_MAGIC):
        frame = _parse_parquet(uri, data)
    elif suffix in _PARQUET_SUFFIXES:
        raise DataError(
            f"'{uri}' is named like a Parquet file but does not start with the "
            "Parquet magic bytes 'PAR1'; expected a Parquet file"
        )
    else:
        frame = _parse_text(uri, data, suffix)
    if frame.shape[1] == 0:
        raise DataError(f"'{uri}' has no columns; expected a table with a header")
    if len(frame) == 0:
        raise DataError(
            f"'{uri}' has {frame.shape[1]} columns but 0 data rows; "
            "expected at least one row"
        )
    return frame


def dataset_sha256(df: pd.DataFrame) -> str:
    """Hash a table's content; the hash is the data version.

    Covered: the number of rows, every column name in order, every column's dtype
    (as ``str(dtype)``) and every value in row order. Missing values count as one
    "missing" marker whatever their spelling (``None``, ``NaN``, ``NaT``, ``pd.NA``),
    since a CSV read and its Parquet copy spell them differently. Not covered: the
    index, the file format, compression and Parquet/pandas metadata, so a CSV and the
    Parquet written from it by ``write_dataset`` hash the same.

    Args:
        df: The table.

    Returns:
        A 64-character hex SHA-256 digest.
    """
    digest = hashlib.sha256()
    header = {
        "rows": len(df),
        "columns": [[str(name), str(dtype)] for name, dtype in df.dtypes.items()],
    }
    digest.update(json.dumps(header, separators=(",", ":")).encode("utf-8"))
    for _, column in df.items():
        _hash_column(digest, column)
    return digest.hexdigest()


def write_dataset(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a table as one Parquet file, atomically.

    The index is not stored: ``read_dataset`` gives back a ``RangeIndex``. Every
    dtype pandas can store in Parquet (numbers, bool, strings, ``category``,
    nullable integers, datetimes) comes back unchanged.

    Args:
        df: The table; column names must be strings.
        path: The Parquet file to create or replace (``artifacts.DATASET_FILE`` inside
            a Dataset artifact folder).

    Raises:
        DataError: A column cannot be stored in Parquet (e.g. numbers and text mixed
            in one ``object`` column); nothing is written.
    """
    bad_names = [name for name in df.columns if not isinstance(name, str)]
    if bad_names:
        raise DataError(
            f"cannot write {path}: column name {bad_names[0]!r} is not a string; "
            "Parquet needs string column names"
        )
    buffer = io.BytesIO()
    try:
        df.to_parquet(buffer, engine="pyarrow", index=False)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        column = _first_unstorable_column(df)
        where = f"column '{column}'" if column is not None else "the table"
        raise DataError(
            f"cannot write {path}: {where} cannot be stored in Parquet ({exc}); "
            "expected one type per column"
        ) from exc
    atomic.write_bytes(path, buffer.getvalue())


def read_dataset(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a table written by ``write_dataset``.

    Args:
        path: The Parquet file, or a Dataset artifact folder holding
            ``artifacts.DATASET_FILE``.

    Returns:
        The table with the dtypes it was written with and a ``RangeIndex``.

    Raises:
        DataError: The file is missing or is not Parquet.
    """
    target = Path(path)
    if target.is_dir():
        target = target / DATASET_FILE
    if not target.is_file():
        raise DataError(f"dataset file '{target}' does not exist; expected Parquet")
    try:
        frame = pq.read_table(target).to_pandas()
    except (pa.ArrowException, OSError) as exc:
        raise DataError(
            f"'{target}' is not a readable Parquet file ({exc}); expected a dataset "
            "written by the ingest step"
        ) from exc
    return frame.reset_index(drop=True)


def ingest(uri: str, output_path: str | os.PathLike[str]) -> IngestSummary:
    """Read a raw table, store it as Parquet and return what was ingested.

    Args:
        uri: Where to read the table (see ``read_table``).
        output_path: The Parquet file to write, atomically.

    Returns:
        Rows, columns, column names, content hash and source of the table.

    Raises:
        DataError: The table cannot be read or stored (see ``read_table`` and
            ``write_dataset``); ``output_path`` is then left untouched.
    """
    frame = read_table(uri)
    write_dataset(frame, output_path)
    return IngestSummary(
        rows=len(frame),
        columns=frame.shape[1],
        column_names=[str(name) for name in frame.columns],
        sha256=dataset_sha256(frame),
        source_uri=uri,
    )


def _read_bytes(uri: str) -> bytes:
    if "://" not in uri:
        path = Path(uri).expanduser()
        if not path.exists():
            raise DataError(f"'{uri}' does not exist; expected a CSV or Parquet file")
        if path.is_dir():
            raise DataError(
                f"'{uri}' is a folder; expected a single CSV or Parquet file"
            )
        try:
            return path.read_bytes()
        except OSError as exc:
            raise DataError(
                f"'{uri}' cannot be read ({exc.strerror or exc}); expected a "
                "readable CSV or Parquet file"
            ) from exc
    protocol = uri.split("://", 1)[0].lower()
    try:
        fs, fs_path = fsspec.core.url_to_fs(uri)
    except ImportError as exc:
        raise DataError(
            f"reading '{uri}' needs {_backend_hint(protocol, exc)}"
        ) from exc
    except ValueError as exc:
        raise DataError(
            f"'{uri}' uses the unknown protocol '{protocol}://'; expected a local "
            "path or an fsspec URI such as gs://, s3://, https:// or memory://"
        ) from exc
    try:
        return bytes(fs.cat_file(fs_path))
    except FileNotFoundError as exc:
        raise DataError(
            f"'{uri}' does not exist; expected a CSV or Parquet file"
        ) from exc
    except IsADirectoryError as exc:
        raise DataError(
            f"'{uri}' is a folder; expected a single CSV or Parquet file"
        ) from exc
    except Exception as exc:  # every fsspec backend raises its own error types
        raise DataError(
            f"'{uri}' is unreachable ({type(exc).__name__}: {exc}); check the "
            "address, the network and the credentials"
        ) from exc


def _backend_hint(protocol: str, exc: ImportError) -> str:
    """Name the package that provides a protocol, from fsspec's own registry."""
    known = known_implementations.get(protocol, {})
    package = str(known.get("class", "")).split(".", 1)[0]
    if package and package != "fsspec":
        return f"the '{package}' package; install it with 'pip install {package}'"
    return f"a package that is not installed ({known.get('err') or exc})"


def _parse_parquet(uri: str, data: bytes) -> pd.DataFrame:
    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowException, OSError) as exc:
        raise DataError(
            f"'{uri}' starts like Parquet but cannot be read ({exc}); expected a "
            "complete Parquet file"
        ) from exc
    _refuse_duplicates(uri, list(table.column_names))
    frame = table.to_pandas()
    # A named index written by pandas is data the user kept on purpose.
    if frame.index.name is not None or isinstance(frame.index, pd.MultiIndex):
        frame = frame.reset_index()
    return frame.reset_index(drop=True)


def _parse_text(uri: str, data: bytes, suffix: str) -> pd.DataFrame:
    for magic, what in _BINARY_MAGIC.items():
        if data.startswith(magic):
            raise DataError(f"'{uri}' is {what}; expected a CSV or Parquet file")
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise DataError(
            f"'{uri}' is a binary file, not text; expected a CSV or Parquet file"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"'{uri}' is not UTF-8 text (undecodable byte at offset {exc.start}); "
            "expected a UTF-8 CSV or a Parquet file"
        ) from exc
    separator = _separator(text, suffix)
    try:
        # Header row alone, unmangled: read_csv renames a repeated 'a' to 'a.1'.
        header = pd.read_csv(
            io.StringIO(text), sep=separator, header=None, nrows=1, dtype=str
        )
        _refuse_duplicates(uri, [str(v) for v in header.iloc[0].tolist()])
        # low_memory=False: chunked type inference can mix numbers and strings.
        frame = pd.read_csv(io.StringIO(text), sep=separator, low_memory=False)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"'{uri}' is empty; expected a CSV or Parquet table") from exc
    except (pd.errors.ParserError, ValueError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise DataError(
            f"'{uri}' is not a well-formed delimited file ({detail}); expected one "
            "header line and the same number of fields on every row"
        ) from exc
    return frame


def _separator(text: str, suffix: str) -> str:
    if suffix in _TAB_SUFFIXES:
        return "\t"
    if suffix == ".csv":
        return ","
    first_line = text.split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(first_line, delimiters=",\t;|").delimiter
    except csv.Error:
        return ","


def _refuse_duplicates(uri: str, names: list[str]) -> None:
    repeated = {name: n for name, n in Counter(names).items() if n > 1}
    if repeated:
        listed = ", ".join(f"'{name}' ({n} times)" for name, n in repeated.items())
        raise DataError(
            f"'{uri}' has duplicated column names: {listed}; column names must be "
            "unique"
        )


def _first_unstorable_column(df: pd.DataFrame) -> str | None:
    for name in df.columns:
        try:
            pa.Table.from_pandas(df[[name]], preserve_index=False)
        except (pa.ArrowException, ValueError, TypeError):
            return str(name)
    return None


_MISSING = b"\x00M"


def _hash_column(digest: Any, column: pd.Series) -> None:
    """Feed one column to the digest, framed so values cannot run into each other."""
    digest.update(b"\x01COL")
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biufcmM":
        values = column.to_numpy()
        missing = pd.isna(column).to_numpy()
        if dtype.kind in "fc":
            # NaN has many bit patterns; the mask records it, zero stands in.
            values = np.where(missing, 0, values)
        elif dtype.kind in "mM":
            values = values.view("int64")
        digest.update(np.packbits(missing).tobytes())
        digest.update(np.ascontiguousarray(values).tobytes())
        return
    for value in column.astype(object).tolist():
        digest.update(_encode_value(value))


def _encode_value(value: Any) -> bytes:
    if value is None or (
        not isinstance(value, str | bytes) and is_missing_value(value)
    ):
        return _MISSING
    if is_bool_value(value):
        return b"\x00b1" if value else b"\x00b0"
    if isinstance(value, int | np.integer):
        raw = str(int(value)).encode()
        tag = b"\x00i"
    elif isinstance(value, float | np.floating):
        raw = struct.pack("<d", float(value))
        tag = b"\x00f"
    elif isinstance(value, str):
        raw = value.encode("utf-8", "surrogatepass")
        tag = b"\x00s"
    elif isinstance(value, bytes):
        raw = value
        tag = b"\x00y"
    else:
        raw = repr(value).encode("utf-8", "backslashreplace")
        tag = b"\x00r"
    return tag + struct.pack("<Q", len(raw)) + raw

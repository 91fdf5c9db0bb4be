"""The folder the sink publishes batch files to, and reading them back.

A local path or an fsspec URI. Batch files are published whole (a temporary name then
a rename on a local disk, one ``put`` on an object store) under names
``batch-<UTC time>-<sequence>.parquet`` that sort by time, so readers never see half
a file and :func:`read_logged` gives the rows in the order they came.
"""

from __future__ import annotations

import os
from pathlib import Path

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from mlops_suite.atomic import write_bytes
from mlops_suite.errors import DataError, MlopsError
from mlops_suite.monitoring.payloads.columns import (
    RECEIVED_AT_COLUMN,
    REQUEST_ID_COLUMN,
    RESERVED_COLUMNS,
    ROW_COLUMN,
)
from mlops_suite.monitoring.sources import parquet_files

BATCH_PREFIX = "batch-"
BATCH_SUFFIX = ".parquet"


class BatchOutput:
    """The folder batch files are published to: a local path or an fsspec URI.

    Args:
        uri: The output folder or fsspec URI.

    Raises:
        MlopsError: The URI names no file system fsspec can open.
    """

    def __init__(self, uri: str):
        self.uri = uri
        try:
            self.fs, self.root = fsspec.core.url_to_fs(uri)
        except (ImportError, ValueError) as exc:
            raise MlopsError(
                f"Output {uri} cannot be opened ({exc}); expected a local folder or "
                "an fsspec URI such as s3://bucket/logs/model/."
            ) from None
        self.root = self.root.rstrip("/") or self.root
        self.local = isinstance(self.fs, LocalFileSystem)

    def prepare(self) -> None:
        """Create a local output folder (an object store needs none).

        Raises:
            MlopsError: The folder cannot be created.
        """
        if self.local:
            try:
                Path(self.root).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise MlopsError(
                    f"Output folder {self.root} cannot be created ({exc})."
                ) from None

    def publish(self, name: str, data: bytes) -> None:
        """Write one batch file whole, replacing any file of that name.

        Args:
            name: The file name inside the output folder.
            data: The file's bytes.
        """
        if self.local:
            write_bytes(Path(self.root) / name, data)
        else:
            # One PUT: an object store shows the whole object or nothing.
            self.fs.pipe_file(f"{self.root}/{name}", data)


def read_logged(uri: str | os.PathLike[str]) -> pd.DataFrame:
    """Read every batch file the sink published into one DataFrame.

    The same files :func:`~mlops_suite.monitoring.detect_drift` reads when given
    the folder: ``*.parquet`` at any depth, hidden names (the journal) skipped.
    Rows still in the journal (not flushed yet) are not included.

    Args:
        uri: The sink's output folder (local or fsspec URI), or one batch file.

    Returns:
        The rows ordered by ``received_at``, ``request_id``, ``row``; the
        base columns only when no batch was written yet.

    Raises:
        DataError: The folder does not exist, or a batch file cannot be read.
    """
    text = os.fspath(uri)
    try:
        fs, root = fsspec.core.url_to_fs(text)
        # Object-store clients cache listings per process; the sink keeps adding.
        fs.invalidate_cache()
        exists = fs.exists(root)
    except (ImportError, ValueError, OSError) as exc:
        raise DataError(f"Logged data {text} cannot be opened ({exc}).") from None
    if not exists:
        raise DataError(
            f"Logged data {text} does not exist; expected the sink's output folder."
        )
    root = root.rstrip("/") or root
    files = [root] if fs.isfile(root) else parquet_files(fs, root)
    tables = []
    for path in files:
        try:
            with fs.open(path, "rb") as handle:
                tables.append(pq.read_table(handle))
        except (pa.ArrowException, OSError) as exc:
            raise DataError(
                f"Batch file {path} cannot be read ({exc}); expected a Parquet file "
                "written by the sink."
            ) from None
    if not tables:
        return pd.DataFrame(columns=list(RESERVED_COLUMNS))
    table = pa.concat_tables(tables, promote_options="permissive")
    frame = table.to_pandas()
    return frame.sort_values(
        [RECEIVED_AT_COLUMN, REQUEST_ID_COLUMN, ROW_COLUMN], kind="stable"
    ).reset_index(drop=True)

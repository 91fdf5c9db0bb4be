"""Batch scoring: a registered model scores a table into monitorable Parquet.

The output has the payload sink's columns (:mod:`mlops_suite.monitoring.payloads`):
``request_id`` (one id for the whole run), ``row`` (the input row's number),
``received_at`` (when it was scored), ``model_name``, the features in training order
and of their kind's type, ``prediction`` and, for a classifier, one ``proba_<class>``
per class in the order of ``metadata.json``; the input's other columns (ids,
timestamps) are kept after them. So ``mlops monitor --current`` reads batch output
exactly as it reads served traffic.

The input is read in batches (:mod:`mlops_suite.monitoring.sources`), so memory stays
bounded whatever its size. Each batch becomes one Parquet file in a local staging
folder; only when every row was scored are the files published to the output
folder, each whole (a rename on a local disk, one put on an object store), so a row
the model cannot take leaves nothing behind.
"""

from __future__ import annotations

import math
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlops_suite.artifacts import BOOLEAN, CLASSIFICATION, NUMERIC
from mlops_suite.errors import DataError, RegistryError
from mlops_suite.model_folder import load_model
from mlops_suite.monitoring.payloads.columns import (
    ENDPOINT_COLUMN,
    INFERENCE_SERVICE_COLUMN,
    MODEL_NAME_COLUMN,
    NAMESPACE_COLUMN,
    PREDICTION_COLUMN,
    PROBABILITY_PREFIX,
    RECEIVED_AT_COLUMN,
    REQUEST_ID_COLUMN,
    RESERVED_COLUMNS,
    ROW_COLUMN,
    column_array,
    probability_column,
)
from mlops_suite.monitoring.sink.output import BATCH_SUFFIX, BatchOutput
from mlops_suite.monitoring.sources import Part, open_parts

DEFAULT_BATCH_ROWS = 50_000
_TRUE = {"true": True, "1": True, "1.0": True, "false": False, "0": False, "0.0": False}


@dataclass(frozen=True)
class ScoringResult:
    """What a batch-scoring run wrote.

    Attributes:
        rows: Rows scored.
        files: The Parquet files published, in order.
        run_id: The ``request_id`` every output row carries.
    """

    rows: int
    files: list[str]
    run_id: str


def score_version(
    registry_uri: str,
    model_name: str,
    data: Any,
    output_uri: str,
    *,
    version: int | None = None,
    keep_columns: Sequence[str] | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> tuple[int, ScoringResult]:
    """Scores a table with a registered version (the champion by default).

    Args:
        registry_uri: The model registry (a path or fsspec URI).
        model_name: The registered model's name.
        data: The table (see :func:`score_table`).
        output_uri: The folder to publish to.
        version: The version to score with; None (or 0) for the champion.
        keep_columns: The input's non-feature columns to keep; None keeps them all.
        batch_rows: Rows scored (and written) per file.

    Returns:
        The version used, and what was written.

    Raises:
        RegistryError: The model has no such version, or no champion.
        DataError, ModelIntegrityError: As :func:`score_table`.
    """
    from mlops_suite.registry import ModelRegistry

    registry = ModelRegistry(registry_uri)
    chosen = version or None
    if chosen is None:
        champion = registry.champion(model_name)
        if champion is None:
            raise RegistryError(
                f"model {model_name!r} has no champion in {registry_uri}; "
                "give a version"
            )
        chosen = champion.version
    with registry.local_copy(model_name, chosen) as folder:
        return chosen, score_table(
            folder,
            data,
            output_uri,
            model_name=model_name,
            keep_columns=keep_columns,
            batch_rows=batch_rows,
        )


def score_table(
    model_dir: str | Path,
    data: Any,
    output_uri: str,
    *,
    model_name: str,
    keep_columns: Sequence[str] | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> ScoringResult:
    """Scores a table with a model folder and publishes Parquet in the sink's schema.

    Args:
        model_dir: A local model folder; its file is checked against the sha256 in
            ``metadata.json`` before it is loaded.
        data: The table: a Parquet file or folder, a CSV file (a path or fsspec URI)
            or a DataFrame.
        output_uri: The folder to publish to (a path or fsspec URI); files are named
            like the sink's batch files, so the folder reads like logged traffic.
        model_name: The model's name, written in every row.
        keep_columns: The input's non-feature columns to keep; None keeps them all.
        batch_rows: Rows scored (and written) per file.

    Returns:
        What was written.

    Raises:
        DataError: The table lacks a feature or a kept column, is empty, or a value
            cannot be read as its feature's kind (the row and column are named);
            nothing is published then.
        ModelIntegrityError: The model file does not match its recorded hash.
    """
    loaded = load_model(model_dir)
    features = [(f["name"], f["type"]) for f in loaded.metadata["features"]]
    names = [name for name, _ in features]
    classes = loaded.metadata.get("classes") or []
    probabilities = loaded.metadata.get("task") == CLASSIFICATION and bool(classes)
    parts = open_parts(data, role="input")
    plan = [(part, _kept(part, names, keep_columns)) for part in parts]
    output = BatchOutput(output_uri)
    run_id = f"batch-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    row = 0
    staged: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="mlops-scoring-") as staging:
        for part, kept in plan:
            for batch in part.batches([*names, *kept], batch_rows):
                frame = _features(batch, features, part, row)
                table = _table(
                    loaded.pipeline, frame, batch, features, kept, classes,
                    probabilities=probabilities, run_id=run_id,
                    model_name=model_name, first_row=row,
                )  # fmt: skip
                path = Path(staging) / f"batch-{stamp}-{len(staged):06d}{BATCH_SUFFIX}"
                pq.write_table(table, path)
                staged.append(path)
                row += len(frame)
        if row == 0:
            shown = ", ".join(part.label for part in parts)
            raise DataError(f"The input {shown} has no rows to score.")
        output.prepare()
        for path in staged:
            output.publish(path.name, path.read_bytes())
    return ScoringResult(
        rows=row,
        files=[f"{output.uri.rstrip('/')}/{p.name}" for p in staged],
        run_id=run_id,
    )


def _kept(part: Part, features: list[str], keep: Sequence[str] | None) -> list[str]:
    """The part's columns to carry through, after checking every feature is there."""
    present = part.names()
    missing = [name for name in features if name not in present]
    if missing:
        raise DataError(
            f"{part.label} has no column {missing[0]!r}, a feature of the model; "
            f"expected the features {', '.join(features)}."
        )
    others = [
        name
        for name in present
        if name not in features and name not in RESERVED_COLUMNS
    ]
    if keep is None:
        return [name for name in others if not name.startswith(PROBABILITY_PREFIX)]
    unknown = [name for name in keep if name not in others]
    if unknown:
        raise DataError(
            f"{part.label} has no column {unknown[0]!r} to keep; its other columns "
            f"are {', '.join(others) or 'none'}."
        )
    return list(keep)


def _features(
    batch: dict[str, pa.Array], features: list[tuple[str, str]], part: Part, first: int
) -> pd.DataFrame:
    """The batch's features as the model takes them, refusing values of another kind."""
    columns: dict[str, list[Any]] = {}
    for name, kind in features:
        values = batch[name].to_pylist()
        columns[name] = [
            _value(v, kind, name, part, first + i) for i, v in enumerate(values)
        ]
    return pd.DataFrame(columns, columns=[name for name, _ in features])


def _value(value: Any, kind: str, column: str, part: Part, row: int) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return np.nan if kind == NUMERIC else None
    if kind == NUMERIC:
        if isinstance(value, bool):
            return _refuse(value, kind, column, part, row)
        if isinstance(value, int | float):
            return float(value)
        try:
            return float(str(value))
        except ValueError:
            return _refuse(value, kind, column, part, row)
    if kind == BOOLEAN:
        if isinstance(value, bool):
            return value
        found = _TRUE.get(str(value).strip().lower())
        return _refuse(value, kind, column, part, row) if found is None else found
    return value if isinstance(value, str) else str(value)


def _refuse(value: Any, kind: str, column: str, part: Part, row: int) -> Any:
    raise DataError(
        f"Row {row} of {part.label} holds {value!r} in column {column!r}, which the "
        f"model takes as a {kind} feature; nothing was written."
    )


def _table(
    pipeline: Any,
    frame: pd.DataFrame,
    batch: dict[str, pa.Array],
    features: list[tuple[str, str]],
    kept: list[str],
    classes: list[Any],
    *,
    probabilities: bool,
    run_id: str,
    model_name: str,
    first_row: int,
) -> pa.Table:
    """One batch's output rows, in the sink's column order and types."""
    rows = len(frame)
    predicted = np.asarray(pipeline.predict(frame))
    now = datetime.now(UTC)
    arrays: dict[str, pa.Array] = {
        REQUEST_ID_COLUMN: pa.array([run_id] * rows, pa.string()),
        ROW_COLUMN: pa.array(range(first_row, first_row + rows), pa.int64()),
        RECEIVED_AT_COLUMN: pa.array([now] * rows, pa.timestamp("us", tz="UTC")),
        INFERENCE_SERVICE_COLUMN: pa.nulls(rows, pa.string()),
        NAMESPACE_COLUMN: pa.nulls(rows, pa.string()),
        ENDPOINT_COLUMN: pa.nulls(rows, pa.string()),
        MODEL_NAME_COLUMN: pa.array([model_name] * rows, pa.string()),
    }
    for name, kind in features:
        values = frame[name]
        if kind == NUMERIC:
            arrays[name] = pa.array(values.to_numpy(dtype=np.float64), pa.float64())
        elif kind == BOOLEAN:
            arrays[name] = pa.array(values.tolist(), pa.bool_())
        else:
            arrays[name] = pa.array(values.tolist(), pa.string())
    # Typed as the sink types it: numbers for regression, inferred for classes.
    arrays[PREDICTION_COLUMN] = column_array(
        predicted.tolist(), None if probabilities else NUMERIC
    )
    if probabilities:
        proba = np.asarray(pipeline.predict_proba(frame), dtype=np.float64)
        order = {str(label): index for index, label in enumerate(pipeline.classes_)}
        for label in classes:
            arrays[probability_column(label)] = pa.array(
                proba[:, order[str(label)]], pa.float64()
            )
    for name in kept:
        arrays[name] = batch[name]
    return pa.table(arrays)

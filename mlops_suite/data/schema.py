"""The schema: what a table is expected to hold, inferred once and checked every run.

``infer_schema`` turns a profile into expectations (kind, range, domain, missing rate
bound) that ``validation.validate`` checks later data against. ``load_schema`` reads a
``schema.json`` that a person may have edited, so it checks the structure and names
what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fsspec

from mlops_suite.artifacts import (
    BOOLEAN,
    CATEGORICAL,
    FEATURE_TYPES,
    NUMERIC,
    SCHEMA_FILE,
)
from mlops_suite.errors import DataError, SchemaError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "check_schema",
    "infer_schema",
    "load_schema",
    "schema_sha256",
]

# Headroom over the observed missing rate, so a batch slightly worse than the
# training data is not blocked: max(observed * 1.5, observed + 0.05).
MISSING_HEADROOM_FACTOR = 1.5
MISSING_HEADROOM_ABSOLUTE = 0.05


def infer_schema(
    df: pd.DataFrame, statistics: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Infer the schema a table satisfies, with headroom on the missing rate.

    Each column gets ``name``, ``type``, ``dtype``, ``required: true`` and
    ``max_missing_fraction`` = ``max(observed * 1.5, observed + 0.05)`` (rounded up
    to 4 decimals), capped at
    ``1 - 1/num_rows`` so that an entirely missing column is never accepted (the
    observed rate of any other column stays within its bound). Numeric columns add
    the observed ``min``/``max`` and ``range_blocking: false`` (out-of-range values
    are warnings until a person sets it to true); categorical columns add the
    sorted observed ``domain`` (values as strings) and ``max_unseen_fraction: 0.0``.

    Args:
        df: The table the schema describes.
        statistics: ``compute_statistics(df)`` when already computed; computed here
            otherwise.

    Returns:
        ``{"columns": [...]}`` in the column order of ``df``.

    Raises:
        DataError: ``df`` has no rows, or ``statistics`` does not describe ``df``.
    """
    if len(df) == 0:
        raise DataError(
            f"cannot infer a schema from a table with 0 rows ({df.shape[1]} "
            "columns); expected at least one row"
        )
    stats = statistics
    if stats is None:
        # Imported here: checking and hashing schemas (registration, the CLI) does
        # not need pandas.
        from mlops_suite.data.statistics import compute_statistics

        stats = compute_statistics(df)
    by_name = {entry["name"]: entry for entry in stats.get("columns", [])}
    names = [str(name) for name in df.columns]
    if sorted(by_name) != sorted(names) or stats.get("num_rows") != len(df):
        raise DataError(
            "the statistics given to infer_schema describe "
            f"{stats.get('num_rows')} rows and columns {sorted(by_name)}, but the "
            f"table has {len(df)} rows and columns {sorted(names)}; expected the "
            "statistics of the same table"
        )
    cap = 1.0 - 1.0 / len(df)
    columns = []
    for name, column in zip(names, df.columns, strict=True):
        entry = by_name[name]
        observed = float(entry["missing_fraction"])
        spec: dict[str, Any] = {
            "name": name,
            "type": entry["type"],
            "dtype": entry["dtype"],
            "required": True,
            "max_missing_fraction": min(_missing_bound(observed), cap),
        }
        if entry["type"] == NUMERIC:
            spec["min"] = entry["min"]
            spec["max"] = entry["max"]
            spec["range_blocking"] = False
        elif entry["type"] == CATEGORICAL:
            # From the data, not the statistics: frequencies keep only the top 100.
            values = df[column][df[column].notna()].astype(str)
            spec["domain"] = sorted(values.unique().tolist())
            spec["max_unseen_fraction"] = 0.0
        columns.append(spec)
    return {"columns": columns}


def load_schema(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a ``schema.json``.

    Args:
        path: The schema file (local path or fsspec URI such as ``gs://...``), or
            a local schema artifact folder holding ``artifacts.SCHEMA_FILE``.

    Returns:
        The schema dict.

    Raises:
        SchemaError: The file is missing, is not JSON, or its structure is wrong; the
            message names the file, the column and the problem.
    """
    location = str(path)
    if "://" in location:
        data = _fetch(location)
    else:
        target = Path(path)
        if target.is_dir():
            target = target / SCHEMA_FILE
        location = str(target)
        if not target.is_file():
            raise SchemaError(f"schema file '{location}' does not exist; expected JSON")
        data = target.read_bytes()
    try:
        schema = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SchemaError(
            f"schema file '{location}' is not UTF-8 text; expected JSON"
        ) from exc
    except json.JSONDecodeError as exc:
        raise SchemaError(
            f"schema file '{location}' is not valid JSON ({exc.msg} at line "
            f"{exc.lineno}, column {exc.colno}); expected a schema object"
        ) from exc
    return check_schema(schema, source=location)


def check_schema(schema: Any, source: str = "the schema") -> dict[str, Any]:
    """Check that a value has the structure of a schema.

    Args:
        schema: The parsed JSON.
        source: Where it came from, for the error message.

    Returns:
        ``schema`` itself, now known to be well formed.

    Raises:
        SchemaError: The first structural problem found, naming ``source`` and the
            column.
    """
    if not isinstance(schema, dict) or not isinstance(schema.get("columns"), list):
        raise SchemaError(
            f"{source} is not a schema; expected an object with a 'columns' list"
        )
    seen: set[str] = set()
    for position, column in enumerate(schema["columns"]):
        if not isinstance(column, dict):
            raise SchemaError(
                f"{source}: column entry {position} is {type(column).__name__}; "
                "expected an object"
            )
        name = column.get("name")
        if not isinstance(name, str) or not name:
            raise SchemaError(
                f"{source}: column entry {position} has no 'name'; expected a "
                "non-empty string"
            )
        where = f"{source}: column '{name}'"
        if name in seen:
            raise SchemaError(f"{where} is listed twice; expected unique names")
        seen.add(name)
        kind = column.get("type")
        if kind not in FEATURE_TYPES:
            raise SchemaError(
                f"{where} has type {kind!r}; expected one of {', '.join(FEATURE_TYPES)}"
            )
        if "required" in column and not isinstance(column["required"], bool):
            raise SchemaError(f"{where} has a non-boolean 'required'; expected true")
        for key in ("max_missing_fraction", "max_unseen_fraction"):
            if key in column and not _is_fraction(column[key]):
                raise SchemaError(
                    f"{where} has {key} = {column[key]!r}; expected a number from 0 "
                    "to 1"
                )
        if kind == NUMERIC:
            _check_numeric(where, column)
        elif kind == CATEGORICAL:
            domain = column.get("domain")
            if domain is not None and (
                not isinstance(domain, list)
                or not all(isinstance(value, str) for value in domain)
            ):
                raise SchemaError(
                    f"{where} has a malformed 'domain'; expected a list of strings"
                )
        elif kind == BOOLEAN and "domain" in column:
            raise SchemaError(f"{where} is boolean; expected no 'domain'")
    return schema


def schema_sha256(schema: dict[str, Any]) -> str:
    """Hash a schema as canonical JSON (sorted keys, no spaces, UTF-8).

    Args:
        schema: The schema.

    Returns:
        A 64-character hex SHA-256 digest; equal for equal schemas whatever the key
        order.
    """
    canonical = json.dumps(
        schema,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _missing_bound(observed: float) -> float:
    headroom = max(
        observed * MISSING_HEADROOM_FACTOR, observed + MISSING_HEADROOM_ABSOLUTE
    )
    # Rounded up to 4 decimals: people read and edit schema.json.
    # round() first so float noise (500.0000001) does not add a step.
    return min(math.ceil(round(headroom * 10_000, 6)) / 10_000, 1.0)


def _fetch(uri: str) -> bytes:
    try:
        with fsspec.open(uri, "rb") as handle:
            return bytes(handle.read())
    except ImportError as exc:
        raise SchemaError(
            f"reading schema file '{uri}' needs a package that is not installed ({exc})"
        ) from exc
    except FileNotFoundError as exc:
        raise SchemaError(f"schema file '{uri}' does not exist; expected JSON") from exc
    except Exception as exc:  # every fsspec backend raises its own error types
        raise SchemaError(
            f"schema file '{uri}' is unreachable ({type(exc).__name__}: {exc}); "
            "check the address, the network and the credentials"
        ) from exc


def _check_numeric(where: str, column: dict[str, Any]) -> None:
    for key in ("min", "max"):
        value = column.get(key)
        if value is not None and not _is_number(value):
            raise SchemaError(f"{where} has {key} = {value!r}; expected a number")
    low, high = column.get("min"), column.get("max")
    if low is not None and high is not None and low > high:
        raise SchemaError(
            f"{where} has min {low} above max {high}; expected min <= max"
        )
    if "range_blocking" in column and not isinstance(column["range_blocking"], bool):
        raise SchemaError(
            f"{where} has a non-boolean 'range_blocking'; expected true or false"
        )


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _is_fraction(value: Any) -> bool:
    return _is_number(value) and 0.0 <= value <= 1.0

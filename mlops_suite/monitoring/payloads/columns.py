"""The columns of a logged row, and the Arrow type each one is written with.

Each instance becomes one row: ``request_id``, ``row``, ``received_at`` (UTC),
``inference_service``, ``namespace``, ``endpoint``, ``model_name``, the feature
columns and ``prediction``. Feature names and kinds come from the model's
``metadata.json`` when given (:func:`load_model_columns`; each column then gets the
Arrow type of its kind, so every batch file has the same schema); without it,
positional values are named ``feature_0`` ... and types are inferred per batch.

When a classifier's server answers with class probabilities (KServe's
``PREDICT_PROBA=true``), the row also gets one ``proba_<class>`` column per class of
``metadata.json``'s ``classes``, in that order (:func:`probability_column`), and
``prediction`` holds the class ``predict`` would have answered.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import fsspec
import pyarrow as pa

from mlops_suite.artifacts import (
    BOOLEAN,
    CATEGORICAL,
    FEATURE_TYPES,
    METADATA_FILE,
    NUMERIC,
)
from mlops_suite.errors import MlopsError

# Columns of every logged row, before the features; the prediction comes last.
REQUEST_ID_COLUMN = "request_id"
ROW_COLUMN = "row"
RECEIVED_AT_COLUMN = "received_at"
INFERENCE_SERVICE_COLUMN = "inference_service"
NAMESPACE_COLUMN = "namespace"
ENDPOINT_COLUMN = "endpoint"
MODEL_NAME_COLUMN = "model_name"
PREDICTION_COLUMN = "prediction"
BASE_COLUMNS = (
    REQUEST_ID_COLUMN,
    ROW_COLUMN,
    RECEIVED_AT_COLUMN,
    INFERENCE_SERVICE_COLUMN,
    NAMESPACE_COLUMN,
    ENDPOINT_COLUMN,
    MODEL_NAME_COLUMN,
)
RESERVED_COLUMNS = (*BASE_COLUMNS, PREDICTION_COLUMN)
POSITIONAL_PREFIX = "feature_"
# One column per class when the logged answers are class probabilities.
PROBABILITY_PREFIX = "proba_"
_TRUE_WORDS = {"true": True, "false": False}


@dataclass(frozen=True)
class ModelColumns:
    """The served model's features and task, read from its ``metadata.json``.

    Attributes:
        features: ``(name, kind)`` pairs in training column order.
        task: ``classification``, ``regression`` or ``None`` when unknown.
        classes: A classifier's classes in the order of its probabilities (its
            ``classes_``); ``None`` for other models or when not recorded.
    """

    features: tuple[tuple[str, str], ...]
    task: str | None = None
    classes: tuple[Any, ...] | None = None

    @property
    def probability_columns(self) -> tuple[str, ...]:
        """The ``proba_<class>`` columns, in class order (none without classes)."""
        return tuple(probability_column(value) for value in self.classes or ())


def probability_column(value: Any) -> str:
    """The logged column holding the probability of one class.

    The decay check reads the same names from the model's ``classes``.

    Args:
        value: A class as ``metadata.json`` records it (``"Adelie"``, ``1``).

    Returns:
        ``proba_<class>``, e.g. ``proba_Adelie``.
    """
    return f"{PROBABILITY_PREFIX}{value}"


def load_model_columns(metadata_path: str | os.PathLike[str]) -> ModelColumns:
    """Read the features and task of a model's ``metadata.json``.

    Args:
        metadata_path: The ``metadata.json`` file, or the model folder holding it;
            a local path or an fsspec URI.

    Returns:
        The features in training order, the task, and a classifier's classes.

    Raises:
        MlopsError: The file is missing or unreadable, its ``features`` are not
            ``{"name", "type"}`` objects of known kinds with unreserved names, or a
            classifier's ``classes`` are not a list of distinct plain values.
    """
    text = os.fspath(metadata_path)
    try:
        fs, path = fsspec.core.url_to_fs(text)
        if fs.isdir(path):
            path = f"{path.rstrip('/')}/{METADATA_FILE}"
            text = f"{text.rstrip('/')}/{METADATA_FILE}"
        with fs.open(path, "rb") as handle:
            metadata = json.loads(handle.read())
    except FileNotFoundError:
        raise MlopsError(
            f"Model metadata {text} does not exist; expected the model's "
            f"{METADATA_FILE}."
        ) from None
    except (OSError, ValueError, ImportError) as exc:
        raise MlopsError(f"Model metadata {text} cannot be read ({exc}).") from None
    return model_columns(metadata, text)


def model_columns(metadata: Any, where: str) -> ModelColumns:
    """Read the features and task of a model's metadata, already loaded.

    Args:
        metadata: The model's ``metadata.json`` as a dict (a registered version's
            metadata holds the same keys).
        where: How messages name it, such as its path.

    Returns:
        The features in training order, the task, and a classifier's classes.

    Raises:
        MlopsError: As :func:`load_model_columns`, for the metadata's content.
    """
    features = metadata.get("features") if isinstance(metadata, dict) else None
    if not isinstance(features, list) or not features:
        raise MlopsError(
            f"Model metadata {where} has no 'features' list; expected "
            '[{"name": ..., "type": ...}, ...] in training order.'
        )
    pairs: list[tuple[str, str]] = []
    for entry in features:
        name = entry.get("name") if isinstance(entry, dict) else None
        kind = entry.get("type") if isinstance(entry, dict) else None
        if not isinstance(name, str) or kind not in FEATURE_TYPES:
            raise MlopsError(
                f"Model metadata {where} lists feature {entry!r}; expected a name and "
                f"a type among {list(FEATURE_TYPES)}."
            )
        if name in RESERVED_COLUMNS:
            raise MlopsError(
                f"Model metadata {where} names a feature '{name}', a column the sink "
                f"adds itself; expected none of {list(RESERVED_COLUMNS)}."
            )
        pairs.append((name, str(kind)))
    task = metadata.get("task")
    classes = _classes(metadata.get("classes"), where)
    clashes = sorted(
        {name for name, _ in pairs}
        & {probability_column(value) for value in classes or ()}
    )
    if clashes:
        raise MlopsError(
            f"Model metadata {where} names a feature '{clashes[0]}', the column the "
            "sink fills with that class's probability; rename the feature."
        )
    return ModelColumns(
        features=tuple(pairs), task=str(task) if task else None, classes=classes
    )


def _classes(recorded: Any, text: str) -> tuple[Any, ...] | None:
    """A classifier's recorded classes, or None when there are none."""
    if recorded is None:
        return None
    scalar = (str, int, float, bool)
    if (
        not isinstance(recorded, list)
        or not all(isinstance(value, scalar) for value in recorded)
        or len({probability_column(value) for value in recorded}) != len(recorded)
    ):
        raise MlopsError(
            f"Model metadata {text} lists classes {recorded!r:.200}; expected a list "
            "of distinct class values in the order of the model's probabilities."
        )
    return tuple(recorded) if recorded else None


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        return _TRUE_WORDS.get(value.strip().lower())
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _infer_kind(values: Sequence[Any]) -> str | None:
    present = [value for value in values if value is not None]
    if not present:
        return None
    if all(isinstance(value, bool) for value in present):
        return BOOLEAN
    if all(
        isinstance(value, int | float) and not isinstance(value, bool)
        for value in present
    ):
        return NUMERIC
    return CATEGORICAL


def column_array(values: Sequence[Any], kind: str | None) -> pa.Array:
    """Build one Arrow column of logged values.

    Args:
        values: The column's values, ``None`` for missing.
        kind: ``numeric`` (float64; text parsed, unparsable values missing),
            ``boolean`` (bool; ``true``/``false`` and 0/1 accepted), ``categorical``
            (string; lists and objects as JSON text), or ``None`` to infer the kind
            from the values (a column without any value then has the Arrow ``null``
            type, which drift lets match any kind).

    Returns:
        The Arrow array.
    """
    if kind is None:
        kind = _infer_kind(values)
        if kind is None:
            return pa.nulls(len(values))
    if kind == NUMERIC:
        return pa.array([_number(value) for value in values], type=pa.float64())
    if kind == BOOLEAN:
        return pa.array([_boolean(value) for value in values], type=pa.bool_())
    return pa.array([_text(value) for value in values], type=pa.string())

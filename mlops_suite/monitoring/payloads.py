"""Turn KServe payload-logger CloudEvents into rows of served traffic.

KServe's agent (``spec.predictor.logger``) sends every inference request and every
successful (HTTP 200) response to the logger URL as a CloudEvent 1.0 in HTTP binary
mode: the body is the payload exactly as the client sent it (or the model answered),
and the attributes travel as headers: ``ce-id`` (the request id, shared by the
request and its response), ``ce-type`` (``org.kubeflow.serving.inference.request`` or
``.response``), ``ce-source``, ``ce-specversion``, ``ce-time``, and the extensions
``ce-inferenceservicename``, ``ce-namespace``, ``ce-component`` and ``ce-endpoint``
(``default`` or ``canary``). The two events are sent independently, so the response
may arrive first. Structured mode (``application/cloudevents+json``, attributes and
``data`` or ``data_base64`` in one JSON object) is accepted too.

Both payload protocols of the stock sklearn runtime are understood:

* V1: ``{"instances": [[...], ...]}`` (or ``"inputs"``; rows as lists in training
  column order, or as objects keyed by column) answered by
  ``{"predictions": [...]}``;
* V2: ``{"inputs": [{"name", "shape", "datatype", "data"}, ...]}``, either one input
  per column (shape ``[n]`` or ``[n, 1]``) or one ``[n, features]`` tensor, answered
  by ``{"model_name", "outputs": [{"name", "shape", "datatype", "data"}]}``; the
  first output is the prediction, one value per row (a row of several values, such
  as probabilities, is kept as JSON text).

Each instance becomes one row: ``request_id``, ``row``, ``received_at`` (UTC),
``inference_service``, ``namespace``, ``endpoint``, ``model_name``, the feature
columns and ``prediction``. Feature names and kinds come from the model's
``metadata.json`` when given (positional rows are named in training order, and each
column gets the Arrow type of its kind, so every batch file has the same schema);
without it, positional values are named ``feature_0`` ... and types are inferred per
batch. A request without a response (the model failed, or the logger logs requests
only) gives rows with an empty prediction; a response without a request gives rows
with empty features.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import fsspec
import pyarrow as pa

from mlops_suite.artifacts import (
    BOOLEAN,
    CATEGORICAL,
    FEATURE_TYPES,
    METADATA_FILE,
    NUMERIC,
    REGRESSION,
)
from mlops_suite.errors import MlopsError
from mlops_suite.monitoring.drift import PREDICTION_COLUMN

REQUEST_TYPE = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"
REQUEST = "request"
RESPONSE = "response"
SPEC_VERSION = "1.0"
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"

# Columns of every logged row, before the features; the prediction comes last.
REQUEST_ID_COLUMN = "request_id"
ROW_COLUMN = "row"
RECEIVED_AT_COLUMN = "received_at"
INFERENCE_SERVICE_COLUMN = "inference_service"
NAMESPACE_COLUMN = "namespace"
ENDPOINT_COLUMN = "endpoint"
MODEL_NAME_COLUMN = "model_name"
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

_TEXT_COLUMNS = {
    REQUEST_ID_COLUMN,
    INFERENCE_SERVICE_COLUMN,
    NAMESPACE_COLUMN,
    ENDPOINT_COLUMN,
    MODEL_NAME_COLUMN,
}
_TRUE_WORDS = {"true": True, "false": False}
# Event ids are echoed in messages; a hostile one must not flood the log.
_SHOWN_ID = 80


class EventError(MlopsError):
    """A received CloudEvent is not an inference event the sink can record."""


@dataclass(frozen=True)
class CloudEvent:
    """One CloudEvent as received over HTTP.

    Attributes:
        id: The ``id`` attribute (KServe: the inference request id).
        type: The ``type`` attribute.
        source: The ``source`` attribute.
        extensions: Every other attribute, by lowercase name (``time`` included).
        data: The decoded JSON payload.
    """

    id: str
    type: str
    source: str
    extensions: Mapping[str, str]
    data: Any


@dataclass(frozen=True)
class LoggedEvent:
    """An inference event reduced to what the rows need; also the journal record.

    Attributes:
        id: The request id (``ce-id``).
        kind: ``request`` or ``response``.
        received_at: When the sink received it, ISO 8601 in UTC.
        inference_service: The ``inferenceservicename`` extension, if sent.
        namespace: The ``namespace`` extension, if sent.
        endpoint: The ``endpoint`` extension (``default``/``canary``), if sent.
        model_name: The V2 response's ``model_name``, if any.
        columns: Request only: the column names (V1 objects, V2 one input per
            column), or ``None`` when the values are positional.
        rows: Request only: the instances, one list of values per row.
        predictions: Response only: one prediction per row.
    """

    id: str
    kind: str
    received_at: str
    inference_service: str | None = None
    namespace: str | None = None
    endpoint: str | None = None
    model_name: str | None = None
    columns: tuple[str, ...] | None = None
    rows: tuple[tuple[Any, ...], ...] = ()
    predictions: tuple[Any, ...] = ()

    @property
    def size(self) -> int:
        """Number of rows this event describes."""
        return len(self.rows) if self.kind == REQUEST else len(self.predictions)

    def to_json(self) -> dict[str, Any]:
        """Return the event as a JSON-ready dict (one journal line)."""
        payload: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "received_at": self.received_at,
            "inference_service": self.inference_service,
            "namespace": self.namespace,
            "endpoint": self.endpoint,
            "model_name": self.model_name,
        }
        if self.kind == REQUEST:
            payload["columns"] = (
                list(self.columns) if self.columns is not None else None
            )
            payload["rows"] = [list(row) for row in self.rows]
        else:
            payload["predictions"] = list(self.predictions)
        return payload

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> LoggedEvent:
        """Rebuild an event from :meth:`to_json` output."""
        columns = payload.get("columns")
        return cls(
            id=str(payload["id"]),
            kind=str(payload["kind"]),
            received_at=str(payload["received_at"]),
            inference_service=payload.get("inference_service"),
            namespace=payload.get("namespace"),
            endpoint=payload.get("endpoint"),
            model_name=payload.get("model_name"),
            columns=tuple(columns) if columns is not None else None,
            rows=tuple(tuple(row) for row in payload.get("rows") or ()),
            predictions=tuple(payload.get("predictions") or ()),
        )


def _shown(event_id: str) -> str:
    return event_id if len(event_id) <= _SHOWN_ID else event_id[:_SHOWN_ID] + "..."


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _loads(raw: bytes | str, what: str) -> Any:
    try:
        # NaN/Infinity are not JSON; a lenient client may still send them. They
        # mean "no usable value" to drift, so they are kept as missing.
        return json.loads(raw, parse_constant=lambda _: None)
    except (UnicodeDecodeError, ValueError) as exc:
        raise EventError(f"{what} is not valid JSON ({exc}).") from None


def parse_cloudevent(headers: Mapping[str, str], body: bytes) -> CloudEvent:
    """Read a CloudEvent 1.0 from an HTTP request, binary or structured mode.

    Args:
        headers: The HTTP headers (any case).
        body: The HTTP body.

    Returns:
        The event, with its data decoded from JSON.

    Raises:
        EventError: A required attribute is missing, the spec version is not 1.0,
            the event is a batch, or the data is not JSON.
    """
    lowered = {str(name).lower(): str(value) for name, value in headers.items()}
    media = _media_type(lowered.get("content-type", ""))
    if media == BATCH_CONTENT_TYPE:
        raise EventError(
            "Batched CloudEvents are not supported; expected one event per request."
        )
    if media == STRUCTURED_CONTENT_TYPE:
        envelope = _loads(body, "The structured CloudEvent")
        if not isinstance(envelope, dict):
            raise EventError(
                f"The structured CloudEvent is a JSON {type(envelope).__name__}; "
                "expected an object."
            )
        attributes = {
            str(key).lower(): value
            for key, value in envelope.items()
            if key not in ("data", "data_base64")
        }
        raw_data: Any
        if "data_base64" in envelope:
            try:
                raw_data = base64.b64decode(str(envelope["data_base64"]), validate=True)
            except (binascii.Error, ValueError):
                raise EventError(
                    "The structured CloudEvent's data_base64 is not valid base64."
                ) from None
        elif "data" in envelope:
            raw_data = envelope["data"]
        else:
            raw_data = None
    else:
        # Binary mode: attributes are ce-* headers, percent-encoded by the
        # CloudEvents HTTP binding; the body is the data.
        attributes = {
            name[3:]: unquote(value)
            for name, value in lowered.items()
            if name.startswith("ce-")
        }
        raw_data = body
    for required in ("specversion", "id", "source", "type"):
        value = attributes.get(required)
        if not isinstance(value, str) or not value:
            where = (
                "" if media == STRUCTURED_CONTENT_TYPE else f" (header ce-{required})"
            )
            raise EventError(
                f"The CloudEvent lacks the '{required}' attribute{where}; expected a "
                "CloudEvents 1.0 event from KServe's payload logger."
            )
    if attributes["specversion"] != SPEC_VERSION:
        raise EventError(
            f"CloudEvent spec version '{attributes['specversion']}' is not supported; "
            f"expected {SPEC_VERSION}."
        )
    event_id = str(attributes["id"])
    if raw_data is None or raw_data in (b"", ""):
        raise EventError(
            f"Event '{_shown(event_id)}' has no data; expected a JSON inference "
            "payload."
        )
    # The logger copies the client's Content-Type (curl sends a form type for JSON),
    # so JSON is tried whatever the type says.
    if isinstance(raw_data, bytes | str):
        data = _loads(raw_data, f"The data of event '{_shown(event_id)}'")
    else:
        data = raw_data
    extensions = {
        key: str(value)
        for key, value in attributes.items()
        if key not in ("specversion", "id", "source", "type")
        and isinstance(value, str | int | float | bool)
    }
    return CloudEvent(
        id=event_id,
        type=str(attributes["type"]),
        source=str(attributes["source"]),
        extensions=extensions,
        data=data,
    )


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    flat: list[Any] = []
    for item in data:
        flat.extend(_flatten(item) if isinstance(item, list) else [item])
    return flat


def _shape(value: Any, where: str) -> list[int]:
    if not isinstance(value, list) or not all(
        isinstance(size, int) and not isinstance(size, bool) and size >= 0
        for size in value
    ):
        raise EventError(f"{where} has shape {value!r}; expected a list of sizes.")
    return list(value)


def _v1_rows(
    instances: Any, event_id: str
) -> tuple[tuple[str, ...] | None, list[tuple[Any, ...]]]:
    if not isinstance(instances, list) or not instances:
        raise EventError(
            f"Request '{event_id}' has no instances; expected a non-empty list."
        )
    if all(isinstance(item, dict) for item in instances):
        columns: dict[str, None] = {}
        for item in instances:
            columns.update(dict.fromkeys(str(key) for key in item))
        names = tuple(columns)
        return names, [tuple(item.get(name) for name in names) for item in instances]
    if any(isinstance(item, dict) for item in instances):
        raise EventError(
            f"Request '{event_id}' mixes object and list instances; expected one form."
        )
    rows = [tuple(item) if isinstance(item, list) else (item,) for item in instances]
    widths = {len(row) for row in rows}
    if len(widths) > 1:
        raise EventError(
            f"Request '{event_id}' has instances of {sorted(widths)} values; expected "
            "every instance to have the same number of values."
        )
    return None, rows


def _v2_rows(
    inputs: list[dict[str, Any]], event_id: str
) -> tuple[tuple[str, ...] | None, list[tuple[Any, ...]]]:
    tensors = []
    for position, tensor in enumerate(inputs):
        name = tensor.get("name")
        where = f"Input {position} of request '{event_id}'"
        if not isinstance(name, str) or not name:
            raise EventError(f"{where} has no name; expected a V2 input tensor.")
        if "data" not in tensor:
            raise EventError(f"{where} ('{name}') has no data; expected a V2 tensor.")
        data = _flatten(tensor["data"])
        shape = _shape(tensor.get("shape", [len(data)]), f"{where} ('{name}')")
        if math.prod(shape) != len(data):
            raise EventError(
                f"{where} ('{name}') has {len(data)} values but shape {shape}; "
                "expected the product of the shape."
            )
        tensors.append((name, shape, data))
    if len(tensors) == 1 and len(tensors[0][1]) == 2 and tensors[0][1][1] != 1:
        # One [n, features] tensor: what the stock runtime feeds the model as is.
        _, (count, width), data = tensors[0]
        if count == 0 or width == 0:
            raise EventError(f"Request '{event_id}' has no instances.")
        return None, [tuple(data[i * width : (i + 1) * width]) for i in range(count)]
    names = [name for name, _, _ in tensors]
    if len(set(names)) != len(names):
        raise EventError(
            f"Request '{event_id}' repeats an input name ({names}); expected one "
            "input per column."
        )
    counts = {name: shape[0] if shape else 1 for name, shape, _ in tensors}
    for name, shape, _ in tensors:
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise EventError(
                f"Input '{name}' of request '{event_id}' has shape {shape}; expected "
                "[n] or [n, 1] for one column, or a single [n, features] input."
            )
    if len(set(counts.values())) > 1:
        raise EventError(
            f"The inputs of request '{event_id}' have different lengths ({counts}); "
            "expected one value per row in every column."
        )
    count = next(iter(counts.values()))
    if count == 0:
        raise EventError(f"Request '{event_id}' has no instances.")
    columns = [data for _, _, data in tensors]
    return tuple(names), [tuple(column[i] for column in columns) for i in range(count)]


def decode_request(
    data: Any, event_id: str
) -> tuple[tuple[str, ...] | None, list[tuple[Any, ...]]]:
    """Read the instances of a V1 or V2 inference request.

    Args:
        data: The request payload.
        event_id: The request id, for messages.

    Returns:
        ``(columns, rows)``: the column names (``None`` when values are positional)
        and one tuple of values per instance.

    Raises:
        EventError: The payload is neither a V1 nor a V2 request with instances.
    """
    shown = _shown(event_id)
    if not isinstance(data, dict):
        raise EventError(
            f"Request '{shown}' is a JSON {type(data).__name__}; expected an object "
            "with 'instances' (V1) or 'inputs' (V2)."
        )
    inputs = data.get("inputs")
    if isinstance(inputs, list) and inputs and all(isinstance(i, dict) for i in inputs):
        return _v2_rows(inputs, shown)
    if "instances" in data:
        return _v1_rows(data["instances"], shown)
    if isinstance(inputs, list):
        return _v1_rows(inputs, shown)
    raise EventError(
        f"Request '{shown}' has keys {sorted(map(str, data))}; expected 'instances' "
        "(V1) or 'inputs' (V2)."
    )


def decode_response(data: Any, event_id: str) -> tuple[str | None, list[Any]]:
    """Read the predictions of a V1 or V2 inference response.

    Args:
        data: The response payload.
        event_id: The request id, for messages.

    Returns:
        ``(model_name, predictions)``: the V2 ``model_name`` (``None`` for V1) and one
        prediction per row (a list when a row has several values).

    Raises:
        EventError: The payload is neither a V1 nor a V2 response.
    """
    shown = _shown(event_id)
    if isinstance(data, dict) and isinstance(data.get("predictions"), list):
        return None, list(data["predictions"])
    outputs = data.get("outputs") if isinstance(data, dict) else None
    if isinstance(outputs, list) and outputs and isinstance(outputs[0], dict):
        first = outputs[0]
        where = f"Output '{first.get('name')}' of response '{shown}'"
        if "data" not in first:
            raise EventError(f"{where} has no data; expected a V2 tensor.")
        values = _flatten(first["data"])
        shape = _shape(first.get("shape", [len(values)]), where)
        if math.prod(shape) != len(values):
            raise EventError(
                f"{where} has {len(values)} values but shape {shape}; expected the "
                "product of the shape."
            )
        width = math.prod(shape[1:]) if len(shape) > 1 else 1
        predictions: list[Any] = (
            values
            if width == 1
            else [values[i : i + width] for i in range(0, len(values), width)]
        )
        model_name = data.get("model_name") if isinstance(data, dict) else None
        return (str(model_name) if model_name else None), predictions
    raise EventError(
        f"Response '{shown}' has no 'predictions' (V1) or 'outputs' (V2); expected an "
        "inference response."
    )


def decode_event(event: CloudEvent, received_at: datetime) -> LoggedEvent:
    """Reduce a KServe logger CloudEvent to a :class:`LoggedEvent`.

    Args:
        event: The parsed CloudEvent.
        received_at: When the sink received it (timezone-aware, UTC).

    Returns:
        The request's instances or the response's predictions, with the inference
        service, namespace and endpoint the event names.

    Raises:
        EventError: The type is not a KServe inference request or response, or
            the payload cannot be read.
    """
    payload: dict[str, Any]
    if event.type == REQUEST_TYPE:
        columns, rows = decode_request(event.data, event.id)
        payload = {"kind": REQUEST, "columns": columns, "rows": tuple(rows)}
    elif event.type == RESPONSE_TYPE:
        model_name, predictions = decode_response(event.data, event.id)
        payload = {
            "kind": RESPONSE,
            "model_name": model_name,
            "predictions": tuple(predictions),
        }
    else:
        raise EventError(
            f"Event '{_shown(event.id)}' has type '{event.type}'; expected "
            f"{REQUEST_TYPE} or {RESPONSE_TYPE}."
        )
    extensions = event.extensions
    return LoggedEvent(
        id=event.id,
        received_at=received_at.isoformat(),
        inference_service=extensions.get("inferenceservicename") or None,
        namespace=extensions.get("namespace") or None,
        endpoint=extensions.get("endpoint") or None,
        **payload,
    )


@dataclass(frozen=True)
class ModelColumns:
    """The served model's features and task, read from its ``metadata.json``.

    Attributes:
        features: ``(name, kind)`` pairs in training column order.
        task: ``classification``, ``regression`` or ``None`` when unknown.
    """

    features: tuple[tuple[str, str], ...]
    task: str | None = None


def load_model_columns(metadata_path: str | os.PathLike[str]) -> ModelColumns:
    """Read the features and task of a model's ``metadata.json``.

    Args:
        metadata_path: The ``metadata.json`` file, or the model folder holding it;
            a local path or an fsspec URI.

    Returns:
        The features in training order, and the task.

    Raises:
        MlopsError: The file is missing or unreadable, or its ``features`` are not
            ``{"name", "type"}`` objects of known kinds with unreserved names.
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
    features = metadata.get("features") if isinstance(metadata, dict) else None
    if not isinstance(features, list) or not features:
        raise MlopsError(
            f"Model metadata {text} has no 'features' list; expected "
            '[{"name": ..., "type": ...}, ...] in training order.'
        )
    pairs: list[tuple[str, str]] = []
    for entry in features:
        name = entry.get("name") if isinstance(entry, dict) else None
        kind = entry.get("type") if isinstance(entry, dict) else None
        if not isinstance(name, str) or kind not in FEATURE_TYPES:
            raise MlopsError(
                f"Model metadata {text} lists feature {entry!r}; expected a name and "
                f"a type among {list(FEATURE_TYPES)}."
            )
        if name in RESERVED_COLUMNS:
            raise MlopsError(
                f"Model metadata {text} names a feature '{name}', a column the sink "
                f"adds itself; expected none of {list(RESERVED_COLUMNS)}."
            )
        pairs.append((name, str(kind)))
    task = metadata.get("task")
    return ModelColumns(features=tuple(pairs), task=str(task) if task else None)


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


class RowBuilder:
    """Pairs of logged events to rows, and rows to an Arrow table.

    Args:
        model: The served model's features and task; ``None`` to name positional
            values ``feature_<i>`` and infer column types per batch.
    """

    def __init__(self, model: ModelColumns | None = None):
        self.model = model
        self._names = [name for name, _ in model.features] if model else []
        self._kinds = dict(model.features) if model else {}

    def check(self, event: LoggedEvent) -> None:
        """Refuse a request whose instances cannot be mapped to the model's features.

        Args:
            event: A decoded event (responses always pass).

        Raises:
            EventError: Positional instances have another number of values than
                the model has features, named columns neither match the feature
                names nor their count, or (without metadata) a column name is one
                the sink adds itself.
        """
        if event.kind != REQUEST or not event.rows:
            return
        shown = _shown(event.id)
        width = len(event.rows[0])
        if self.model is None:
            clashes = [name for name in event.columns or () if name in RESERVED_COLUMNS]
            if clashes:
                raise EventError(
                    f"Request '{shown}' has an input named '{clashes[0]}', a column "
                    "the sink adds itself; expected feature names only."
                )
            return
        if event.columns is not None and set(event.columns) <= set(self._names):
            return
        if width != len(self._names):
            form = "positional" if event.columns is None else "named"
            raise EventError(
                f"Request '{shown}' has {width} {form} values per instance but the "
                f"model's metadata lists {len(self._names)} features; expected one "
                "value per feature in training order."
            )

    def _features(self, event: LoggedEvent | None, index: int) -> dict[str, Any]:
        if event is None or index >= len(event.rows):
            return dict.fromkeys(self._names)
        values = event.rows[index]
        columns = event.columns
        if self.model is None:
            names = columns or tuple(
                f"{POSITIONAL_PREFIX}{i}" for i in range(len(values))
            )
            return dict(zip(names, values, strict=False))
        if columns is not None and set(columns) <= set(self._names):
            named = dict(zip(columns, values, strict=False))
            return {name: named.get(name) for name in self._names}
        padded = list(values[: len(self._names)])
        padded += [None] * (len(self._names) - len(padded))
        return dict(zip(self._names, padded, strict=True))

    def rows(
        self, request: LoggedEvent | None, response: LoggedEvent | None
    ) -> list[dict[str, Any]]:
        """Rows for a request and its response; either side may be missing.

        Args:
            request: The request event, or ``None`` when it never arrived.
            response: The response event, or ``None`` when it never arrived.

        Returns:
            One dict per instance: the base columns, the features and the
            prediction (``None`` where a side is missing).
        """
        first = request or response
        if first is None:
            return []
        count = request.size if request is not None else first.size
        predictions = response.predictions if response is not None else ()
        model_name = (
            (response.model_name if response is not None else None)
            or first.inference_service
            or (response.inference_service if response is not None else None)
        )
        rows = []
        for index in range(count):
            row: dict[str, Any] = {
                REQUEST_ID_COLUMN: first.id,
                ROW_COLUMN: index,
                RECEIVED_AT_COLUMN: first.received_at,
                INFERENCE_SERVICE_COLUMN: first.inference_service,
                NAMESPACE_COLUMN: first.namespace,
                ENDPOINT_COLUMN: first.endpoint,
                MODEL_NAME_COLUMN: model_name,
            }
            row.update(self._features(request, index))
            row[PREDICTION_COLUMN] = (
                predictions[index] if index < len(predictions) else None
            )
            rows.append(row)
        return rows

    def pair_error(self, request: LoggedEvent, response: LoggedEvent) -> str | None:
        """Why a request and a response with the same id cannot be paired, if so."""
        if request.size != response.size:
            return (
                f"Response '{_shown(request.id)}' has {response.size} predictions but "
                f"its request has {request.size} instances; expected one prediction "
                "per instance."
            )
        return None

    def table(self, rows: Iterable[Mapping[str, Any]]) -> pa.Table:
        """Build the Arrow table of a batch of rows.

        Args:
            rows: Rows from :meth:`rows`.

        Returns:
            The base columns, the features (metadata order, or first-seen order) and
            ``prediction``; features and prediction typed by the metadata when known.
        """
        rows = list(rows)
        feature_names: dict[str, None] = dict.fromkeys(self._names)
        for row in rows:
            for name in row:
                if name not in RESERVED_COLUMNS:
                    feature_names.setdefault(name)
        received = [datetime.fromisoformat(row[RECEIVED_AT_COLUMN]) for row in rows]
        arrays: dict[str, pa.Array] = {}
        for name in BASE_COLUMNS:
            if name == ROW_COLUMN:
                arrays[name] = pa.array([row[name] for row in rows], type=pa.int64())
            elif name == RECEIVED_AT_COLUMN:
                arrays[name] = pa.array(received, type=pa.timestamp("us", tz="UTC"))
            else:
                assert name in _TEXT_COLUMNS
                arrays[name] = pa.array([row.get(name) for row in rows], pa.string())
        for name in feature_names:
            arrays[name] = column_array(
                [row.get(name) for row in rows], self._kinds.get(name)
            )
        task = self.model.task if self.model else None
        predictions = [row.get(PREDICTION_COLUMN) for row in rows]
        numeric = task == REGRESSION and not any(
            isinstance(value, list) for value in predictions
        )
        arrays[PREDICTION_COLUMN] = column_array(
            predictions, NUMERIC if numeric else None
        )
        return pa.table(arrays)

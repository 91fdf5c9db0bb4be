"""Decode KServe V1 and V2 inference payloads into :class:`LoggedEvent` records.

Both payload protocols of the stock sklearn runtime are understood:

* V1: ``{"instances": [[...], ...]}`` (or ``"inputs"``; rows as lists in training
  column order, or as objects keyed by column) answered by
  ``{"predictions": [...]}``;
* V2: ``{"inputs": [{"name", "shape", "datatype", "data"}, ...]}``, either one input
  per column (shape ``[n]`` or ``[n, 1]``, as with ``"content_type": "pd"``) or one
  ``[n, features]`` tensor, answered by
  ``{"model_name", "outputs": [{"name", "shape", "datatype", "data"}]}``; the first
  output is the prediction, one value per row (a row of several values, such as
  probabilities, is kept as a list).

A :class:`LoggedEvent` is also the sink's journal record (:meth:`LoggedEvent.to_json`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlops_suite.monitoring.payloads.cloudevents import (
    REQUEST_TYPE,
    RESPONSE_TYPE,
    CloudEvent,
    EventError,
    shown_id,
)

REQUEST = "request"
RESPONSE = "response"


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
    shown = shown_id(event_id)
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
    shown = shown_id(event_id)
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
            f"Event '{shown_id(event.id)}' has type '{event.type}'; expected "
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

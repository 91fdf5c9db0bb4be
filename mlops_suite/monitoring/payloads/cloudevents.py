"""Read a CloudEvent 1.0 from an HTTP request, as KServe's payload logger sends it.

KServe's agent sends each event in HTTP binary mode: the body is the payload exactly
as the client sent it (or the model answered), and the attributes travel as
percent-encoded headers: ``ce-id`` (the request id, shared by the request and its
response), ``ce-type`` (:data:`REQUEST_TYPE` or :data:`RESPONSE_TYPE`),
``ce-source``, ``ce-specversion``, ``ce-time``, and the extensions
``ce-inferenceservicename``, ``ce-namespace``, ``ce-component`` and ``ce-endpoint``.
Structured mode (``application/cloudevents+json``, attributes and ``data`` or
``data_base64`` in one JSON object) is accepted too; batches are not.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from mlops_suite.errors import MlopsError

REQUEST_TYPE = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"
SPEC_VERSION = "1.0"
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
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


def shown_id(event_id: str) -> str:
    """Return an event id fit for a message: cut to 80 characters, then ``...``.

    Args:
        event_id: The ``id`` attribute as received.

    Returns:
        The id itself when short, else its first 80 characters and ``...``.
    """
    return event_id if len(event_id) <= _SHOWN_ID else event_id[:_SHOWN_ID] + "..."


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def load_json(raw: bytes | str, what: str) -> Any:
    """Decode an inference payload, keeping NaN and Infinity as missing values.

    Args:
        raw: The payload's bytes or text.
        what: How the message names it (``The data of event 'abc'``).

    Returns:
        The decoded JSON value.

    Raises:
        EventError: The payload is not valid JSON (or not UTF-8).
    """
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
        envelope = load_json(body, "The structured CloudEvent")
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
            f"Event '{shown_id(event_id)}' has no data; expected a JSON inference "
            "payload."
        )
    # The logger copies the client's Content-Type (curl sends a form type for JSON),
    # so JSON is tried whatever the type says.
    if isinstance(raw_data, bytes | str):
        data = load_json(raw_data, f"The data of event '{shown_id(event_id)}'")
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

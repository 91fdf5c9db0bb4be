"""CloudEvents from KServe's payload logger, read from headers and bodies alone."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from mlops_suite.monitoring.payloads.cloudevents import (
    REQUEST_TYPE,
    EventError,
    parse_cloudevent,
    shown_id,
)

PAYLOAD = {"instances": [[1.0, "a"]]}


def binary_headers(**overrides: str) -> dict[str, str]:
    """The headers KServe's agent sends, in Go's spelling."""
    headers = {
        "Ce-Id": "req-1",
        "Ce-Type": REQUEST_TYPE,
        "Ce-Source": "http://localhost:9081/",
        "Ce-Specversion": "1.0",
        "Ce-Time": "2026-11-23T10:00:00Z",
        "Ce-Inferenceservicename": "penguins",
        "Ce-Namespace": "kubeflow",
        "Ce-Endpoint": "canary",
        "Content-Type": "application/json",
    }
    headers.update(overrides)
    return headers


def structured_body(**fields: Any) -> bytes:
    envelope = {
        "specversion": "1.0",
        "id": "req-1",
        "type": REQUEST_TYPE,
        "source": "http://localhost:9081/",
        "inferenceservicename": "penguins",
        **fields,
    }
    return json.dumps(envelope).encode()


STRUCTURED = {"Content-Type": "application/cloudevents+json; charset=utf-8"}


def test_binary_mode_reads_attributes_from_headers_of_any_case() -> None:
    headers = {name.lower(): value for name, value in binary_headers().items()}
    event = parse_cloudevent(headers, json.dumps(PAYLOAD).encode())

    assert (event.id, event.type, event.source) == (
        "req-1",
        REQUEST_TYPE,
        "http://localhost:9081/",
    )
    assert event.extensions == {
        "time": "2026-11-23T10:00:00Z",
        "inferenceservicename": "penguins",
        "namespace": "kubeflow",
        "endpoint": "canary",
    }
    assert event.data == PAYLOAD


def test_binary_header_values_are_percent_decoded() -> None:
    # The CloudEvents HTTP binding percent-encodes header values.
    headers = binary_headers(**{"Ce-Id": "id%20with%20spaces", "Ce-Namespace": "a%2Fb"})
    event = parse_cloudevent(headers, b'{"instances": [[1]]}')
    assert event.id == "id with spaces"
    assert event.extensions["namespace"] == "a/b"


def test_json_is_read_whatever_content_type_the_client_sent() -> None:
    # The logger copies the client's Content-Type; curl sends a form type for JSON.
    headers = binary_headers(**{"Content-Type": "application/x-www-form-urlencoded"})
    assert parse_cloudevent(headers, b'{"instances": [[1]]}').data == {
        "instances": [[1]]
    }


def test_nan_and_infinity_in_the_payload_become_missing_values() -> None:
    event = parse_cloudevent(binary_headers(), b'{"instances": [[NaN, Infinity, 2]]}')
    assert event.data == {"instances": [[None, None, 2]]}


def test_structured_mode_reads_attributes_and_data_from_one_object() -> None:
    event = parse_cloudevent(STRUCTURED, structured_body(data=PAYLOAD, retries=2))
    assert event.id == "req-1"
    assert event.extensions == {"inferenceservicename": "penguins", "retries": "2"}
    assert event.data == PAYLOAD


def test_structured_mode_decodes_data_base64() -> None:
    encoded = base64.b64encode(json.dumps(PAYLOAD).encode()).decode()
    event = parse_cloudevent(STRUCTURED, structured_body(data_base64=encoded))
    assert event.data == PAYLOAD


def test_a_long_id_is_cut_in_messages() -> None:
    long_id = "x" * 200
    assert shown_id("short") == "short"
    assert shown_id(long_id) == "x" * 80 + "..."
    with pytest.raises(EventError) as refused:
        parse_cloudevent(binary_headers(**{"Ce-Id": long_id}), b"")
    assert long_id not in str(refused.value)
    assert "x" * 80 + "..." in str(refused.value)


BODY = json.dumps(PAYLOAD).encode()
NO_ID = {k: v for k, v in binary_headers().items() if k != "Ce-Id"}


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        (NO_ID, BODY, "The CloudEvent lacks the 'id' attribute (header ce-id);"),
        (
            binary_headers(**{"Ce-Specversion": "0.3"}),
            BODY,
            "CloudEvent spec version '0.3' is not supported; expected 1.0.",
        ),
        (binary_headers(), b"", "Event 'req-1' has no data;"),
        (
            binary_headers(),
            b"instances=1",
            "The data of event 'req-1' is not valid JSON",
        ),
        (
            {"Content-Type": "application/cloudevents-batch+json"},
            b"[]",
            "Batched CloudEvents are not supported; expected one event per request.",
        ),
        (
            STRUCTURED,
            b'{"specversion": "1.0", "id": "x", "source": "s", "data": {}}',
            "The CloudEvent lacks the 'type' attribute; expected",
        ),
        (
            STRUCTURED,
            b"[1, 2]",
            "The structured CloudEvent is a JSON list; expected an object.",
        ),
        (
            STRUCTURED,
            structured_body(data_base64="%%%"),
            "The structured CloudEvent's data_base64 is not valid base64.",
        ),
    ],
    ids=[
        "no id",
        "old spec",
        "no data",
        "not json",
        "batch",
        "structured without type",
        "structured not an object",
        "bad base64",
    ],
)
def test_bad_events_are_refused_in_one_sentence(
    headers: dict[str, str], body: bytes, reason: str
) -> None:
    with pytest.raises(EventError) as refused:
        parse_cloudevent(headers, body)
    message = str(refused.value)
    assert reason in message
    assert "\n" not in message and message.endswith(".")

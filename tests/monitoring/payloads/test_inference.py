"""V1 and V2 inference payloads decoded into logged events, without a server."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from mlops_suite.monitoring.payloads.cloudevents import (
    REQUEST_TYPE,
    RESPONSE_TYPE,
    CloudEvent,
    EventError,
)
from mlops_suite.monitoring.payloads.inference import (
    LoggedEvent,
    decode_event,
    decode_request,
    decode_response,
)

RECEIVED = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def tensor(name: str, shape: list[int], data: list[Any]) -> dict[str, Any]:
    """A V2 tensor; decoding does not read the datatype."""
    return {"name": name, "shape": shape, "datatype": "BYTES", "data": data}


def cloudevent(kind: str, data: Any, **extensions: str) -> CloudEvent:
    return CloudEvent(
        id="r-1",
        type=REQUEST_TYPE if kind == "request" else RESPONSE_TYPE,
        source="http://localhost:9081/",
        extensions=extensions,
        data=data,
    )


def test_v1_list_instances_are_positional_rows() -> None:
    columns, rows = decode_request({"instances": [[1.0, "a"], [2.0, "b"]]}, "r-1")
    assert columns is None
    assert rows == [(1.0, "a"), (2.0, "b")]


def test_v1_inputs_and_scalar_instances_are_rows_too() -> None:
    assert decode_request({"inputs": [[1, 2]]}, "r-1") == (None, [(1, 2)])
    assert decode_request({"instances": [5, 6]}, "r-1") == (None, [(5,), (6,)])


def test_v1_object_instances_are_named_and_a_missing_key_is_missing() -> None:
    columns, rows = decode_request(
        {"instances": [{"island": "Dream", "bill": 41.0}, {"bill": 50.5, "x": 1}]},
        "r-1",
    )
    assert columns == ("island", "bill", "x")
    assert rows == [("Dream", 41.0, None), (None, 50.5, 1)]


def test_v2_content_type_pd_gives_one_named_column_per_input() -> None:
    request = {
        "inputs": [
            tensor("island", [2], ["Dream", "Biscoe"]),
            tensor("bill_length_mm", [2, 1], [[41.0], [50.5]]),
        ],
        "parameters": {"content_type": "pd"},
    }
    columns, rows = decode_request(request, "r-1")
    assert columns == ("island", "bill_length_mm")
    assert rows == [("Dream", 41.0), ("Biscoe", 50.5)]


def test_a_v2_tensor_of_n_by_features_gives_positional_rows() -> None:
    # Nested or flat data: the shape says where the rows break.
    for data in ([1, 2, 3, 4, 5, 6], [[1, 2, 3], [4, 5, 6]]):
        request = {"inputs": [tensor("input-0", [2, 3], data)]}
        assert decode_request(request, "r-1") == (None, [(1, 2, 3), (4, 5, 6)])


def test_v1_and_v2_responses_give_one_prediction_per_row() -> None:
    assert decode_response({"predictions": ["Adelie", "Gentoo"]}, "r-1") == (
        None,
        ["Adelie", "Gentoo"],
    )
    v2 = {"model_name": "penguins", "outputs": [tensor("output-0", [2], [0, 1])]}
    assert decode_response(v2, "r-1") == ("penguins", [0, 1])


def test_a_v2_row_of_several_values_is_kept_as_one_prediction() -> None:
    probabilities = {"outputs": [tensor("output-0", [2, 2], [0.9, 0.1, 0.2, 0.8])]}
    assert decode_response(probabilities, "r-1") == (None, [[0.9, 0.1], [0.2, 0.8]])


def test_a_request_event_keeps_where_it_was_served() -> None:
    event = decode_event(
        cloudevent(
            "request",
            {"instances": [[1, 2], [3, 4]]},
            inferenceservicename="penguins",
            namespace="kubeflow",
            endpoint="canary",
            time="2026-11-23T09:59:59Z",
        ),
        RECEIVED,
    )
    assert event == LoggedEvent(
        id="r-1",
        kind="request",
        received_at="2026-11-23T10:00:00+00:00",
        inference_service="penguins",
        namespace="kubeflow",
        endpoint="canary",
        columns=None,
        rows=((1, 2), (3, 4)),
    )
    assert event.size == 2


def test_a_response_event_counts_its_predictions() -> None:
    event = decode_event(cloudevent("response", {"predictions": [1, 0, 1]}), RECEIVED)
    assert (event.kind, event.size, event.predictions) == ("response", 3, (1, 0, 1))
    assert event.inference_service is None


@pytest.mark.parametrize(
    "event",
    [
        LoggedEvent(
            id="r-1",
            kind="request",
            received_at="2026-11-23T10:00:00+00:00",
            inference_service="penguins",
            columns=("a", "b"),
            rows=((1.0, "x"), (None, "y")),
        ),
        LoggedEvent(
            id="r-1",
            kind="response",
            received_at="2026-11-23T10:00:00+00:00",
            model_name="penguins-v2",
            predictions=([0.9, 0.1], [0.2, 0.8]),
        ),
    ],
    ids=["request", "response"],
)
def test_an_event_survives_the_journal_round_trip(event: LoggedEvent) -> None:
    line = json.dumps(event.to_json(), allow_nan=False)
    restored = LoggedEvent.from_json(json.loads(line))
    assert restored.to_json() == event.to_json()
    assert restored.size == event.size


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([[1, 2]], "Request 'r-1' is a JSON list; expected an object"),
        ({"rows": [[1]]}, "Request 'r-1' has keys ['rows']; expected 'instances'"),
        ({"instances": []}, "Request 'r-1' has no instances; expected a non-empty"),
        (
            {"instances": [{"a": 1}, [1]]},
            "Request 'r-1' mixes object and list instances; expected one form.",
        ),
        (
            {"instances": [[1, 2, 3], [1, 2]]},
            "Request 'r-1' has instances of [2, 3] values; expected every instance",
        ),
        (
            {"inputs": [{"shape": [1], "data": [1]}]},
            "Input 0 of request 'r-1' has no name; expected a V2 input tensor.",
        ),
        (
            {"inputs": [{"name": "a", "shape": [1]}]},
            "Input 0 of request 'r-1' ('a') has no data; expected a V2 tensor.",
        ),
        (
            {"inputs": [tensor("a", [3], [1, 2])]},
            "Input 0 of request 'r-1' ('a') has 2 values but shape [3];",
        ),
        (
            {"inputs": [tensor("a", ["2"], [1, 2])]},
            "Input 0 of request 'r-1' ('a') has shape ['2']; expected a list of sizes.",
        ),
        (
            {"inputs": [tensor("a", [1], [1]), tensor("a", [1], [2])]},
            "Request 'r-1' repeats an input name (['a', 'a']); expected one input",
        ),
        (
            {"inputs": [tensor("a", [2], [1, 2]), tensor("b", [1], [3])]},
            "The inputs of request 'r-1' have different lengths ({'a': 2, 'b': 1});",
        ),
        (
            {"inputs": [tensor("a", [1, 2], [1, 2]), tensor("b", [1], [3])]},
            "Input 'a' of request 'r-1' has shape [1, 2]; expected [n] or [n, 1]",
        ),
        (
            {"inputs": [tensor("a", [0, 3], [])]},
            "Request 'r-1' has no instances.",
        ),
    ],
    ids=[
        "not an object",
        "neither v1 nor v2",
        "no instances",
        "mixed forms",
        "ragged",
        "v2 without name",
        "v2 without data",
        "v2 shape mismatch",
        "v2 bad shape",
        "v2 repeated name",
        "v2 different lengths",
        "v2 wide column among several",
        "v2 empty tensor",
    ],
)
def test_bad_requests_are_refused_in_one_sentence(payload: Any, reason: str) -> None:
    with pytest.raises(EventError) as refused:
        decode_request(payload, "r-1")
    message = str(refused.value)
    assert reason in message
    assert "\n" not in message and message.endswith(".")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (
            {"result": [1]},
            "Response 'r-1' has no 'predictions' (V1) or 'outputs' (V2); expected",
        ),
        (
            {"outputs": [{"name": "output-0", "shape": [1]}]},
            "Output 'output-0' of response 'r-1' has no data; expected a V2 tensor.",
        ),
        (
            {"outputs": [tensor("output-0", [2], [1])]},
            "Output 'output-0' of response 'r-1' has 1 values but shape [2];",
        ),
    ],
    ids=["neither v1 nor v2", "v2 without data", "v2 shape mismatch"],
)
def test_bad_responses_are_refused_in_one_sentence(payload: Any, reason: str) -> None:
    with pytest.raises(EventError) as refused:
        decode_response(payload, "r-1")
    message = str(refused.value)
    assert reason in message
    assert "\n" not in message and message.endswith(".")


def test_an_event_of_another_type_is_refused() -> None:
    other = CloudEvent("r-1", "com.example.other", "s", {}, {"instances": [[1]]})
    with pytest.raises(EventError, match="has type 'com.example.other'; expected"):
        decode_event(other, RECEIVED)

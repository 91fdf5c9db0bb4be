"""The log sink turns KServe's logger CloudEvents into Parquet rows for monitoring."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops_suite.data.statistics import compute_statistics
from mlops_suite.errors import DataError, MlopsError
from mlops_suite.monitoring import detect_drift
from mlops_suite.monitoring.payloads.cloudevents import REQUEST_TYPE, RESPONSE_TYPE
from mlops_suite.monitoring.payloads.columns import load_model_columns
from mlops_suite.monitoring.sink.output import read_logged
from mlops_suite.monitoring.sink.server import LogSink, running_sink

FEATURES = [
    {"name": "bill_length_mm", "type": "numeric"},
    {"name": "island", "type": "categorical"},
    {"name": "member", "type": "boolean"},
]
BASE = [
    "request_id",
    "row",
    "received_at",
    "inference_service",
    "namespace",
    "endpoint",
    "model_name",
]
BATCH_NAME = re.compile(r"^batch-\d{8}T\d{12}Z-\d{12}\.parquet$")
# Local servers are reached directly, whatever proxy the environment sets.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def post(url: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with DIRECT.open(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def binary(
    kind: str, event_id: str, payload: Any, **extensions: str
) -> tuple[dict[str, str], bytes]:
    """An event as KServe's agent sends it: binary mode, Go's header spelling."""
    headers = {
        "Ce-Id": event_id,
        "Ce-Type": REQUEST_TYPE if kind == "request" else RESPONSE_TYPE,
        "Ce-Source": "http://localhost:9081/",
        "Ce-Specversion": "1.0",
        "Ce-Time": "2026-11-23T10:00:00Z",
        "Ce-Inferenceservicename": extensions.get("isvc", "penguins"),
        "Ce-Namespace": "kubeflow",
        "Ce-Component": "predictor",
        "Ce-Endpoint": extensions.get("endpoint", "default"),
        "Content-Type": "application/json",
    }
    return headers, json.dumps(payload).encode()


def structured(kind: str, event_id: str, payload: Any) -> tuple[dict[str, str], bytes]:
    envelope = {
        "specversion": "1.0",
        "id": event_id,
        "type": REQUEST_TYPE if kind == "request" else RESPONSE_TYPE,
        "source": "http://localhost:9081/",
        "datacontenttype": "application/json",
        "inferenceservicename": "penguins",
        "namespace": "kubeflow",
        "endpoint": "canary",
        "data": payload,
    }
    return {"Content-Type": "application/cloudevents+json"}, json.dumps(
        envelope
    ).encode()


def tensor(name: str, shape: list[int], data: list[Any]) -> dict[str, Any]:
    """A V2 tensor; the sink does not read the datatype."""
    return {"name": name, "shape": shape, "datatype": "BYTES", "data": data}


def send(sink: LogSink, event: tuple[dict[str, str], bytes]) -> None:
    status, text = post(sink.url, *event)
    assert status == 200, text


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll ``condition`` until true; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def wait_for_batches(out: Path, count: int) -> None:
    """Wait until ``count`` batch files are published."""
    wait_for(lambda: len(list(out.glob("batch-*.parquet"))) == count)


@pytest.fixture
def metadata(tmp_path: Path) -> Path:
    path = tmp_path / "model" / "metadata.json"
    path.parent.mkdir()
    path.write_text(
        json.dumps({"features": FEATURES, "label": "species", "task": "classification"})
    )
    return path


def test_v1_request_and_response_become_one_typed_row_per_instance(
    tmp_path: Path, metadata: Path
) -> None:
    out = tmp_path / "logs"
    with running_sink(out, metadata_path=metadata) as sink:
        send(
            sink,
            binary(
                "request",
                "r-1",
                {"instances": [[39.1, "Biscoe", True], [None, "Dream", False]]},
            ),
        )
        send(sink, binary("response", "r-1", {"predictions": ["Adelie", "Gentoo"]}))
    frame = read_logged(out)

    assert list(frame.columns) == [*BASE, "bill_length_mm", "island", "member"] + [
        "prediction"
    ]
    assert frame["request_id"].tolist() == ["r-1", "r-1"]
    assert frame["row"].tolist() == [0, 1]
    assert frame["bill_length_mm"].iloc[0] == 39.1
    assert pd.isna(frame["bill_length_mm"].iloc[1])
    assert frame["island"].tolist() == ["Biscoe", "Dream"]
    assert frame["member"].tolist() == [True, False]
    assert frame["prediction"].tolist() == ["Adelie", "Gentoo"]
    assert frame["inference_service"].unique().tolist() == ["penguins"]
    assert frame["model_name"].unique().tolist() == ["penguins"]
    assert frame["namespace"].unique().tolist() == ["kubeflow"]
    assert frame["endpoint"].unique().tolist() == ["default"]
    assert str(frame["received_at"].dt.tz) == "UTC"
    age = pd.Timestamp.now(tz="UTC") - frame["received_at"].iloc[0]
    assert pd.Timedelta(0) <= age < pd.Timedelta(minutes=1)
    (batch,) = [path.name for path in out.iterdir() if not path.name.startswith(".")]
    assert BATCH_NAME.match(batch)


def test_v2_per_column_inputs_pair_even_when_the_response_comes_first(
    tmp_path: Path, metadata: Path
) -> None:
    out = tmp_path / "logs"
    request = {
        "inputs": [
            tensor("island", [2], ["Dream", "Biscoe"]),
            tensor("bill_length_mm", [2, 1], [[41.0], [50.5]]),
            tensor("member", [2], [False, True]),
        ],
        "parameters": {"content_type": "pd"},
    }
    response = {
        "model_name": "penguins-v2",
        "id": "x",
        "outputs": [tensor("output-0", [2], ["Chinstrap", "Gentoo"])],
    }
    with running_sink(out, metadata_path=metadata) as sink:
        send(sink, structured("response", "r-2", response))
        assert sink.health()["pending_events"] == 1
        send(sink, structured("request", "r-2", request))
        assert sink.health()["pending_events"] == 0
    frame = read_logged(out)

    assert frame["bill_length_mm"].tolist() == [41.0, 50.5]
    assert frame["island"].tolist() == ["Dream", "Biscoe"]
    assert frame["member"].tolist() == [False, True]
    assert frame["prediction"].tolist() == ["Chinstrap", "Gentoo"]
    assert frame["model_name"].unique().tolist() == ["penguins-v2"]
    assert frame["endpoint"].unique().tolist() == ["canary"]


def test_a_v2_tensor_without_metadata_gets_positional_names(tmp_path: Path) -> None:
    out = tmp_path / "logs"
    request = {"inputs": [tensor("input-0", [2, 3], [1, 2, 3, 4, 5, 6])]}
    probabilities = {"outputs": [tensor("output-0", [2, 2], [0.9, 0.1, 0.2, 0.8])]}
    with running_sink(out) as sink:
        send(sink, binary("request", "t-1", request))
        send(sink, binary("response", "t-1", probabilities))
    frame = read_logged(out)

    assert [c for c in frame.columns if c.startswith("feature_")] == [
        "feature_0",
        "feature_1",
        "feature_2",
    ]
    assert frame[["feature_0", "feature_1", "feature_2"]].values.tolist() == [
        [1, 2, 3],
        [4, 5, 6],
    ]
    # A row of several values (probabilities) is kept whole, as JSON text.
    assert [json.loads(value) for value in frame["prediction"]] == [
        [0.9, 0.1],
        [0.2, 0.8],
    ]


def test_events_encoded_by_the_cloudevents_sdk_are_understood(tmp_path: Path) -> None:
    conversion = pytest.importorskip("cloudevents.conversion")
    http = pytest.importorskip("cloudevents.http")
    attributes = {
        "id": "sdk-1",
        "source": "http://localhost:9081/",
        "inferenceservicename": "iris",
    }
    out = tmp_path / "logs"
    with running_sink(out) as sink:
        request = http.CloudEvent(
            {**attributes, "type": REQUEST_TYPE}, {"instances": [[5.1, 3.5]]}
        )
        response = http.CloudEvent(
            {**attributes, "type": RESPONSE_TYPE}, {"predictions": [0]}
        )
        for headers, body in (
            conversion.to_binary(request),
            conversion.to_structured(response),
        ):
            status, text = post(sink.url, dict(headers), body)
            assert status == 200, text
    frame = read_logged(out)
    assert frame[["feature_0", "feature_1", "prediction"]].values.tolist() == [
        [5.1, 3.5, 0]
    ]
    assert frame["inference_service"].tolist() == ["iris"]


def _bad_events() -> list[tuple[str, dict[str, str], bytes, str]]:
    good_headers, good_body = binary(
        "request", "b-1", {"instances": [[1.0, "a", True]]}
    )
    no_id = {k: v for k, v in good_headers.items() if k != "Ce-Id"}
    return [
        ("no id", no_id, good_body, "lacks the 'id' attribute (header ce-id)"),
        ("old spec", {**good_headers, "Ce-Specversion": "0.3"}, good_body, "0.3"),
        (
            "unknown type",
            {**good_headers, "Ce-Type": "com.example.other"},
            good_body,
            "has type 'com.example.other'",
        ),
        ("not json", good_headers, b"instances=1", "is not valid JSON"),
        ("empty", good_headers, b"", "has no data"),
        ("no instances", good_headers, b'{"instances": []}', "has no instances"),
        ("neither v1 nor v2", good_headers, b'{"rows": [[1]]}', "expected 'instances'"),
        (
            "ragged",
            good_headers,
            b'{"instances": [[1, 2, 3], [1, 2]]}',
            "same number of values",
        ),
        (
            "too few features",
            good_headers,
            b'{"instances": [[1.0, "a"]]}',
            "2 positional values per instance but the model's metadata lists 3",
        ),
        (
            "batch mode",
            {"Content-Type": "application/cloudevents-batch+json"},
            b"[]",
            "Batched CloudEvents are not supported",
        ),
        (
            "structured without type",
            {"Content-Type": "application/cloudevents+json"},
            b'{"specversion": "1.0", "id": "x", "source": "s", "data": {}}',
            "lacks the 'type' attribute",
        ),
    ]


def test_malformed_events_get_400_with_one_line_and_the_sink_keeps_serving(
    tmp_path: Path, metadata: Path
) -> None:
    out = tmp_path / "logs"
    with running_sink(out, metadata_path=metadata) as sink:
        for label, headers, body, reason in _bad_events():
            status, text = post(sink.url, headers, body)
            assert status == 400, label
            assert reason in text, (label, text)
            assert text.count("\n") == 1, label
        # A response whose predictions do not match its request's instances.
        send(sink, binary("request", "m-1", {"instances": [[1.0, "a", True]] * 3}))
        status, text = post(
            sink.url, *binary("response", "m-1", {"predictions": ["x", "y"]})
        )
        assert status == 400
        assert "2 predictions but its request has 3 instances" in text
        # Still serving: a good event is recorded, and the refused ones left nothing.
        send(sink, binary("response", "m-1", {"predictions": ["x", "y", "z"]}))
    frame = read_logged(out)
    assert frame["request_id"].tolist() == ["m-1"] * 3
    assert frame["prediction"].tolist() == ["x", "y", "z"]


def test_unknown_paths_and_bodies_too_large_are_refused(tmp_path: Path) -> None:
    with running_sink(tmp_path / "logs", max_body_bytes=200) as sink:
        with pytest.raises(urllib.error.HTTPError) as missing:
            DIRECT.open(f"{sink.url}/nowhere", timeout=5)
        assert missing.value.code == 404
        status, text = post(
            sink.url, *binary("request", "big", {"instances": [[1.0] * 100]})
        )
        assert status == 413
        assert "up to 200 bytes" in text
        with DIRECT.open(f"{sink.url}/healthz", timeout=5) as health:
            assert json.loads(health.read())["status"] == "ok"


def test_a_request_without_response_is_written_with_an_empty_prediction(
    tmp_path: Path, metadata: Path
) -> None:
    out = tmp_path / "logs"
    options = {"pair_timeout_s": 0.2, "flush_seconds": 0.2, "metadata_path": metadata}
    with running_sink(out, **options) as sink:
        send(sink, binary("request", "lonely", {"instances": [[40.0, "Dream", True]]}))
        wait_for(lambda: any(out.glob("batch-*.parquet")))
        assert sink.health()["pending_events"] == 0
    frame = read_logged(out)
    assert frame["request_id"].tolist() == ["lonely"]
    assert frame["island"].tolist() == ["Dream"]
    assert frame["prediction"].isna().all()


def test_twenty_concurrent_senders_each_row_is_written_exactly_once(
    tmp_path: Path, metadata: Path
) -> None:
    out = tmp_path / "logs"
    senders, instances = 20, 3
    failures: list[str] = []

    def client(number: int, url: str) -> None:
        rows = [[float(number), "Biscoe", i % 2 == 0] for i in range(instances)]
        request = binary("request", f"c-{number}", {"instances": rows})
        response = binary(
            "response",
            f"c-{number}",
            {"predictions": [f"p{number}-{i}" for i in range(instances)]},
        )
        # Half the senders deliver the response first, as KServe's workers may.
        for headers, body in (request, response)[:: 1 if number % 2 else -1]:
            status, text = post(url, headers, body)
            if status != 200:
                failures.append(text)

    def flusher(sink: LogSink, done: threading.Event) -> None:
        # Flush as often as possible while the senders post, beside the sink's
        # own flusher (flush_rows=7), so rows are cut at arbitrary points.
        for _ in range(10_000):
            if done.is_set():
                return
            sink.store.flush()
            time.sleep(0.005)

    with running_sink(out, metadata_path=metadata, flush_rows=7) as sink:
        done = threading.Event()
        threads = [
            threading.Thread(target=client, args=(n, sink.url)) for n in range(senders)
        ]
        hammer = threading.Thread(target=flusher, args=(sink, done))
        hammer.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        done.set()
        hammer.join(timeout=30)
        assert not failures
    frame = read_logged(out)

    assert len(frame) == senders * instances
    assert not frame.duplicated(["request_id", "row"]).any()
    for number in range(senders):
        rows = frame[frame["request_id"] == f"c-{number}"].sort_values("row")
        assert rows["bill_length_mm"].tolist() == [float(number)] * instances
        assert rows["prediction"].tolist() == [
            f"p{number}-{i}" for i in range(instances)
        ]
    batches = [path.name for path in out.glob("*.parquet")]
    assert all(BATCH_NAME.match(name) for name in batches)


def test_batch_file_names_sort_in_the_order_rows_arrived(
    tmp_path: Path, metadata: Path
) -> None:
    out = tmp_path / "logs"
    with running_sink(out, metadata_path=metadata, flush_rows=1) as sink:
        for number in range(3):
            send(
                sink,
                binary("request", f"s-{number}", {"instances": [[1.0, "a", True]]}),
            )
            send(sink, binary("response", f"s-{number}", {"predictions": ["x"]}))
            wait_for_batches(out, number + 1)
    names = sorted(path.name for path in out.glob("batch-*.parquet"))
    ids = [read_logged(out / name)["request_id"].item() for name in names]
    assert ids == ["s-0", "s-1", "s-2"]


def test_drift_reads_the_sink_folder_as_current_data(
    tmp_path: Path, metadata: Path, penguins: pd.DataFrame
) -> None:
    reference = penguins.dropna(subset=["island"]).head(200).copy()
    reference["member"] = reference.index % 3 == 0
    features = [feature["name"] for feature in FEATURES]
    statistics = compute_statistics(reference[features])
    out = tmp_path / "logs"
    with running_sink(out, metadata_path=metadata, flush_rows=40) as sink:
        for number, start in enumerate(range(0, len(reference), 40)):
            chunk = reference.iloc[start : start + 40]
            rows = [
                [None if pd.isna(v) else v for v in (bill, island, bool(member))]
                for bill, island, member in chunk[features].itertuples(index=False)
            ]
            predictions = {"predictions": chunk["species"].tolist()}
            send(sink, binary("request", f"d-{start}", {"instances": rows}))
            send(sink, binary("response", f"d-{start}", predictions))
            # 40 rows fill a batch: each chunk gets its own file.
            wait_for_batches(out, number + 1)

    report = detect_drift(statistics, out, features=features)
    assert report.rows_current == len(reference)
    assert not report.drifted, report.drifted_features
    assert len(list(out.glob("batch-*.parquet"))) == 5


def test_reading_logs_that_do_not_exist_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nowhere does not exist"):
        read_logged(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    assert read_logged(tmp_path / "empty").empty
    assert "prediction" in read_logged(tmp_path / "empty").columns


def test_one_sink_per_journal(tmp_path: Path) -> None:
    with running_sink(tmp_path / "logs"):
        with pytest.raises(MlopsError, match="in use by another sink"):
            with running_sink(tmp_path / "logs"):
                pass


def test_bad_metadata_stops_the_sink_with_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(MlopsError, match="does not exist; expected the model's"):
        LogSink(tmp_path / "logs", metadata_path=tmp_path / "missing.json")
    clash = tmp_path / "clash.json"
    clash.write_text(
        json.dumps({"features": [{"name": "prediction", "type": "numeric"}]})
    )
    with pytest.raises(MlopsError, match="a column the sink adds itself"):
        load_model_columns(clash)
    # A model folder works as well as its metadata.json.
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "metadata.json").write_text(json.dumps({"features": FEATURES}))
    assert [name for name, _ in load_model_columns(folder).features] == [
        "bill_length_mm",
        "island",
        "member",
    ]

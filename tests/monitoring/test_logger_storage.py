"""KServe's logger writing to storage, read as the sink's Parquet is: a local folder.

The objects are written as KServe's agent writes them (tests/support/
kserve_logger_storage.py); the same events go through the sink, and both must give
the same rows and the same drift report. The S3/GCS version:
tests/stores/test_logger_storage_on_stores.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from kserve_logger_storage import LoggerStorage
from sink_process import post

from mlops_suite.cli import main
from mlops_suite.data.statistics import compute_statistics
from mlops_suite.errors import DataError
from mlops_suite.monitoring.logger_storage import (
    LoggerStoragePart,
    find_logged_objects,
    read_logged_objects,
)
from mlops_suite.monitoring.monitor import monitor
from mlops_suite.monitoring.payloads.columns import load_model_columns
from mlops_suite.monitoring.sink.output import read_logged
from mlops_suite.monitoring.sink.server import running_sink
from mlops_suite.monitoring.sources import open_parts

CLASSES = ["Adelie", "Gentoo"]
FEATURES = [
    {"name": "length", "type": "numeric"},
    {"name": "island", "type": "categorical"},
]


@pytest.fixture
def metadata(tmp_path: Path) -> Path:
    """A classifier's metadata.json: two features and two classes."""
    path = tmp_path / "model" / "metadata.json"
    path.parent.mkdir()
    path.write_text(
        json.dumps(
            {
                "features": FEATURES,
                "task": "classification",
                "classes": CLASSES,
                "version": 1,
            }
        )
    )
    return path


def traffic(seed: int, requests: int, shift: float = 0.0) -> list[tuple[str, Any, Any]]:
    """V1 and V2 requests and their answers (classes, or probabilities)."""
    rng = np.random.default_rng(seed)
    events = []
    for number in range(requests):
        size = int(rng.integers(1, 4))
        lengths = np.round(rng.normal(45 + shift, 5, size), 2).tolist()
        islands = rng.choice(["Biscoe", "Dream", "Torgersen"], size).tolist()
        event_id = f"{seed}-{number:04d}"
        if number % 3 == 0:
            request: Any = {
                "inputs": [
                    {"name": "length", "shape": [size], "datatype": "FP64"}
                    | {"data": lengths},
                    {"name": "island", "shape": [size], "datatype": "BYTES"}
                    | {"data": islands},
                ]
            }
            answer = [CLASSES[int(value > 45)] for value in lengths]
            response: Any = {
                "model_name": "penguins",
                "outputs": [
                    {"name": "output-0", "shape": [size], "datatype": "BYTES"}
                    | {"data": answer}
                ],
            }
        else:
            request = {
                "instances": [list(pair) for pair in zip(lengths, islands, strict=True)]
            }
            gentoo = [round(min(1.0, max(0.0, (v - 40) / 10)), 3) for v in lengths]
            response = {"predictions": [[round(1 - g, 3), g] for g in gentoo]}
        events.append((event_id, request, response))
    return events


def sink_rows(out: Path, metadata: Path, events: list[tuple[str, Any, Any]]) -> Path:
    """The same events through the sink: its Parquet batches under ``out``."""
    with running_sink(
        out, metadata_path=metadata, journal_dir=out.parent / "j"
    ) as sink:
        for event_id, request, response in events:
            assert post(sink.url, "request", event_id, request) == 200
            assert post(sink.url, "response", event_id, response) == 200
    return out


def logged(tmp_path: Path, events: list[tuple[str, Any, Any]], **options: Any) -> str:
    storage = LoggerStorage(str(tmp_path / "kserve-logs"), **options)
    for event_id, request, response in events:
        storage.log_pair(event_id, request, response)
    storage.flush()
    return storage.folder


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in one order, without the times (when the sink received, when KServe
    wrote) and the namespace and endpoint (attributes the test's CloudEvents lack)."""
    dropped = frame.drop(columns=["received_at", "namespace", "endpoint"])
    return dropped.sort_values(["request_id", "row"]).reset_index(drop=True)


def test_the_objects_give_the_rows_the_sink_writes_for_the_same_events(
    tmp_path: Path, metadata: Path
) -> None:
    events = traffic(1, 30)
    folder = logged(tmp_path, events)
    found = find_logged_objects(folder)
    assert found is not None and len(found.paths) == 60

    part = read_logged_objects(found, load_model_columns(metadata))

    from_sink = read_logged(sink_rows(tmp_path / "sink", metadata, events))
    ours = part.table.to_pandas()
    pd.testing.assert_frame_equal(comparable(ours), comparable(from_sink))
    assert set(ours["namespace"]) == {"kubeflow"}
    assert {"proba_Adelie", "proba_Gentoo"} <= set(ours.columns)
    assert part.requests == part.responses == 30
    assert part.unpaired_requests == part.unpaired_responses == 0


def test_monitor_reports_the_same_drift_from_the_objects_as_from_the_sink(
    tmp_path: Path, metadata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reference = pd.DataFrame(
        [
            {"length": value, "island": island}
            for _, request, _ in traffic(2, 200)
            for value, island in _rows(request)
        ]
    )
    statistics = tmp_path / "statistics.json"
    statistics.write_text(json.dumps(compute_statistics(reference)))
    version = json.loads(metadata.read_text()) | {
        "statistics": json.loads(statistics.read_text())
    }
    versioned = tmp_path / "version" / "metadata.json"
    versioned.parent.mkdir()
    versioned.write_text(json.dumps(version))
    events = traffic(3, 120, shift=4.0)
    folder = logged(tmp_path, events, storage_path="/logs")
    sink = sink_rows(tmp_path / "sink", metadata, events)

    reports = {}
    for name, current in (("kserve", folder), ("sink", str(sink))):
        code = main(
            ["monitor", "--reference", str(versioned), "--current", current]
            + ["--report-dir", str(tmp_path / name)]
        )
        assert code == 0
        reports[name] = json.loads((tmp_path / name / "drift.json").read_text())
    out = capsys.readouterr().out

    assert reports["kserve"].pop("current") == folder
    assert reports["sink"].pop("current") == str(sink)
    assert reports["kserve"] == reports["sink"]
    assert "length" in reports["kserve"]["drifted_features"]
    assert f"KServe logger storage {folder}: 240 objects" in out
    assert "unpaired: 0 requests without a response" in out


def _rows(request: Any) -> list[tuple[float, str]]:
    if "instances" in request:
        return [tuple(row) for row in request["instances"]]
    length, island = request["inputs"]
    return list(zip(length["data"], island["data"], strict=True))


def test_unpaired_requests_and_responses_are_counted_and_kept(
    tmp_path: Path, metadata: Path
) -> None:
    storage = LoggerStorage(str(tmp_path / "logs"))
    storage.log_pair("a", {"instances": [[40.0, "Dream"]]}, {"predictions": ["Adelie"]})
    # A failed prediction: KServe logs no response for it.
    storage.log("request", "b", {"instances": [[50.0, "Biscoe"], [51.0, "Dream"]]})
    storage.log("response", "c", {"predictions": ["Gentoo"]})

    part = read_logged_objects(
        find_logged_objects(storage.folder), load_model_columns(metadata)
    )

    assert (part.unpaired_requests, part.unpaired_responses) == (1, 1)
    rows = part.table.to_pandas().set_index(["request_id", "row"])
    assert rows.loc[("b", 1), "length"] == 51.0
    assert pd.isna(rows.loc[("b", 0), "prediction"])
    assert rows.loc[("c", 0), "prediction"] == "Gentoo"
    assert pd.isna(rows.loc[("c", 0), "length"])
    assert len(rows) == 4
    assert "unpaired: 1 request without a response" in part.summary()
    assert "1 response without a request" in part.summary()


def test_batched_objects_are_read_by_their_records_not_their_names(
    tmp_path: Path, metadata: Path
) -> None:
    events = traffic(4, 7)
    folder = logged(tmp_path, events, batch_size=4)
    found = find_logged_objects(folder)
    assert found is not None and len(found.paths) == 4  # 14 records, 4 per object

    part = read_logged_objects(found, load_model_columns(metadata))

    assert part.requests == part.responses == 7
    assert part.unpaired_requests == part.unpaired_responses == 0
    one = read_logged_objects(
        find_logged_objects(logged(tmp_path / "one", events)),
        load_model_columns(metadata),
    )
    pd.testing.assert_frame_equal(
        comparable(part.table.to_pandas()), comparable(one.table.to_pandas())
    )


def test_named_instances_are_read_without_the_model(tmp_path: Path) -> None:
    storage = LoggerStorage(str(tmp_path / "logs"))
    storage.log_pair(
        "n-1",
        {"instances": [{"length": 40.0, "island": "Dream"}]},
        {"predictions": ["Adelie"]},
    )

    (part,) = open_parts(storage.folder, role="current")

    assert isinstance(part, LoggerStoragePart)
    assert part.label == storage.folder
    assert {"length", "island", "prediction"} <= set(part.names())


def test_positional_instances_without_the_model_ask_for_it(tmp_path: Path) -> None:
    storage = LoggerStorage(str(tmp_path / "logs"))
    storage.log_pair("p-1", {"instances": [[40.0, "Dream"]]}, {"predictions": ["A"]})

    with pytest.raises(DataError, match="positional instances") as raised:
        open_parts(storage.folder, role="current")
    assert "p-1-request.json" in str(raised.value)
    assert "--registry" in str(raised.value)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "is not JSON"),
        ('"a string"', "holds a JSON str"),
        ("[]", "holds an empty array"),
        ('{"Id": "x", "ReqType": "org.kubeflow.serving.inference.explain"}', "type"),
        (
            '{"Id": "x", "ReqType": "org.kubeflow.serving.inference.request", '
            '"Bytes": "%%%"}',
            "'Bytes' is not base64",
        ),
        (
            '{"Id": "x", "ReqType": "org.kubeflow.serving.inference.request", '
            '"Bytes": "bm90IGpzb24="}',
            "is not valid JSON",
        ),
    ],
)
def test_a_malformed_object_is_named_in_one_sentence(
    tmp_path: Path, metadata: Path, content: str, expected: str
) -> None:
    storage = LoggerStorage(str(tmp_path / "logs"))
    storage.log_pair("ok", {"instances": [[40.0, "Dream"]]}, {"predictions": ["A"]})
    storage.write("kubeflow/penguins/predictor/x-request.json", content)

    with pytest.raises(DataError, match=expected) as raised:
        read_logged_objects(
            find_logged_objects(storage.folder), load_model_columns(metadata)
        )
    message = str(raised.value)
    assert "kubeflow/penguins/predictor/x-request.json" in message
    assert "\n" not in message


def test_a_response_that_answers_another_number_of_rows_names_both_objects(
    tmp_path: Path, metadata: Path
) -> None:
    storage = LoggerStorage(str(tmp_path / "logs"))
    storage.log_pair("m", {"instances": [[40.0, "Dream"]]}, {"predictions": ["A", "B"]})

    with pytest.raises(DataError, match="do not pair") as raised:
        read_logged_objects(
            find_logged_objects(storage.folder), load_model_columns(metadata)
        )
    assert "m-request.json" in str(raised.value)
    assert "m-response.json" in str(raised.value)


def test_a_folder_with_the_sinks_parquet_is_not_read_as_logger_storage(
    tmp_path: Path, metadata: Path
) -> None:
    sink = sink_rows(tmp_path / "sink", metadata, traffic(5, 3))
    assert find_logged_objects(str(sink)) is None
    assert find_logged_objects(str(tmp_path / "missing")) is None


def test_a_folder_with_neither_names_both_layouts(tmp_path: Path) -> None:
    (tmp_path / "notes.json").write_text("{}")

    with pytest.raises(DataError, match="holds no Parquet file") as raised:
        open_parts(tmp_path, role="current")
    assert "<id>-request.json" in str(raised.value)


def test_the_monitor_function_reads_positional_instances_with_the_version(
    tmp_path: Path, metadata: Path
) -> None:
    events = traffic(6, 20)
    folder = logged(tmp_path, events)
    statistics = compute_statistics(
        pd.DataFrame(
            [r for _, q, _ in events for r in _rows(q)], columns=["length", "island"]
        )
    )
    version = json.loads(metadata.read_text()) | {"statistics": statistics}

    result = monitor(folder, tmp_path / "report", metadata=version)

    assert result.drift.rows_current == sum(len(_rows(q)) for _, q, _ in events)
    assert result.traffic is not None and result.summary().startswith(result.traffic)


def test_the_timeline_reads_the_objects_with_the_version_and_says_what_it_read(
    tmp_path: Path, metadata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = traffic(7, 60)
    rows = [row for _, request, _ in events for row in _rows(request)]
    version = json.loads(metadata.read_text()) | {
        "statistics": compute_statistics(
            pd.DataFrame(rows, columns=["length", "island"])
        )
    }
    versioned = tmp_path / "version" / "metadata.json"
    versioned.parent.mkdir()
    versioned.write_text(json.dumps(version))
    folder = logged(tmp_path, events)

    code = main(
        ["monitor", "--reference", str(versioned), "--current", folder]
        + ["--chunk-size", "50", "--report-dir", str(tmp_path / "report")]
    )

    assert code == 0
    assert capsys.readouterr().out.startswith(f"KServe logger storage {folder}: ")
    timeline = json.loads((tmp_path / "report" / "monitoring.json").read_text())
    assert sum(chunk["rows"] for chunk in timeline["chunks"]) == len(rows)

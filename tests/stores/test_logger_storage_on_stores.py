"""KServe's logger storing the traffic in a real bucket (moto's S3, the GCS emulator).

The objects are laid out as KServe's agent writes them with ``logger.storage``
(tests/support/kserve_logger_storage.py); ``mlops monitor --current`` on that folder
must give the drift report the sink's Parquet of the same events gives. The local
folder version: tests/monitoring/test_logger_storage.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import pandas as pd
import pytest
from kserve_logger_storage import LoggerStorage
from object_stores import ObjectStore
from sink_process import post

from mlops_suite.artifacts import METADATA_FILE, MODEL_FILE
from mlops_suite.cli import DRIFT_EXIT, main
from mlops_suite.data.statistics import compute_statistics
from mlops_suite.monitoring.sink.server import running_sink
from mlops_suite.registry import ModelRegistry
from mlops_suite.training.train import to_v1_instances

pytestmark = pytest.mark.stores
MODEL = "penguins"


def test_monitor_reads_kserves_logger_storage_as_it_reads_the_sinks_parquet(
    store: ObjectStore,
    model_folders: list[Path],
    penguins: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    uri = store.uri("registry")
    registry = ModelRegistry(uri)
    registry.register(
        MODEL, model_folders[0], lineage={}, statistics=compute_statistics(penguins)
    )
    metadata_uri = f"{registry.version_uri(MODEL, 1)}/{METADATA_FILE}"
    features = registry.metadata(MODEL, 1)["features"]
    model = joblib.load(model_folders[0] / MODEL_FILE)
    # Served traffic of Gentoo penguins only: heavier birds, all from Biscoe.
    gentoo = penguins[penguins["species"] == "Gentoo"].drop(columns=["species"])
    events = []
    for start in range(0, len(gentoo), 20):
        rows = gentoo.iloc[start : start + 20]
        request = {"instances": to_v1_instances(rows, features)}
        response = {"predictions": model.predict(rows).tolist()}
        events.append((f"r-{start}", request, response))
    # One request KServe logged no response for (the prediction failed).
    unanswered = {"instances": to_v1_instances(gentoo.iloc[:3], features)}

    kserve = LoggerStorage(store.uri("kserve-logs"), namespace="models")
    for event_id, request, response in events:
        kserve.log_pair(event_id, request, response)
    kserve.log("request", "failed", unanswered)
    sink_logs = store.uri("logs", MODEL)
    with running_sink(
        sink_logs, metadata_path=metadata_uri, journal_dir=tmp_path / "journal"
    ) as sink:
        for event_id, request, response in events:
            assert post(sink.url, "request", event_id, request) == 200
            assert post(sink.url, "response", event_id, response) == 200
        assert post(sink.url, "request", "failed", unanswered) == 200
    capsys.readouterr()

    reports = {}
    outputs = {}
    for name, current in (("kserve", kserve.folder), ("sink", sink_logs)):
        code = main(
            ["monitor", "--registry", uri, "--model-name", MODEL, "--current", current]
            + ["--report-dir", str(tmp_path / name), "--fail-on-drift"]
        )
        captured = capsys.readouterr()
        assert code == DRIFT_EXIT, captured.err
        outputs[name] = captured.out
        reports[name] = json.loads((tmp_path / name / "drift.json").read_text())

    assert kserve.folder == store.uri("kserve-logs", "models", MODEL)
    assert reports["kserve"].pop("current") == kserve.folder
    assert reports["sink"].pop("current") == sink_logs
    assert reports["kserve"] == reports["sink"]
    assert {"island", "body_mass_g"} <= set(reports["kserve"]["drifted_features"])
    assert reports["kserve"]["rows_current"] == len(gentoo) + 3
    assert outputs["kserve"].startswith(
        f"KServe logger storage {kserve.folder}: {2 * len(events) + 1} objects, "
        f"{len(events) + 1} requests and {len(events)} responses, "
        f"{len(gentoo) + 3} rows; unpaired: 1 request without a response (rows with "
        "an empty prediction), 0 responses without a request"
    )

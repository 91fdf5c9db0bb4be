"""`mlops serve`, `manifest`, `monitor` and `vertex upload` on real object stores.

Each command reads the registry (and, for ``monitor``, the served traffic the sink
logged) from the S3 or GCS server, as it would from the bucket of a cluster.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import joblib
import pandas as pd
import pytest
import requests
import yaml
from object_stores import GOOGLE_TOKEN, ObjectStore
from sink_process import post
from vertex_fake import PROJECT, REGION, FakeVertex

from mlops_suite.artifacts import METADATA_FILE, MODEL_FILE
from mlops_suite.cli import DRIFT_EXIT, main
from mlops_suite.data.statistics import compute_statistics
from mlops_suite.monitoring.sink.server import running_sink
from mlops_suite.registry import ModelRegistry
from mlops_suite.serving.manifests import MODEL_SHA256_ANNOTATION
from mlops_suite.serving.server_process import free_port
from mlops_suite.training.train import to_v1_instances

pytestmark = pytest.mark.stores
MODEL = "penguins"


def one_sentence(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


@contextmanager
def serving(registry_uri: str, tmp_path: Path) -> Iterator[str]:
    """``mlops serve`` of the champion, in its own process; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlops_suite.cli", "serve", "--registry", registry_uri]
        + ["--model-name", MODEL, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # The verified download goes to a temporary folder: this test's.
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(f"{base}/v2/health/ready", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None:
                output = process.stdout.read() if process.stdout else ""
                pytest.fail(f"mlops serve exited: {output[-2000:]}")
            assert time.monotonic() < deadline, "mlops serve was not ready in 90 s"
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def test_serve_answers_with_the_version_it_read_from_the_store(
    store: ObjectStore,
    model_folders: list[Path],
    penguins: pd.DataFrame,
    tmp_path: Path,
) -> None:
    uri = store.uri("registry")
    registry = ModelRegistry(uri)
    registry.register(MODEL, model_folders[0], lineage={})
    registry.register(MODEL, model_folders[1], lineage={})
    features = registry.metadata(MODEL, 2)["features"]
    rows = penguins.drop(columns=["species"]).iloc[[0, 3, 50, 200, 300, 340]]

    with serving(uri, tmp_path) as base:
        response = requests.post(
            f"{base}/v1/models/{MODEL}:predict",
            json={"instances": to_v1_instances(rows, features)},
            timeout=30,
        )

    assert response.status_code == 200, response.text
    champion = joblib.load(model_folders[1] / MODEL_FILE)
    assert response.json()["predictions"] == champion.predict(rows).tolist()


def test_serve_refuses_a_model_file_changed_on_the_store(
    store: ObjectStore,
    model_folders: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uri = store.uri("registry")
    ModelRegistry(uri).register(MODEL, model_folders[0], lineage={})
    # Another valid model in its place: it would load and answer, wrongly.
    store.filesystem().pipe_file(
        store.path("registry", MODEL, "v1", MODEL_FILE),
        (model_folders[1] / MODEL_FILE).read_bytes(),
    )
    monkeypatch.setenv("TMPDIR", str(tmp_path))

    code = main(
        ["serve", "--registry", uri, "--model-name", MODEL, "--port", str(free_port())]
    )

    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    error = one_sentence(captured.err)
    assert f"{uri}/{MODEL}/v1/{MODEL_FILE}" in error and "sha256" in error


def test_manifest_pins_the_version_and_the_hash_of_the_file_on_the_store(
    store: ObjectStore, model_folders: list[Path], tmp_path: Path
) -> None:
    uri = store.uri("registry")
    ModelRegistry(uri).register(MODEL, model_folders[2], lineage={})
    stored = store.filesystem().cat_file(
        store.path("registry", MODEL, "v1", MODEL_FILE)
    )
    out = tmp_path / "deploy"

    code = main(
        ["manifest", "--registry", uri, "--model-name", MODEL, "--storage-uri", uri]
        + ["--overlay", "kind", "--output", str(out)]
    )

    assert code == 0
    kustomization = yaml.safe_load((out / "kustomization.yaml").read_text())
    text = json.dumps(kustomization)
    assert f"{uri}/{MODEL}/v1" in text
    assert MODEL_SHA256_ANNOTATION in text
    assert hashlib.sha256(stored).hexdigest() in text


def test_monitor_reads_the_traffic_the_sink_logged_on_the_store(
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
    logs = store.uri("logs", MODEL)
    # Served traffic of Gentoo penguins only: heavier birds, all from Biscoe.
    gentoo = penguins[penguins["species"] == "Gentoo"].drop(columns=["species"])
    model = joblib.load(model_folders[0] / MODEL_FILE)
    with running_sink(
        logs, metadata_path=metadata_uri, journal_dir=tmp_path / "journal"
    ) as sink:
        for start in range(0, len(gentoo), 20):
            rows = gentoo.iloc[start : start + 20]
            event = f"r-{start}"
            instances = to_v1_instances(rows, features)
            request = {"instances": instances}
            assert post(sink.url, "request", event, request) == 200
            response = {"predictions": model.predict(rows).tolist()}
            assert post(sink.url, "response", event, response) == 200
    capsys.readouterr()

    code = main(
        ["monitor", "--registry", uri, "--model-name", MODEL, "--current", logs]
        + ["--report-dir", str(tmp_path / "report"), "--fail-on-drift"]
    )

    assert code == DRIFT_EXIT, capsys.readouterr().err
    report = json.loads((tmp_path / "report" / "drift.json").read_text())
    assert {"island", "body_mass_g"} <= set(report["drifted_features"])
    assert report["rows_current"] == len(gentoo)
    assert report["current"] == logs


def test_vertex_upload_reads_the_version_from_gcs(
    gcs: ObjectStore, model_folders: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    uri = gcs.uri("registry")
    registry = ModelRegistry(uri)
    registry.register(MODEL, model_folders[0], lineage={"pipeline_run_id": "run-7"})
    vertex = FakeVertex()
    vertex.accepted_tokens.add(GOOGLE_TOKEN)
    try:
        code = main(
            ["vertex", "upload", "--registry", uri, "--model-name", MODEL]
            + ["--project", PROJECT, "--region", REGION, "--api-endpoint", vertex.url]
        )
        (call,) = vertex.calls("POST", r"/models:upload$")
    finally:
        vertex.stop()

    assert code == 0, capsys.readouterr().err
    model = call.json["model"]
    assert model["artifactUri"] == f"{uri}/{MODEL}/v1"
    sha = registry.metadata(MODEL, 1)["model_sha256"]
    assert model["labels"]["mlops-model-sha256"] == sha[:16]
    assert model["labels"]["mlops-pipeline-run"] == "run-7"
    assert "uploaded penguins v1" in capsys.readouterr().out

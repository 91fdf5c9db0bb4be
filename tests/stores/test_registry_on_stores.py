"""The model registry on real S3 and GCS servers: versions, champion, races."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import joblib
import pandas as pd
import pytest
from object_stores import ObjectStore, free_port

from mlops_suite.artifacts import CHAMPION_FILE, MODEL_FILE
from mlops_suite.errors import ModelIntegrityError, RegistryError
from mlops_suite.evaluation.champion import rescore_champion
from mlops_suite.registry import ModelRegistry
from mlops_suite.registry.store import FsspecStore

pytestmark = pytest.mark.stores
MODEL = "penguins"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_register_fetch_promote_on_the_store(
    store: ObjectStore,
    model_folders: list[Path],
    penguins: pd.DataFrame,
    tmp_path: Path,
) -> None:
    uri = store.uri("registry")
    registry = ModelRegistry(uri)
    first, second, _ = model_folders

    assert (
        registry.register(MODEL, first, lineage={"pipeline_run_id": "r1"}).version == 1
    )
    assert registry.register(MODEL, second, lineage={}).version == 2
    again = registry.register(MODEL, second, lineage={})

    assert (again.version, again.created) == (2, False)
    assert registry.versions(MODEL) == [1, 2]
    assert registry.version_uri(MODEL, 2) == f"{uri}/{MODEL}/v2"
    assert registry.lineage(MODEL, 1)["pipeline_run_id"] == "r1"
    # What another client sees on the server: the objects the layout promises.
    fs = store.filesystem()
    champion = json.loads(fs.cat_file(store.path("registry", MODEL, CHAMPION_FILE)))
    assert (champion["version"], champion["model_sha256"]) == (
        2,
        sha256(second / MODEL_FILE),
    )
    stored = fs.cat_file(store.path("registry", MODEL, "v1", MODEL_FILE))
    assert hashlib.sha256(stored).hexdigest() == sha256(first / MODEL_FILE)

    fetched = Path(registry.fetch(MODEL, dest=tmp_path / "serving"))
    features = penguins.drop(columns=["species"]).head(20)
    assert (
        joblib.load(fetched / MODEL_FILE).predict(features).tolist()
        == joblib.load(second / MODEL_FILE).predict(features).tolist()
    )
    assert registry.set_champion(MODEL, 1).previous_version == 2
    assert registry.champion(MODEL).version == 1  # type: ignore[union-attr]
    with pytest.raises(RegistryError, match="not a local folder"):
        registry.local_path(MODEL)


def test_a_changed_model_file_on_the_store_is_refused(
    store: ObjectStore, model_folders: list[Path], tmp_path: Path
) -> None:
    registry = ModelRegistry(store.uri("registry"))
    registry.register(MODEL, model_folders[0], lineage={})
    store.filesystem().pipe_file(
        store.path("registry", MODEL, "v1", MODEL_FILE), b"not a model"
    )

    with pytest.raises(ModelIntegrityError, match=f"{MODEL} v1"):
        registry.fetch(MODEL, dest=tmp_path / "tampered")
    assert not (tmp_path / "tampered" / MODEL_FILE).exists()
    with pytest.raises(ModelIntegrityError):
        registry.set_champion(MODEL, 1)


def test_a_number_claimed_by_a_crashed_registration_is_never_reused(
    store: ObjectStore, model_folders: list[Path]
) -> None:
    # A registration that died after claiming v1 leaves its claim and perhaps a model
    # file, but no metadata: v1 stays invisible and its number is not reused.
    fs = store.filesystem()
    fs.pipe_file(store.path("registry", MODEL, ".claims", "v1", "crashed"), b"")
    fs.pipe_file(store.path("registry", MODEL, "v1", MODEL_FILE), b"half written")
    registry = ModelRegistry(store.uri("registry"))

    assert registry.versions(MODEL) == []
    assert registry.register(MODEL, model_folders[0], lineage={}).version == 2
    assert registry.versions(MODEL) == [2]


def test_racing_threads_take_distinct_versions_and_a_consistent_champion(
    store: ObjectStore,
    model_folders: list[Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # Hold both registrations until both have listed the versions, so they go for
    # the same number and the store has to settle it.
    barrier = threading.Barrier(2, timeout=30)
    listed: list[int] = []
    real_taken = FsspecStore.taken_versions

    def racing(self: FsspecStore, name: str) -> list[int]:
        taken = real_taken(self, name)
        listed.append(max(taken, default=0) + 1)
        if len(listed) <= 2:
            barrier.wait()
        return taken

    monkeypatch.setattr(FsspecStore, "taken_versions", racing)
    registry = ModelRegistry(store.uri("registry"))
    folders = model_folders[:2]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(lambda f: registry.register(MODEL, f, lineage={}), folders)
        )

    assert listed[:2] == [1, 1]  # both really went for v1
    assert sorted(r.version for r in results) == [1, 2]
    _assert_consistent(ModelRegistry(store.uri("registry")), folders, tmp_path)


# A registration in a process of its own, as two pipeline runs would make it: says it
# is ready, waits for the start file, registers each folder, prints the versions.
CHILD = """
import json, os, sys, time
from mlops_suite.registry import ModelRegistry
uri, start, name, *folders = sys.argv[1:]
print("ready", flush=True)
deadline = time.monotonic() + 60
while not os.path.exists(start):
    assert time.monotonic() < deadline, "never started"
    time.sleep(0.01)
registry = ModelRegistry(uri)
print(json.dumps([registry.register(name, f, lineage={}).version for f in folders]))
"""


def test_concurrent_processes_lose_no_version(
    store: ObjectStore, model_folders: list[Path], tmp_path: Path
) -> None:
    uri = store.uri("registry")
    start = tmp_path / "start"
    batches = [model_folders[:2], model_folders[2:]]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, uri, str(start), MODEL, *map(str, batch)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for batch in batches
    ]
    for child in children:  # both imported and waiting: they start together
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
    start.touch()
    outputs = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        outputs.extend(json.loads(out))

    assert sorted(outputs) == [1, 2, 3]
    _assert_consistent(ModelRegistry(uri), model_folders, tmp_path)


def _assert_consistent(
    registry: ModelRegistry, folders: list[Path], tmp_path: Path
) -> None:
    """Every model is a version of its own; the champion names one of them, whole."""
    versions = registry.versions(MODEL)
    assert versions == list(range(1, len(folders) + 1))
    recorded = {v: registry.metadata(MODEL, v)["model_sha256"] for v in versions}
    assert sorted(recorded.values()) == sorted(sha256(f / MODEL_FILE) for f in folders)
    assert all(registry.metadata(MODEL, v)["version"] == v for v in versions)
    champion = registry.champion(MODEL)
    assert champion is not None and champion.version in versions
    assert champion.model_sha256 == recorded[champion.version]
    # The champion's file is whole and matches its hash.
    registry.fetch(MODEL, dest=tmp_path / "champion")


def test_the_cluster_setting_fsspec_s3_endpoint_url_still_reaches_the_server(
    s3_server: ObjectStore,
    model_folders: list[Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The kind path points every step and the sink at KFP's object store with
    # fsspec's own variable (pipelines/platform.py); AWS_ENDPOINT_URL is not set.
    store = s3_server.for_test()
    store.apply(monkeypatch)
    uri = store.uri("registry")
    ModelRegistry(uri).register(MODEL, model_folders[0], lineage={})
    # Were it ignored, the client would go to this closed port (never off 127.0.0.1).
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    # fsspec reads FSSPEC_* variables when it is imported: a new process, as a step.
    child = subprocess.run(
        [sys.executable, "-m", "mlops_suite.cli", "registry", "list"]
        + ["--registry", uri, "--model-name", MODEL],
        env={**os.environ, "FSSPEC_S3_ENDPOINT_URL": store.endpoint},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    assert "v1" in child.stdout


def test_the_approval_gate_rescores_the_champion_read_from_the_store(
    store: ObjectStore,
    model_folders: list[Path],
    penguins: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    uri = store.uri("registry")
    assert rescore_champion(uri, MODEL, penguins) is None  # no champion yet
    ModelRegistry(uri).register(MODEL, model_folders[0], lineage={})
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where it downloads

    score = rescore_champion(uri, MODEL, penguins)

    assert score is not None and score.version == 1 and score.problem == ""
    assert score.metrics is not None and 0.9 < score.metrics["accuracy"] <= 1.0
    # A champion changed on the store stops the gate instead of being scored.
    store.filesystem().pipe_file(
        store.path("registry", MODEL, "v1", MODEL_FILE),
        (model_folders[1] / MODEL_FILE).read_bytes(),
    )
    with pytest.raises(ModelIntegrityError, match=f"{MODEL} v1"):
        rescore_champion(uri, MODEL, penguins)

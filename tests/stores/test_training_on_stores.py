"""``mlops run training`` with its data and its registry on real S3 and GCS servers.

The whole pipeline runs locally (kfp.local); its steps are subprocesses, which find
the server through the same standard variables as the test (``AWS_ENDPOINT_URL``,
``STORAGE_EMULATOR_HOST``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from object_stores import ObjectStore

from mlops_suite.artifacts import MODEL_FILE
from mlops_suite.cli import main
from mlops_suite.data.ingest import dataset_sha256, read_table
from mlops_suite.demo import penguins_csv
from mlops_suite.registry import ModelRegistry

pytestmark = [pytest.mark.stores, pytest.mark.slow]
MODEL = "penguins"


def test_training_reads_from_and_registers_into_the_store(
    store: ObjectStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = Path(penguins_csv()).read_bytes()
    fs = store.filesystem()
    fs.pipe_file(store.path("data", "penguins.csv"), data)
    registry_uri = store.uri("registry")

    code = main(
        ["run", "training", "--data", store.uri("data", "penguins.csv")]
        + ["--label", "species", "--model-name", MODEL, "--registry", registry_uri]
        + ["--pipeline-root", str(tmp_path / "root")]
    )

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"Registered {MODEL} v1" in captured.out
    registry = ModelRegistry(registry_uri)
    assert registry.versions(MODEL) == [1]
    champion = registry.champion(MODEL)
    assert champion is not None and champion.version == 1
    lineage = registry.lineage(MODEL, 1)
    # The table read from the store is the one read from the local file.
    assert lineage["data_sha256"] == dataset_sha256(read_table(penguins_csv()))
    assert lineage["approval_reason"].startswith("Approved")
    stored = fs.cat_file(store.path("registry", MODEL, "v1", MODEL_FILE))
    assert hashlib.sha256(stored).hexdigest() == champion.model_sha256
    # Nothing of the run was written anywhere else in the bucket.
    assert sorted(fs.ls(store.path(), detail=False)) == [
        store.path("data"),
        store.path("registry"),
    ]

"""Every estimator the suite offers exports to ONNX and answers as its Pipeline does."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pandas as pd
import pytest

from mlops_suite.onnx_export import export_onnx, onnx_inputs
from mlops_suite.training.estimators import estimator_names
from mlops_suite.training.train import to_v1_instances

MIXED = "mixed"  # the name the register fixture registers under
Register = Any
CASES = [
    (task, name)
    for task in ("classification", "regression")
    for name in estimator_names(task)
]


def _as_trained(features: list[dict[str, str]], rows: pd.DataFrame) -> pd.DataFrame:
    # The table the Pipeline was fitted on: V1 values in an object frame.
    names = [f["name"] for f in features]
    return pd.DataFrame(to_v1_instances(rows, features), columns=names, dtype=object)


@pytest.mark.parametrize(("task", "estimator"), CASES)
def test_every_estimator_exports_with_parity(
    task: str, estimator: str, register: Register
) -> None:
    registered = register(task, estimator)
    result = export_onnx(registered.registry_uri, MIXED, registered.test)

    assert result.created and result.version == registered.version
    record = result.record
    onnx_file = registered.version_dir / record["path"]
    payload = onnx_file.read_bytes()
    assert record["sha256"] == hashlib.sha256(payload).hexdigest()
    assert record["opset"][""] == 17
    # One named input per feature, in the metadata's order and with its kind.
    features = registered.model.metadata["features"]
    assert [(i["name"], i["feature_type"]) for i in record["inputs"]] == [
        (f["name"], f["type"]) for f in features
    ]
    parity = record["parity"]
    assert parity["rows"] == len(registered.test)

    # The recorded parity holds when a user loads the file with onnxruntime alone.
    runner = onnxruntime.InferenceSession(payload, providers=["CPUExecutionProvider"])
    assert [i.name for i in runner.get_inputs()] == [f["name"] for f in features]
    answers = runner.run(None, onnx_inputs(registered.test, features))
    X = _as_trained(features, registered.test)
    pipeline = registered.model.pipeline
    if task == "classification":
        assert parity["labels_identical"] is True and parity["label_mismatches"] == 0
        assert parity["max_probability_difference"] <= 1e-4
        labels, probabilities = answers
        assert labels.tolist() == pipeline.predict(X).tolist()
        assert np.abs(probabilities - pipeline.predict_proba(X)).max() <= 1e-4
    else:
        assert parity["max_relative_error"] <= 1e-4
        expected = pipeline.predict(X)
        np.testing.assert_allclose(answers[0].ravel(), expected, rtol=1e-4)

    # The metadata the registry serves records it, and the model file still checks.
    metadata = registered.registry.metadata(MIXED, registered.version)
    assert metadata["onnx"] == record
    assert metadata["model_sha256"] == registered.model.metadata["model_sha256"]
    registered.registry.local_path(MIXED, registered.version)


def test_the_version_folder_still_holds_one_model_file_for_kserve(
    register: Register,
) -> None:
    from mlops_suite.model_folder import find_model_file

    registered = register()
    export_onnx(registered.registry_uri, MIXED, registered.test)
    assert find_model_file(registered.version_dir).name == "model.joblib"


def test_the_export_is_a_triton_model_repository(register: Register) -> None:
    registered = register()
    result = export_onnx(registered.registry_uri, MIXED, registered.test)
    repository = registered.version_dir / "onnx"
    version = registered.version
    assert sorted(
        str(p.relative_to(repository)) for p in repository.rglob("*") if p.is_file()
    ) == [f"{MIXED}/{version}/model.onnx", f"{MIXED}/config.pbtxt"]
    assert result.record["path"] == f"onnx/{MIXED}/{version}/model.onnx"
    config = (repository / MIXED / "config.pbtxt").read_text()
    assert f'name: "{MIXED}"' in config
    assert 'platform: "onnxruntime_onnx"' in config
    assert "max_batch_size: 0" in config
    # Every input and output of the model, typed as Triton names them.
    assert config.count("data_type: TYPE_FP64") == 2  # income, visits
    assert config.count("data_type: TYPE_FP32") == 1  # probabilities
    assert config.count("data_type: TYPE_STRING") == 3  # region, member, label
    assert 'name: "region"\n    data_type: TYPE_STRING\n    dims: [ -1, 1 ]' in config
    assert (
        'name: "probabilities"\n    data_type: TYPE_FP32\n    dims: [ -1, 3 ]' in config
    )


def test_a_version_is_exported_once(
    register: Register, snapshot: Callable[[Path], dict[str, bytes]]
) -> None:
    registered = register()
    first = export_onnx(registered.registry_uri, MIXED, registered.test)
    before = snapshot(registered.version_dir)
    again = export_onnx(
        registered.registry_uri, MIXED, registered.test, version=first.version
    )
    assert not again.created and again.record == first.record
    assert snapshot(registered.version_dir) == before


def test_missing_values_are_fed_as_nan_and_empty_text(
    register: Register, mixed_table: pd.DataFrame
) -> None:
    registered = register()
    features = registered.model.metadata["features"]
    rows = mixed_table.loc[[3, 5, 11]]  # income, region and member missing
    feed = onnx_inputs(rows, features)
    assert np.isnan(feed["income"][0, 0])
    assert feed["region"][1, 0] == "" and feed["member"][2, 0] == ""
    assert feed["member"][0, 0] in ("True", "False")
    assert feed["income"].dtype == np.float64 and feed["income"].shape == (3, 1)


def test_metadata_json_on_disk_is_the_one_update(register: Register) -> None:
    registered = register()
    path = registered.version_dir / "metadata.json"
    before = json.loads(path.read_text())
    export_onnx(registered.registry_uri, MIXED, registered.test)
    after = json.loads(path.read_text())
    assert set(after) - set(before) == {"onnx"}
    assert {k: v for k, v in after.items() if k != "onnx"} == before

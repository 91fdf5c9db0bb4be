"""``mlops serve``: the champion answers V1 and V2 exactly as the model predicts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import requests

from mlops_suite.cli import main
from mlops_suite.model_folder import save_model
from mlops_suite.registry import ModelRegistry
from mlops_suite.serving.server_process import free_port
from mlops_suite.training.train import to_v1_instances, train_model


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, penguins: pd.DataFrame) -> Path:
    root = tmp_path_factory.mktemp("registry")
    trained = train_model(penguins, "species", seed=0)
    model_dir = tmp_path_factory.mktemp("model")
    save_model(trained, model_dir)
    ModelRegistry(str(root)).register("penguins", str(model_dir), lineage={})
    return root


@contextmanager
def _mlops_serve(registry: Path, *extra: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlops_suite.cli",
            "serve",
            "--registry",
            str(registry),
            "--model-name",
            "penguins",
            "--port",
            str(port),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/v2/health/ready", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"mlops serve exited: {output[-2000:]}")
            time.sleep(0.3)
        else:
            pytest.fail("mlops serve did not become ready within 60 s")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def served(registry: Path) -> Iterator[str]:
    with _mlops_serve(registry) as base:
        yield base


def _rows(penguins: pd.DataFrame) -> pd.DataFrame:
    # Rows with missing values included: the runtime must decode them as training did.
    return penguins.drop(columns=["species"]).iloc[[0, 3, 50, 200, 300, 340]]


def _expected(registry: Path, rows: pd.DataFrame) -> list[str]:
    model = joblib.load(registry / "penguins" / "v1" / "model.joblib")
    return list(model.predict(rows))


def test_v1_predictions_equal_joblib_predict(
    served: str, registry: Path, penguins: pd.DataFrame
) -> None:
    rows = _rows(penguins)
    metadata = json.loads((registry / "penguins" / "v1" / "metadata.json").read_text())
    instances = to_v1_instances(rows, metadata["features"])
    response = requests.post(
        f"{served}/v1/models/penguins:predict",
        json={"instances": instances},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == _expected(registry, rows)


def test_v2_predictions_equal_joblib_predict(
    served: str, registry: Path, penguins: pd.DataFrame
) -> None:
    rows = _rows(penguins)
    inputs = _v2_inputs(rows)
    response = requests.post(
        f"{served}/v2/models/penguins/infer",
        json={"inputs": inputs, "parameters": {"content_type": "pd"}},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"][0]["data"]
    assert list(np.asarray(outputs)) == _expected(registry, rows)


def test_health_endpoints_answer(served: str) -> None:
    assert requests.get(f"{served}/v2/health/live", timeout=5).ok
    model = requests.get(f"{served}/v1/models/penguins", timeout=5)
    assert model.ok and model.json()["ready"] is True


def _v2_inputs(rows: pd.DataFrame) -> list[dict[str, object]]:
    inputs = []
    for column in rows.columns:
        values = rows[column]
        numeric = pd.api.types.is_numeric_dtype(values)
        data = [
            None if pd.isna(v) else (float(v) if numeric else str(v)) for v in values
        ]
        inputs.append(
            {
                "name": column,
                "shape": [len(data)],
                "datatype": "FP64" if numeric else "BYTES",
                "data": data,
            }
        )
    return inputs


def test_predict_proba_answers_class_probabilities_over_v1_and_v2(
    registry: Path, penguins: pd.DataFrame
) -> None:
    rows = _rows(penguins)
    model = joblib.load(registry / "penguins" / "v1" / "model.joblib")
    expected = model.predict_proba(rows)
    metadata = json.loads((registry / "penguins" / "v1" / "metadata.json").read_text())
    with _mlops_serve(registry, "--predict-proba") as base:
        v1 = requests.post(
            f"{base}/v1/models/penguins:predict",
            json={"instances": to_v1_instances(rows, metadata["features"])},
            timeout=10,
        )
        v2 = requests.post(
            f"{base}/v2/models/penguins/infer",
            json={"inputs": _v2_inputs(rows), "parameters": {"content_type": "pd"}},
            timeout=10,
        )
    assert v1.status_code == 200, v1.text
    assert v2.status_code == 200, v2.text
    (output,) = v2.json()["outputs"]
    assert output["shape"] == [len(rows), len(metadata["classes"])]
    for served in (v1.json()["predictions"], output["data"]):
        probabilities = np.asarray(served, dtype=float).reshape(expected.shape)
        np.testing.assert_allclose(probabilities, expected, rtol=0, atol=1e-9)


def test_predict_proba_of_a_regression_model_is_one_sentence(
    tmp_path: Path, penguins: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = tmp_path / "model"
    rows = penguins.dropna(subset=["body_mass_g"])
    save_model(train_model(rows, "body_mass_g"), model_dir)
    ModelRegistry(str(tmp_path / "registry")).register(
        "penguin-mass", str(model_dir), lineage={}
    )
    code = main(
        [
            "serve",
            "--registry",
            str(tmp_path / "registry"),
            "--model-name",
            "penguin-mass",
            "--predict-proba",
        ]
    )
    assert code == 1
    assert capsys.readouterr().err.strip() == (
        "mlops: error: --predict-proba needs a classifier, but penguin-mass v1 is a "
        "regression model: KServe's sklearn runtime would answer with plain "
        "predictions instead of class probabilities, so leave --predict-proba off "
        "for it."
    )

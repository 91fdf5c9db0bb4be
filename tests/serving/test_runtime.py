"""The local KServe sklearn runtime: loading, request decoding, the live server."""

from __future__ import annotations

import json
import shutil
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from kserve import InferInput, InferRequest

from mlops_suite.artifacts import METADATA_FILE, MODEL_FILE
from mlops_suite.errors import ModelFolderError, ModelIntegrityError, ServingError
from mlops_suite.model_folder import file_sha256
from mlops_suite.serving.probabilities import PREDICT_PROBA_ENV
from mlops_suite.serving.runtime import SklearnRuntimeModel
from mlops_suite.serving.server_process import start_server_in_subprocess

MODEL_NAME = "penguins"
# V1 rows reach the pipeline as a bare array, so scikit-learn warns that the feature
# names are gone; the stock runtime logs the same warning in the pod.
pytestmark = pytest.mark.filterwarnings("ignore:X does not have valid feature names")


def _plain(value: Any) -> Any:
    """A JSON-ready scalar: NaN as None, numpy scalars unwrapped."""
    if pd.isna(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _json_ready(frame: pd.DataFrame) -> list[list[Any]]:
    """Rows as a client sends them over V1: lists in training column order."""
    return [[_plain(value) for value in row] for row in frame.itertuples(index=False)]


def _v2_inputs(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One V2 input per column: FP64 numbers, BYTES strings, null when missing."""
    inputs = []
    for name in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[name])
        data = [
            None if pd.isna(value) else (float(value) if numeric else value)
            for value in frame[name]
        ]
        inputs.append(
            {
                "name": name,
                "datatype": "FP64" if numeric else "BYTES",
                "shape": [len(frame)],
                "data": data,
            }
        )
    return inputs


def _copy(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / "model"))


def _post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _get(url: str) -> tuple[int, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, json.loads(response.read())


# --- loading, in-process ---------------------------------------------------------


def test_load_refuses_a_folder_with_two_model_files(
    good_model_dir: Path, tmp_path: Path
):
    folder = _copy(good_model_dir, tmp_path)
    shutil.copy(folder / MODEL_FILE, folder / "backup.pkl")

    with pytest.raises(ModelFolderError, match="2 model files") as caught:
        SklearnRuntimeModel(MODEL_NAME, folder).load()

    message = str(caught.value)
    assert str(folder) in message and "backup.pkl" in message and MODEL_FILE in message


def test_load_refuses_a_folder_without_a_model_file(tmp_path: Path):
    (tmp_path / "model.json").write_text("{}")

    with pytest.raises(
        ModelFolderError, match=r"holds no \.joblib/\.pkl/\.pickle file"
    ):
        SklearnRuntimeModel(MODEL_NAME, tmp_path).load()


def test_load_refuses_a_model_file_changed_after_training(
    good_model_dir: Path, tmp_path: Path
):
    folder = _copy(good_model_dir, tmp_path)
    expected = json.loads((folder / METADATA_FILE).read_text())["model_sha256"]
    with open(folder / MODEL_FILE, "ab") as handle:
        handle.write(b"\0")
    actual = file_sha256(folder / MODEL_FILE)

    model = SklearnRuntimeModel(MODEL_NAME, folder)
    with pytest.raises(ModelIntegrityError) as caught:
        model.load()

    message = str(caught.value)
    assert MODEL_FILE in message and expected[:12] in message and actual[:12] in message
    assert not model.ready


def test_load_serves_a_plain_kserve_folder_without_metadata(
    good_model_dir: Path, tmp_path: Path
):
    folder = tmp_path / "plain"
    folder.mkdir()
    # Any accepted extension and any name will do, as in the stock runtime.
    shutil.copy(good_model_dir / MODEL_FILE, folder / "classifier.pkl")

    model = SklearnRuntimeModel(MODEL_NAME, folder)

    assert model.load() and model.ready


# --- request decoding, in-process -------------------------------------------------


@pytest.fixture(scope="module")
def loaded_model(good_model_dir: Path) -> SklearnRuntimeModel:
    model = SklearnRuntimeModel(MODEL_NAME, good_model_dir)
    model.load()
    return model


def test_v1_payload_predicts_like_the_pipeline_on_a_dataframe(
    loaded_model: SklearnRuntimeModel,
    sample_rows: pd.DataFrame,
    feature_names: list[str],
    expected_predictions: list[str],
):
    rows = _json_ready(sample_rows[feature_names])

    answer = loaded_model.predict({"instances": rows})

    assert answer == {"predictions": expected_predictions}


def test_v2_pd_payload_predicts_like_the_pipeline_on_a_dataframe(
    loaded_model: SklearnRuntimeModel,
    sample_rows: pd.DataFrame,
    feature_names: list[str],
    expected_predictions: list[str],
):
    inputs = [InferInput(**spec) for spec in _v2_inputs(sample_rows[feature_names])]
    request = InferRequest(MODEL_NAME, inputs, parameters={"content_type": "pd"})

    response = loaded_model.predict(request)

    assert response.outputs[0].datatype == "BYTES"
    assert list(response.outputs[0].data) == expected_predictions


def test_predict_proba_switch_returns_class_probabilities(
    loaded_model: SklearnRuntimeModel,
    sample_rows: pd.DataFrame,
    feature_names: list[str],
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv(PREDICT_PROBA_ENV, "true")

    answer = loaded_model.predict(
        {"instances": _json_ready(sample_rows[feature_names])}
    )

    probabilities = np.asarray(answer["predictions"])
    assert probabilities.shape == (len(sample_rows), 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)


# --- the live server --------------------------------------------------------------


@pytest.fixture(scope="module")
def server_url(good_model_dir: Path) -> Iterator[str]:
    with start_server_in_subprocess(good_model_dir, MODEL_NAME) as url:
        yield url


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v2/health/live", {"live": True}),
        ("/v2/health/ready", {"ready": True}),
        (f"/v1/models/{MODEL_NAME}", {"name": MODEL_NAME, "ready": True}),
    ],
)
def test_server_answers_health_endpoints(server_url: str, path: str, expected: dict):
    status, body = _get(server_url + path)

    assert status == 200
    assert body == expected


def test_server_listens_on_loopback_only(server_url: str):
    assert server_url.startswith("http://127.0.0.1:")
    port = int(server_url.rsplit(":", 1)[1])
    # Linux routes all of 127/8 to loopback: a server bound to 0.0.0.0 (kserve's own
    # default) would accept this connection, one bound to 127.0.0.1 refuses it.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(5)
        assert probe.connect_ex(("127.0.0.2", port)) != 0


def test_served_v1_predictions_equal_in_process_predictions(
    server_url: str,
    sample_rows: pd.DataFrame,
    feature_names: list[str],
    expected_predictions: list[str],
):
    rows = _json_ready(sample_rows[feature_names])

    answer = _post(f"{server_url}/v1/models/{MODEL_NAME}:predict", {"instances": rows})

    assert answer["predictions"] == expected_predictions


def test_served_v2_predictions_equal_in_process_predictions(
    server_url: str,
    sample_rows: pd.DataFrame,
    feature_names: list[str],
    expected_predictions: list[str],
):
    body = {
        "inputs": _v2_inputs(sample_rows[feature_names]),
        "parameters": {"content_type": "pd"},
    }

    answer = _post(f"{server_url}/v2/models/{MODEL_NAME}/infer", body)

    assert answer["model_name"] == MODEL_NAME
    assert answer["outputs"][0]["shape"] == [len(sample_rows)]
    assert answer["outputs"][0]["data"] == expected_predictions


def test_server_stops_when_the_block_ends(good_model_dir: Path):
    with start_server_in_subprocess(good_model_dir, "short-lived") as url:
        assert _get(f"{url}/v2/health/ready")[0] == 200

    with pytest.raises(urllib.error.URLError):
        _get(f"{url}/v2/health/live")


def test_server_that_cannot_load_reports_its_error(
    good_model_dir: Path, tmp_path: Path
):
    folder = _copy(good_model_dir, tmp_path)
    shutil.copy(folder / MODEL_FILE, folder / "model.pickle")

    with pytest.raises(ServingError, match="exited with code 2") as caught:
        with start_server_in_subprocess(folder, MODEL_NAME, startup_timeout_s=60):
            pytest.fail("a folder with two model files must not be served")

    assert "holds 2 model files (model.joblib, model.pickle)" in str(caught.value)

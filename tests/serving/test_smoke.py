"""The V1 smoke request, against a tiny local server that answers KServe's V1 protocol.

The server predicts with the real model folder from ``conftest.py`` (the serving
contract's Pipeline on penguins), the way KServe's sklearn runtime does: the request's
``instances`` become ``np.array(rows, dtype=object)``. Also the prediction comparison
the smoke request and infra validation share.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import k8s_fake
import numpy as np
import pandas as pd
import pytest
from v1_server import V1Server, predict_with

from mlops_suite.artifacts import MODEL_FILE
from mlops_suite.errors import DeploymentError
from mlops_suite.serving.deploy import deploy
from mlops_suite.serving.inference_service import build_inference_service
from mlops_suite.serving.rollout import DeploymentRolledBack
from mlops_suite.serving.server_process import free_port
from mlops_suite.serving.smoke import same_prediction, v1_smoke_request


@pytest.fixture(scope="module")
def model(good_model_dir: Path) -> Any:
    return joblib.load(good_model_dir / MODEL_FILE)


@pytest.fixture(scope="module")
def rows(sample_rows: pd.DataFrame, feature_names: list[str]) -> list[list[Any]]:
    """The sample rows in the V1 form: feature values in training order, NaN kept."""
    return sample_rows[feature_names].astype(object).values.tolist()


@pytest.fixture
def v1(model: Any) -> Iterator[V1Server]:
    with V1Server(predict_with(model)) as server:
        yield server


def test_accepts_what_the_served_model_predicts(
    v1: V1Server, rows: list[list[Any]], expected_predictions: list[str]
) -> None:
    predictions = v1_smoke_request(v1.url, "penguins", rows, expected_predictions)

    assert predictions == expected_predictions
    sent = v1.bodies[0]["instances"]
    # Missing values travel as JSON null, never as NaN (which is not JSON).
    assert any(value is None for row in sent for value in row)
    assert len(sent) == len(rows)


def test_wrong_predictions_name_how_many_rows_and_the_first(
    v1: V1Server, rows: list[list[Any]], expected_predictions: list[str]
) -> None:
    wrong = ["Gentoo" if p != "Gentoo" else "Adelie" for p in expected_predictions[:3]]
    expected = wrong + expected_predictions[3:]
    with pytest.raises(DeploymentError) as raised:
        v1_smoke_request(v1.url, "penguins", rows, expected)
    message = str(raised.value)
    assert f"at 3 of {len(rows)} rows" in message
    assert f"row 0 expected {wrong[0]!r}, got {expected_predictions[0]!r}" in message


@pytest.mark.parametrize(
    ("answer", "named"),
    [
        ((500, {"error": "model not loaded"}), 'answered HTTP 500 ({"error": "model'),
        ((200, {"outputs": []}), "no 'predictions' list"),
        ((200, {"predictions": ["Adelie"]}), "returned 1 predictions for 2 rows"),
        ((200, b"<html>gateway</html>"), "not JSON"),
    ],
)
def test_a_bad_answer_is_one_clear_sentence(
    answer: tuple[int, Any], named: str
) -> None:
    with V1Server(lambda name, body: answer) as server:
        with pytest.raises(DeploymentError) as raised:
            v1_smoke_request(server.url, "penguins", [[1.0], [2.0]])
    assert named in str(raised.value)
    assert f"{server.url}/v1/models/penguins:predict" in str(raised.value)


def test_an_unreachable_model_server_is_named() -> None:
    port = free_port()  # free a moment ago: nothing listens there
    with pytest.raises(DeploymentError, match=f"127.0.0.1:{port}.*got no answer"):
        v1_smoke_request(f"http://127.0.0.1:{port}", "penguins", [[1.0]], timeout_s=2)


def test_deploy_rolls_back_a_version_that_answers_wrongly(
    model: Any, rows: list[list[Any]], expected_predictions: list[str]
) -> None:
    """End to end: the fake cluster serves v1 and v2 at one URL, v2 answers wrongly."""
    uris = {v: f"s3://mlpipeline/registry/penguins/v{v}" for v in (1, 2)}

    def isvc(version: int) -> dict[str, Any]:
        return build_inference_service(
            name="penguins",
            namespace="kubeflow",
            storage_uri=uris[version],
            model_version=version,
            model_sha256=str(version) * 64,
            mode="raw",
        )

    with k8s_fake.FakeKube() as cluster:

        def answer(name: str, body: dict[str, Any]) -> tuple[int, Any]:
            live = cluster.get("kubeflow", name)
            code, payload = predict_with(model)(name, body)
            if live["spec"]["predictor"]["model"]["storageUri"] == uris[2]:
                payload["predictions"] = ["Adelie"] * len(payload["predictions"])
            return code, payload

        with V1Server(answer) as server:
            cluster.serve_url = server.url
            cluster.put(isvc(1))
            smoke = functools.partial(
                v1_smoke_request,
                model_name="penguins",
                instances=rows,
                expected=expected_predictions,
            )
            api = cluster.client()
            unchanged = deploy(isvc(1), api=api, smoke=smoke, timeout_s=5, poll_s=0.01)
            assert unchanged.action == "unchanged"
            assert unchanged.smoke_url == server.url

            with pytest.raises(DeploymentRolledBack) as raised:
                deploy(isvc(2), api=api, smoke=smoke, timeout_s=5, poll_s=0.01)

            assert "differ from the expected ones" in str(raised.value)
            assert "v1 was restored" in str(raised.value)
            live = cluster.get("kubeflow", "penguins")
            assert live["spec"]["predictor"]["model"]["storageUri"] == uris[1]
            # And v1 answers correctly again at the same URL.
            assert v1_smoke_request(server.url, "penguins", rows, expected_predictions)


@pytest.mark.parametrize(
    ("expected", "served"),
    [
        ("Adelie", "Adelie"),
        (3, 3),
        (True, True),
        (None, None),
        # A float32 output read back as float64.
        (4207.3, float(np.float32(4207.3))),
        (0.1, float(np.float32(0.1))),
        # Cancellation noise on a near-zero output summed from terms in the thousands.
        (0.0, 3e-12),
        (float("nan"), float("nan")),
        ([0.25, 0.75], [0.25, 0.75 + 1e-12]),
    ],
)
def test_a_served_prediction_equal_up_to_float_noise_is_the_same(
    expected: Any, served: Any
) -> None:
    assert same_prediction(expected, served)


@pytest.mark.parametrize(
    ("expected", "served"),
    [
        ("Adelie", "Gentoo"),
        # Class labels are compared exactly, however large.
        (1_000_000, 1_000_001),
        (4207.5, 4207.6),
        (0.0, 1e-6),
        (1.0, "1.0"),
        (float("nan"), None),
        (0.5, float("nan")),
        ([0.25, 0.75], [0.75, 0.25]),
        ([0.25, 0.75], [0.25]),
    ],
)
def test_a_served_prediction_that_differs_is_not_the_same(
    expected: Any, served: Any
) -> None:
    assert not same_prediction(expected, served)

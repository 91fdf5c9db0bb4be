"""roll_out, what the pipeline's deploy step calls, without a pipeline or a cluster.

A registry version of the real model folder (``conftest.py``) is rolled out on the
fake Kubernetes API (``k8s_fake.py``); the service URL it reports is a V1 model server
(``v1_server.py``) that predicts with the same model, or answers wrongly for the
storage URIs a test names. Both run in this process on 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import k8s_fake
import pandas as pd
import pytest
from v1_server import V1Server, predict_with

from mlops_suite.artifacts import METADATA_FILE, MODEL_FILE
from mlops_suite.errors import ServingError
from mlops_suite.model_folder import save_model
from mlops_suite.serving.deploy import roll_out
from mlops_suite.serving.inference_service import build_inference_service
from mlops_suite.serving.rollout import DeploymentRolledBack, DeployResult
from mlops_suite.training.train import train_model

NAMESPACE = "serving"
NAME = "penguins"
REGISTRY = "s3://mlpipeline/registry"


def uri(version: int) -> str:
    return f"{REGISTRY}/{NAME}/v{version}"


@dataclass
class Serving:
    """The fake cluster and the model server behind its URL."""

    cluster: Any
    server: V1Server
    wrong: set[str] = field(default_factory=set)

    def live(self) -> dict[str, Any]:
        obj = self.cluster.get(NAMESPACE, NAME)
        assert obj is not None
        return dict(obj)


@pytest.fixture
def serving(good_model_dir: Path) -> Iterator[Serving]:
    model = joblib.load(good_model_dir / MODEL_FILE)
    with k8s_fake.FakeKube() as cluster:
        state: dict[str, Serving] = {}

        def answer(name: str, body: dict[str, Any]) -> tuple[int, Any]:
            live = cluster.get(NAMESPACE, name) or {}
            # KServe's runtime switch, read from the predictor as the pod gets it.
            env = live["spec"]["predictor"]["model"].get("env") or []
            proba = {"name": "PREDICT_PROBA", "value": "true"} in env
            method = "predict_proba" if proba else "predict"
            code, payload = predict_with(model, method)(name, body)
            served = live["spec"]["predictor"]["model"]["storageUri"]
            if served in state["serving"].wrong:
                payload["predictions"] = [
                    "Gentoo" if p != "Gentoo" else "Adelie"
                    for p in payload["predictions"]
                ]
            return code, payload

        with V1Server(answer) as server:
            cluster.serve_url = server.url
            state["serving"] = Serving(cluster, server)
            yield state["serving"]


def roll(
    serving: Serving,
    model_dir: Path,
    sample: pd.DataFrame,
    version: int,
    mode: str = "raw",
    **extra: Any,
) -> DeployResult:
    return roll_out(
        str(model_dir),
        sample,
        model_name=NAME,
        version=version,
        storage_uri=REGISTRY + "/",
        namespace=NAMESPACE,
        mode=mode,
        timeout_s=5,
        api=serving.cluster.client(),
        **extra,
    )


def already_serving(serving: Serving, version: int, mode: str = "raw") -> None:
    serving.cluster.put(
        build_inference_service(
            name=NAME,
            namespace=NAMESPACE,
            storage_uri=uri(version),
            model_version=version,
            model_sha256=str(version) * 64,
            mode=mode,  # type: ignore[arg-type]
        )
    )


def test_serves_the_registry_version_and_checks_the_models_own_answers(
    serving: Serving, good_model_dir: Path, sample_rows: pd.DataFrame
) -> None:
    result = roll(serving, good_model_dir, sample_rows, 3, smoke_rows=4)

    assert result.action == "created"
    assert (result.model_version, result.storage_uri) == ("v3", uri(3))
    assert result.smoke_url == serving.server.url
    live = serving.live()
    metadata = json.loads((good_model_dir / METADATA_FILE).read_text(encoding="utf-8"))
    annotations = live["metadata"]["annotations"]
    assert annotations["kfp-mlops-suite.io/model-sha256"] == metadata["model_sha256"]
    (request,) = serving.server.bodies
    assert len(request["instances"]) == 4


def test_a_serverless_canary_is_promoted_once_its_answers_match(
    serving: Serving, good_model_dir: Path, sample_rows: pd.DataFrame
) -> None:
    already_serving(serving, 1, "serverless")

    result = roll(
        serving,
        good_model_dir,
        sample_rows,
        2,
        mode="serverless",
        canary_traffic_percent=20,
    )

    assert result.action == "promoted"
    shares = [
        body["spec"]["predictor"].get("canaryTrafficPercent")
        for body in k8s_fake.iter_patch_bodies(serving.cluster)
    ]
    assert shares == [20, 100]
    assert serving.cluster.traffic(NAMESPACE, NAME) == {uri(2): 100}


def test_a_version_that_answers_differently_is_rolled_back(
    serving: Serving, good_model_dir: Path, sample_rows: pd.DataFrame
) -> None:
    already_serving(serving, 1)
    before = serving.live()
    serving.wrong.add(uri(2))

    with pytest.raises(DeploymentRolledBack) as raised:
        roll(serving, good_model_dir, sample_rows, 2)

    message = str(raised.value)
    assert message.startswith(
        f"Deploying v2 to InferenceService {NAMESPACE}/{NAME} failed: the smoke "
        f"request to {serving.server.url} failed"
    )
    assert "differ from the expected ones at 5 of 5 rows" in message
    assert message.endswith("; v1 was restored and is serving again.")
    assert "\n" not in message
    after = serving.live()
    assert after["spec"] == before["spec"]
    assert after["metadata"]["labels"] == before["metadata"]["labels"]
    assert after["metadata"]["annotations"] == before["metadata"]["annotations"]


def test_serving_probabilities_sets_the_switch_and_smokes_predict_proba(
    serving: Serving, good_model_dir: Path, sample_rows: pd.DataFrame
) -> None:
    result = roll(serving, good_model_dir, sample_rows, 3, serve_probabilities=True)

    assert result.action == "created"
    model = serving.live()["spec"]["predictor"]["model"]
    assert model["env"] == [{"name": "PREDICT_PROBA", "value": "true"}]
    # The smoke request passed, so it expected what the switch makes KServe answer.
    assert len(serving.server.bodies) == 1


def test_serving_probabilities_of_a_regressor_is_refused_before_anything_is_applied(
    serving: Serving, tmp_path: Path, penguin_frame: pd.DataFrame
) -> None:
    rows = penguin_frame.dropna(subset=["body_mass_g"])
    save_model(train_model(rows, "body_mass_g"), tmp_path / "model")

    with pytest.raises(ServingError) as raised:
        roll(serving, tmp_path / "model", rows, 3, serve_probabilities=True)

    assert str(raised.value) == (
        "serve_probabilities needs a classifier, but penguins v3 is a regression "
        "model: KServe's sklearn runtime would answer with plain predictions instead "
        "of class probabilities, so leave serve_probabilities off for it."
    )
    assert serving.cluster.get(NAMESPACE, NAME) is None
    assert serving.server.bodies == []


def test_log_storage_has_kserve_store_the_traffic_of_the_rolled_out_version(
    serving: Serving, good_model_dir: Path, sample_rows: pd.DataFrame
) -> None:
    result = roll(
        serving,
        good_model_dir,
        sample_rows,
        3,
        service_account="kfp-mlops-model-storage",
        log_storage="s3://mlpipeline/kserve-logs",
    )

    assert result.action == "created"
    logger = serving.live()["spec"]["predictor"]["logger"]
    assert logger["url"] == "s3://mlpipeline/kserve-logs"
    assert logger["storage"]["serviceAccountName"] == "kfp-mlops-model-storage"

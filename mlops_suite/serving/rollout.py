"""Roll a registered version out to KServe, checked by a real prediction.

Builds the InferenceService for exactly one registry version, applies it, and smokes
it with V1 rows whose expected answers come from the same model file predicting in
process: a version that is Ready but answers differently is rolled back like one that
never turned Ready.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pandas as pd

from mlops_suite.artifacts import VERSION_PREFIX
from mlops_suite.serving.deploy import (
    DeployResult,
    deploy,
    load_kube_api,
    v1_smoke_request,
)
from mlops_suite.serving.inference_service import build_inference_service
from mlops_suite.training.train import load_model, to_v1_instances


def roll_out(
    model_dir: str,
    sample: pd.DataFrame,
    *,
    model_name: str,
    version: int,
    storage_uri: str,
    namespace: str,
    mode: str,
    canary_traffic_percent: int | None = None,
    service_account: str | None = None,
    timeout_s: float = 300,
    smoke_rows: int = 5,
    api: Any = None,
) -> DeployResult:
    """Deploys registry version ``version`` of ``model_name`` and smoke-tests it.

    Args:
        model_dir: The version's model folder (for its hash and the expected answers).
        sample: Rows to send in the smoke request (e.g. the test split).
        model_name: The InferenceService name (the registered model's name).
        version: The registry version to serve.
        storage_uri: The registry as the cluster reads it; the InferenceService reads
            ``<storage_uri>/<model_name>/v<version>``.
        namespace: Where the InferenceService lives.
        mode: ``raw`` (RawDeployment) or ``serverless`` (Knative, canary rollout).
        canary_traffic_percent: In serverless mode, the new version's share of
            traffic until its smoke request passes.
        service_account: The ServiceAccount with the storage credentials.
        timeout_s: How long each rollout step may take to become Ready.
        smoke_rows: How many sample rows to send.
        api: A Kubernetes client; default: in-cluster, else kubeconfig.

    Returns:
        What was done: created, updated, promoted or unchanged, and the URL.

    Raises:
        DeploymentError: The rollout failed; the version that was serving still is.
    """
    loaded = load_model(model_dir)
    features = loaded.metadata["features"]
    rows = sample[[f["name"] for f in features]].head(smoke_rows)
    instances = to_v1_instances(rows, features)
    expected = loaded.pipeline.predict(rows).tolist()
    isvc = build_inference_service(
        name=model_name,
        namespace=namespace,
        storage_uri=f"{storage_uri.rstrip('/')}/{model_name}/{VERSION_PREFIX}{version}",
        model_version=version,
        model_sha256=loaded.metadata["model_sha256"],
        mode=mode,  # type: ignore[arg-type]
        service_account=service_account,
        canary_traffic_percent=canary_traffic_percent if mode == "serverless" else None,
    )
    smoke = partial(
        v1_smoke_request, model_name=model_name, instances=instances, expected=expected
    )
    return deploy(
        isvc,
        api=api if api is not None else load_kube_api(),
        timeout_s=timeout_s,
        smoke=smoke,
        mode=mode,  # type: ignore[arg-type]
    )

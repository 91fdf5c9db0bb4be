"""Deploying to KServe: the two entry points.

- :func:`roll_out` serves one registry version (what the pipeline's deploy step
  calls): it builds the InferenceService and a smoke check whose expected answers
  come from the same model file predicting in process, so a version that is Ready
  but answers differently is rolled back like one that never turned Ready.
- :func:`deploy` rolls out any InferenceService dict with a smoke check of your own.

The work is done by the modules beside this one: :mod:`~mlops_suite.serving.kube`
(credentials, API calls), :mod:`~mlops_suite.serving.rollout` (apply, wait, canary,
promote, restore), :mod:`~mlops_suite.serving.status` (reading the live object) and
:mod:`~mlops_suite.serving.smoke` (the V1 smoke request).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import pandas as pd
from kubernetes import client as k8s

from mlops_suite.artifacts import VERSION_PREFIX
from mlops_suite.model_folder import load_model
from mlops_suite.serving.inference_service import Mode, build_inference_service
from mlops_suite.serving.kube import InferenceServiceApi, load_kube_api
from mlops_suite.serving.probabilities import check_serves_probabilities
from mlops_suite.serving.rollout import DeployResult, Smoke, Target, run_rollout
from mlops_suite.serving.smoke import v1_smoke_request
from mlops_suite.training.train import to_v1_instances


def deploy(
    isvc: Mapping[str, Any],
    *,
    api: k8s.CustomObjectsApi | k8s.ApiClient,
    timeout_s: float = 300,
    poll_s: float = 2,
    smoke: Smoke | None = None,
    mode: Mode | None = None,
    prefer_internal_url: bool = True,
    request_timeout_s: float = 30,
) -> DeployResult:
    """Apply an InferenceService, wait until it is Ready, smoke it, or roll back.

    The object is server-side applied (field manager ``kfp-mlops-suite``), so
    re-running a pipeline is idempotent; the steps and what is restored on failure
    are described in :mod:`~mlops_suite.serving.rollout`.

    Args:
        isvc: The InferenceService to serve (a dict, as built by
            :func:`~mlops_suite.serving.inference_service.build_inference_service`);
            ``metadata.namespace`` says where.
        api: A Kubernetes client (see
            :func:`~mlops_suite.serving.kube.load_kube_api`).
        timeout_s: How long to wait for each rollout step (new version, promotion,
            rollback) to become Ready.
        poll_s: Seconds between status reads.
        smoke: Called with the service URL once Ready; it raises on a bad answer.
            :func:`~mlops_suite.serving.smoke.v1_smoke_request` through
            ``functools.partial`` is the usual one. In a Serverless canary it gets
            the new revision's tagged URL when KServe reports one (annotation
            ``serving.kserve.io/enable-tag-routing: "true"``), else the service URL,
            which then reaches the canary for only its share of the requests.
        mode: ``"raw"`` or ``"serverless"``; defaults to the object's
            ``serving.kserve.io/deploymentMode`` annotation and must agree with it.
        prefer_internal_url: Smoke ``status.address.url`` (in-cluster, what a
            pipeline step reaches) rather than ``status.url`` when both are known.
        request_timeout_s: Timeout of each Kubernetes API request.

    Returns:
        What was done and where the model is served.

    Raises:
        DeploymentRolledBack: The new version failed (timeout, failed load, API error,
            smoke request) and the previous version was restored; ``.result`` holds
            the details.
        DeploymentError: Any other failure, in one sentence naming the
            InferenceService, its namespace and what failed.
    """
    target = Target.of(isvc, mode)
    return run_rollout(
        target,
        InferenceServiceApi(api, target.namespace, target.name, request_timeout_s),
        timeout_s=timeout_s,
        poll_s=poll_s,
        smoke=smoke,
        prefer_internal_url=prefer_internal_url,
    )


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
    serve_probabilities: bool = False,
    log_storage: str | None = None,
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
        serve_probabilities: Answer with class probabilities (``PREDICT_PROBA=true``
            on the predictor); the smoke request then expects ``predict_proba``.
        log_storage: A bucket URI where KServe's logger stores every request and
            response (with ``service_account``'s credentials); ``None`` logs
            nothing.

    Returns:
        What was done: created, updated, promoted or unchanged, and the URL.

    Raises:
        ServingError: ``serve_probabilities`` for a model that is not a classifier;
            nothing is applied then.
        DeploymentError: The rollout failed; the version that was serving still is.
    """
    loaded = load_model(model_dir)
    if serve_probabilities:
        check_serves_probabilities(
            loaded.metadata,
            f"{model_name} {VERSION_PREFIX}{version}",
            "serve_probabilities",
        )
    features = loaded.metadata["features"]
    rows = sample[[f["name"] for f in features]].head(smoke_rows)
    instances = to_v1_instances(rows, features)
    answer = (
        loaded.pipeline.predict_proba
        if serve_probabilities
        else loaded.pipeline.predict
    )
    expected = answer(rows).tolist()
    isvc = build_inference_service(
        name=model_name,
        namespace=namespace,
        storage_uri=f"{storage_uri.rstrip('/')}/{model_name}/{VERSION_PREFIX}{version}",
        model_version=version,
        model_sha256=loaded.metadata["model_sha256"],
        mode=mode,  # type: ignore[arg-type]
        service_account=service_account,
        canary_traffic_percent=canary_traffic_percent if mode == "serverless" else None,
        predict_proba=serve_probabilities,
        log_storage=log_storage,
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


def record_rollout(
    registry_uri: str,
    model_name: str,
    version: int,
    result: DeployResult,
    *,
    actor: str,
) -> None:
    """Records a finished rollout as a ``deployed`` event in the registry's history.

    An ``unchanged`` rollout (this version was already serving) records nothing. The
    rollout itself is done by then, so a registry that cannot take the event is
    reported on stderr rather than raised: the serving model stays as deployed.

    Args:
        registry_uri: The registry holding the version.
        model_name: The registered model's name.
        version: The version now serving.
        result: What the rollout did.
        actor: Who deployed it: the pipeline run id.
    """
    import sys

    from mlops_suite.errors import MlopsError
    from mlops_suite.registry import ModelRegistry
    from mlops_suite.registry.governance import record_deployment

    if result.action == "unchanged":
        return
    where = f"InferenceService {result.namespace}/{result.name}"
    if result.url:
        where += f" at {result.url}"
    try:
        record_deployment(
            ModelRegistry(registry_uri),
            model_name,
            version,
            where=where,
            actor=actor,
            reason=f"{result.action} by the pipeline's deploy step",
        )
    except MlopsError as error:
        print(
            f"warning: {model_name} v{version} is deployed ({where}) but the "
            f"registry's history could not record it: {error}",
            file=sys.stderr,
        )

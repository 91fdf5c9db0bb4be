"""The KServe InferenceService that serves one registered model version.

:func:`build_inference_service` returns the object that
:func:`mlops_suite.serving.deploy.deploy` applies. It is built with the KServe SDK's
typed models, so a misspelled field fails here rather than on the cluster, and it
carries the same fields, labels and security settings as the kustomize overlays in
``manifests/`` (the ``kind`` overlay rendered by
:func:`mlops_suite.serving.manifests.write_overlay` is the same object), so a model
served by the pipeline and one served with ``kubectl apply -k`` look alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from kserve import (
    V1beta1InferenceService,
    V1beta1InferenceServiceSpec,
    V1beta1LoggerSpec,
    V1beta1ModelFormat,
    V1beta1ModelSpec,
    V1beta1PredictorSpec,
    constants,
)
from kserve.models import V1beta1LoggerStorageSpec
from kubernetes.client import (
    ApiClient,
    V1Capabilities,
    V1EnvVar,
    V1ObjectMeta,
    V1PodSecurityContext,
    V1ResourceRequirements,
    V1SeccompProfile,
    V1SecurityContext,
)

from mlops_suite.artifacts import VERSION_PREFIX
from mlops_suite.errors import DeploymentError
from mlops_suite.registry import validate_model_name
from mlops_suite.serving.log_storage import LOGGER_MODE, log_storage_logger
from mlops_suite.serving.manifests import (
    MODEL_NAME_LABEL,
    MODEL_SHA256_ANNOTATION,
    MODEL_VERSION_LABEL,
    REQUEST_LOGGER_LABEL,
)
from mlops_suite.serving.probabilities import predict_proba_env

Mode = Literal["raw", "serverless"]

API_VERSION: str = constants.KSERVE_V1BETA1
KIND: str = constants.KSERVE_KIND_INFERENCESERVICE
GROUP: str = constants.KSERVE_GROUP
VERSION: str = constants.KSERVE_V1BETA1_VERSION
PLURAL: str = constants.KSERVE_PLURAL_INFERENCESERVICE

DEPLOYMENT_MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
TAG_ROUTING_ANNOTATION = "serving.kserve.io/enable-tag-routing"
# KServe >= 0.17 also calls these "Standard" and "Knative"; the legacy names are still
# accepted and are what the overlays in manifests/ use.
DEPLOYMENT_MODES: dict[str, str] = {"raw": "RawDeployment", "serverless": "Serverless"}
_MODE_ALIASES = {
    "rawdeployment": "raw",
    "standard": "raw",
    "serverless": "serverless",
    "knative": "serverless",
}

# The same labels kustomize puts on the overlays' InferenceService.
PART_OF_LABEL = ("app.kubernetes.io/part-of", "kfp-mlops-suite")
COMPONENT_LABEL = ("app.kubernetes.io/component", "model-server")

MODEL_FORMAT = "sklearn"
# Matches manifests/base: small enough for kind, requests = limits (Guaranteed QoS).
DEFAULT_RESOURCES: dict[str, str] = {"cpu": "500m", "memory": "512Mi"}
# KServe's runtime images run as this uid; naming it keeps runAsNonRoot verifiable.
RUNTIME_UID = 1000

_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_VERSION_FOLDER = re.compile(rf"{re.escape(VERSION_PREFIX)}([1-9][0-9]*)")
_VERSION_NUMBER = re.compile(r"([1-9][0-9]*)")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_URI = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S+")


def build_inference_service(
    *,
    name: str,
    namespace: str,
    storage_uri: str,
    model_version: int | str,
    model_sha256: str,
    mode: Mode,
    service_account: str | None = None,
    resources: Mapping[str, Any] | None = None,
    min_replicas: int = 1,
    max_replicas: int = 1,
    canary_traffic_percent: int | None = None,
    logger_url: str | None = None,
    log_storage: str | None = None,
    predict_proba: bool = False,
) -> dict[str, Any]:
    """Build the InferenceService that serves one registry version with stock sklearn.

    Fields set (everything else is left to KServe's defaults):

    - ``apiVersion: serving.kserve.io/v1beta1``, ``kind: InferenceService``,
      ``metadata.name``/``namespace``.
    - ``metadata.annotations["serving.kserve.io/deploymentMode"]``: ``RawDeployment``
      or ``Serverless``; ``metadata.annotations["kfp-mlops-suite.io/model-sha256"]``:
      the served ``model.joblib``'s SHA-256 (too long for a label).
    - ``metadata.labels`` and ``spec.predictor.labels`` (so the pods carry them too):
      ``kfp-mlops-suite.io/model-name`` (the registry folder's model name),
      ``kfp-mlops-suite.io/model-version`` (``v<N>``); ``metadata.labels`` also
      ``app.kubernetes.io/part-of: kfp-mlops-suite`` and
      ``app.kubernetes.io/component: model-server``.
    - ``spec.predictor``: ``minReplicas``, ``maxReplicas``, ``serviceAccountName``
      (when given), ``canaryTrafficPercent`` (Serverless only, when given),
      ``logger`` (``mode: all``, ``url``; when given; with ``log_storage``, also
      ``storage``: ``parameters: {type, format: json}`` and the service account as
      ``serviceAccountName``), and the pod
      ``securityContext`` (``runAsNonRoot``, ``seccompProfile: RuntimeDefault``, which
      also covers the containers KServe injects).
    - ``spec.predictor.model``: ``modelFormat.name: sklearn`` (KServe picks its stock
      sklearn runtime), ``storageUri`` (the immutable version folder), ``resources``
      with ``requests`` equal to ``limits``, and the container ``securityContext``:
      ``runAsNonRoot``, ``runAsUser: 1000``, ``allowPrivilegeEscalation: false``,
      ``capabilities.drop: [ALL]``, ``seccompProfile: RuntimeDefault``,
      ``readOnlyRootFilesystem: true`` (the server only reads ``/mnt/models``);
      ``env: [{name: PREDICT_PROBA, value: "true"}]`` when ``predict_proba``.

    Args:
        name: InferenceService name, the registered model's name (see
            :func:`mlops_suite.registry.validate_model_name`).
        namespace: Namespace to serve in.
        storage_uri: The registry version folder as the cluster reaches it, ending in
            ``/<model>/v<N>`` (``s3://mlpipeline/registry/penguins/v3``); never a
            moving alias, so what is served is exactly what was registered.
        model_version: The registry version ``N`` (or ``"vN"``); must match the folder.
        model_sha256: SHA-256 of the version's ``model.joblib`` (64 hex digits).
        mode: ``"raw"`` (plain Deployment and Service) or ``"serverless"`` (Knative:
            revisions, traffic split, canary).
        service_account: ServiceAccount whose credentials the storage initializer
            reads the model with (``kfp-mlops-model-storage`` in the overlays).
        resources: CPU and memory for the model server, such as
            ``{"cpu": "250m", "memory": "512Mi"}``, used as both requests and limits;
            ``{"requests": ..., "limits": ...}`` is accepted when both are equal.
            Defaults to :data:`DEFAULT_RESOURCES`.
        min_replicas: Minimum predictor replicas (at least 1: no scale to zero).
        max_replicas: Maximum predictor replicas.
        canary_traffic_percent: Share of traffic (0-100) a new Serverless revision
            gets while it is checked; the deploy step uses 10 when unset.
        logger_url: Where KServe's agent sends every request and response (the
            monitoring sink), or ``None`` for no request logging.
        log_storage: A bucket URI (``s3://``, ``gs://``, ``abfs://``) where KServe's
            agent stores every request and response itself, with no sink (see
            :mod:`mlops_suite.serving.log_storage`); not with ``logger_url``.
        predict_proba: Answer with class probabilities (``predict_proba``) instead
            of classes, through the stock runtime's ``PREDICT_PROBA`` switch; the
            caller checks that the model is a classifier.

    Returns:
        The InferenceService as a plain JSON-compatible dict.

    Raises:
        ModelNameError: ``name`` cannot name a model and its InferenceService.
        DeploymentError: A namespace, URI, version, hash, mode, size or percentage
            is invalid, with the value and what was expected, or both
            ``logger_url`` and ``log_storage`` are given.
    """
    _check_name(name, namespace)
    deployment_mode = _deployment_mode(mode)
    version = _version_number(model_version)
    model_name = _check_storage_uri(storage_uri, version)
    if not isinstance(model_sha256, str) or not _SHA256.fullmatch(model_sha256):
        raise DeploymentError(
            f"model_sha256 {model_sha256!r} is not a SHA-256 digest; expected 64 "
            "lowercase hex digits from the registry's metadata.json."
        )
    _check_replicas(min_replicas, max_replicas)
    if canary_traffic_percent is not None:
        _check_canary(canary_traffic_percent, mode)
    quantities = _quantities(resources)
    logger = _logger(logger_url, log_storage, service_account)

    version_label = f"{VERSION_PREFIX}{version}"
    model_labels = {MODEL_NAME_LABEL: model_name, MODEL_VERSION_LABEL: version_label}
    predictor = V1beta1PredictorSpec(
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        service_account_name=service_account,
        canary_traffic_percent=canary_traffic_percent,
        labels=(
            {**model_labels, REQUEST_LOGGER_LABEL[0]: REQUEST_LOGGER_LABEL[1]}
            if logger_url is not None
            else dict(model_labels)
        ),
        logger=logger,
        security_context=V1PodSecurityContext(
            run_as_non_root=True,
            seccomp_profile=V1SeccompProfile(type="RuntimeDefault"),
        ),
        model=V1beta1ModelSpec(
            # The SDK defaults the container name to ""; KServe names it itself.
            name=None,
            model_format=V1beta1ModelFormat(name=MODEL_FORMAT),
            storage_uri=storage_uri,
            env=[V1EnvVar(**predict_proba_env())] if predict_proba else None,
            resources=V1ResourceRequirements(
                requests=dict(quantities), limits=dict(quantities)
            ),
            security_context=V1SecurityContext(
                run_as_non_root=True,
                run_as_user=RUNTIME_UID,
                allow_privilege_escalation=False,
                capabilities=V1Capabilities(drop=["ALL"]),
                seccomp_profile=V1SeccompProfile(type="RuntimeDefault"),
                read_only_root_filesystem=True,
            ),
        ),
    )
    isvc = V1beta1InferenceService(
        api_version=API_VERSION,
        kind=KIND,
        metadata=V1ObjectMeta(
            name=name,
            namespace=namespace,
            labels={
                PART_OF_LABEL[0]: PART_OF_LABEL[1],
                COMPONENT_LABEL[0]: COMPONENT_LABEL[1],
                **model_labels,
            },
            annotations={
                DEPLOYMENT_MODE_ANNOTATION: deployment_mode,
                MODEL_SHA256_ANNOTATION: model_sha256,
                # Serverless: KServe then reports the canary revision's own URL, so
                # the smoke request reaches the new version every time, not for
                # only its traffic share.
                **(
                    {TAG_ROUTING_ANNOTATION: "true"}
                    if deployment_mode == DEPLOYMENT_MODES["serverless"]
                    else {}
                ),
            },
        ),
        spec=V1beta1InferenceServiceSpec(predictor=predictor),
    )
    serialized: dict[str, Any] = ApiClient().sanitize_for_serialization(isvc)
    return serialized


def _logger(
    logger_url: str | None, log_storage: str | None, service_account: str | None
) -> V1beta1LoggerSpec | None:
    if logger_url is not None and log_storage is not None:
        raise DeploymentError(
            f"logger_url {logger_url} and log_storage {log_storage} are both given; "
            "KServe's logger either posts to a sink or stores to a bucket, not both."
        )
    if log_storage is not None:
        section = log_storage_logger(log_storage, service_account)
        storage = section["storage"]
        return V1beta1LoggerSpec(
            mode=section["mode"],
            url=section["url"],
            storage=V1beta1LoggerStorageSpec(
                parameters=storage["parameters"],
                service_account_name=storage.get("serviceAccountName"),
            ),
        )
    if logger_url is not None:
        return V1beta1LoggerSpec(mode=LOGGER_MODE, url=logger_url)
    return None


def mode_of(isvc: Mapping[str, Any]) -> Mode | None:
    """The deployment mode an InferenceService asks for through its annotation.

    Args:
        isvc: An InferenceService as a dict.

    Returns:
        ``"raw"`` or ``"serverless"``, or ``None`` when the annotation is absent (the
        cluster's default mode applies then).

    Raises:
        DeploymentError: The annotation names a mode this project does not serve with.
    """
    annotations = (isvc.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(DEPLOYMENT_MODE_ANNOTATION)
    if value is None:
        return None
    mode = _MODE_ALIASES.get(str(value).lower())
    if mode == "raw":
        return "raw"
    if mode == "serverless":
        return "serverless"
    raise DeploymentError(
        f"annotation {DEPLOYMENT_MODE_ANNOTATION}={value!r} is not a mode this project "
        "deploys with; expected RawDeployment (Standard) or Serverless (Knative)."
    )


def _deployment_mode(mode: str) -> str:
    if mode not in DEPLOYMENT_MODES:
        raise DeploymentError(
            f"mode {mode!r} is not a KServe deployment mode; expected 'raw' or "
            "'serverless'."
        )
    return DEPLOYMENT_MODES[mode]


def _check_name(name: str, namespace: str) -> None:
    validate_model_name(name)
    if (
        not isinstance(namespace, str)
        or not _NAMESPACE.fullmatch(namespace)
        or len(namespace) > 63
    ):
        raise DeploymentError(
            f"namespace {namespace!r} is not a valid Kubernetes namespace name "
            "(lowercase letters, digits and '-', at most 63 characters)."
        )


def _version_number(model_version: int | str) -> int:
    number: int | None = None
    if isinstance(model_version, int) and not isinstance(model_version, bool):
        number = model_version if model_version >= 1 else None
    elif isinstance(model_version, str):
        match = _VERSION_FOLDER.fullmatch(model_version) or _VERSION_NUMBER.fullmatch(
            model_version
        )
        number = int(match.group(1)) if match else None
    if number is None:
        raise DeploymentError(
            f"model_version {model_version!r} is not a registry version; expected a "
            f"number of 1 or more (or '{VERSION_PREFIX}<N>')."
        )
    return number


def _check_storage_uri(storage_uri: str, version: int) -> str:
    """Return the model name of a ``.../<model>/v<N>`` URI that matches ``version``."""
    if not isinstance(storage_uri, str) or not _URI.fullmatch(storage_uri):
        raise DeploymentError(
            f"storage_uri {storage_uri!r} is not a URI; expected the registry version "
            "folder as the cluster reaches it, such as s3://mlpipeline/registry/<model>/v1."
        )
    scheme, _, rest = storage_uri.partition("://")
    parts = rest.rstrip("/").split("/")
    folder = parts[-1]
    match = _VERSION_FOLDER.fullmatch(folder)
    if len(parts) < 3 or not match:
        raise DeploymentError(
            f"storage_uri {storage_uri} does not end in a registry version folder "
            f"<model>/{VERSION_PREFIX}<N>; serve an immutable version, never a moving "
            "alias."
        )
    if int(match.group(1)) != version:
        raise DeploymentError(
            f"storage_uri {storage_uri} names version {match.group(1)} but "
            f"model_version is {version}; they must name the same registry version."
        )
    return parts[-2]


def _check_replicas(min_replicas: int, max_replicas: int) -> None:
    for value in (min_replicas, max_replicas):
        if isinstance(value, bool) or not isinstance(value, int):
            raise DeploymentError(
                f"replica count {value!r} is not an integer; expected min_replicas "
                "and max_replicas as whole numbers."
            )
    if not 1 <= min_replicas <= max_replicas:
        raise DeploymentError(
            f"replicas min={min_replicas} max={max_replicas} are invalid; expected "
            "1 <= min_replicas <= max_replicas (no scale to zero)."
        )


def _check_canary(percent: int, mode: str) -> None:
    if isinstance(percent, bool) or not isinstance(percent, int):
        raise DeploymentError(
            f"canary_traffic_percent {percent!r} is not an integer percentage 0-100."
        )
    if not 0 <= percent <= 100:
        raise DeploymentError(
            f"canary_traffic_percent {percent} is out of range; expected 0 to 100."
        )
    if mode != "serverless":
        raise DeploymentError(
            f"canary_traffic_percent {percent} needs mode 'serverless'; KServe "
            f"{DEPLOYMENT_MODES['raw']} mode has no traffic split."
        )


def _quantities(resources: Mapping[str, Any] | None) -> dict[str, str]:
    if resources is None:
        return dict(DEFAULT_RESOURCES)
    if not isinstance(resources, Mapping):
        raise DeploymentError(
            f"resources {resources!r} is not a mapping; expected something like "
            "{'cpu': '500m', 'memory': '512Mi'}."
        )
    if "requests" in resources or "limits" in resources:
        requests = resources.get("requests") or resources.get("limits")
        limits = resources.get("limits") or resources.get("requests")
        if requests != limits:
            raise DeploymentError(
                f"resources requests {requests} differ from limits {limits}; the model "
                "server gets requests equal to limits (Guaranteed QoS)."
            )
        resources = requests if isinstance(requests, Mapping) else {}
    quantities: dict[str, str] = {}
    for key, value in resources.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise DeploymentError(
                f"resources[{key!r}] is {value!r}; expected a Kubernetes quantity "
                "such as '500m' or '512Mi'."
            )
        quantities[str(key)] = str(value)
    missing = {"cpu", "memory"} - set(quantities)
    if missing:
        raise DeploymentError(
            f"resources {quantities} lack {', '.join(sorted(missing))}; the model "
            "server needs both cpu and memory so requests can equal limits."
        )
    return quantities

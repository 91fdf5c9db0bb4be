"""Kustomize overlays that serve one registered model version with KServe.

:func:`write_overlay` writes a one-file kustomization that builds on an environment
overlay of the repository (``manifests/overlays/<overlay>``) and pins its
InferenceService to a registered version: the name becomes the model name, the
``storageUri`` the version's immutable folder ``<storage_uri>/<model>/v<N>`` (never a
moving alias such as ``latest``), and labels and annotations record the version and the
model file's SHA-256 read from the registry. ``kubectl apply -k <output_dir>`` then
deploys exactly what was registered.

With ``model_format="onnx"`` the same version is served from its ONNX export instead
(:mod:`mlops_suite.onnx_export`): KServe's ``onnx`` model format, which its Triton
runtime serves over the V2 protocol from the Triton model repository in
``v<N>/onnx/``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from mlops_suite import artifacts
from mlops_suite.atomic import write_text
from mlops_suite.errors import MlopsError, RegistryError
from mlops_suite.registry import ModelRegistry, validate_model_name
from mlops_suite.serving.log_storage import log_storage_logger
from mlops_suite.serving.probabilities import (
    check_serves_probabilities,
    predict_proba_env,
)

# Labels and annotations written on the InferenceService (and its predictor pods), so
# `kubectl get isvc -L kfp-mlops-suite.io/model-version` tells what is serving.
MODEL_NAME_LABEL = "kfp-mlops-suite.io/model-name"
MODEL_VERSION_LABEL = "kfp-mlops-suite.io/model-version"
# A SHA-256 hex digest (64 characters) is longer than a label value may be (63).
MODEL_SHA256_ANNOTATION = "kfp-mlops-suite.io/model-sha256"
ONNX_SHA256_ANNOTATION = "kfp-mlops-suite.io/onnx-sha256"

# KServe model formats a registered version can be served as: the Pipeline itself
# (stock sklearn runtime) or its ONNX export (Triton, which speaks V2 only).
SKLEARN, ONNX = "sklearn", "onnx"
MODEL_FORMATS = (SKLEARN, ONNX)
# Triton with onnxruntime needs more memory than the sklearn server's 512Mi.
ONNX_MEMORY = "1Gi"

KUSTOMIZATION_FILE = "kustomization.yaml"
# The payload-logging sink's Deployment (manifests/components/log-sink); every object
# of that component carries the label.
LOG_SINK_NAME = "kfp-mlops-log-sink"
LOG_SINK_SELECTOR = "app.kubernetes.io/component=log-sink"
# A predictor that logs carries this label: the log sink's NetworkPolicy lets in only
# pods that have it (manifests/components/request-logger, components/log-sink).
REQUEST_LOGGER_LABEL = ("kfp-mlops-suite.io/request-logger", "kfp-mlops-log-sink")
# The predictor's ServiceAccount in manifests/base; with log storage, KServe's agent
# writes the objects with its credentials.
MODEL_STORAGE_SERVICE_ACCOUNT = "kfp-mlops-model-storage"

_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_URI_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S+")
_SHA256 = re.compile(r"[0-9a-f]{64}")

_ISVC_TARGET = {"group": "serving.kserve.io", "kind": "InferenceService"}


def default_manifests_root() -> Path:
    """The ``manifests`` folder of the repository checkout this package runs from.

    Returns:
        ``<repo>/manifests`` (it may not exist when the package is installed from a
        wheel; pass ``manifests_root`` to :func:`write_overlay` then).
    """
    return Path(__file__).resolve().parents[2] / "manifests"


def available_overlays(
    manifests_root: str | os.PathLike[str] | None = None,
) -> list[str]:
    """Names of the overlays under ``<manifests_root>/overlays``, sorted.

    Args:
        manifests_root: The repository's ``manifests`` folder; defaults to
            :func:`default_manifests_root`.

    Returns:
        Every sub-folder of ``overlays`` that holds a ``kustomization.yaml``.
    """
    root = (
        Path(manifests_root) if manifests_root is not None else default_manifests_root()
    )
    overlays = root / "overlays"
    if not overlays.is_dir():
        return []
    return sorted(
        p.name for p in overlays.iterdir() if (p / KUSTOMIZATION_FILE).is_file()
    )


def write_overlay(
    *,
    registry_uri: str,
    model_name: str,
    version: int | None,
    storage_uri: str,
    overlay: str,
    output_dir: str | os.PathLike[str],
    namespace: str | None = None,
    manifests_root: str | os.PathLike[str] | None = None,
    logs_uri: str | None = None,
    model_format: str = SKLEARN,
    predict_proba: bool = False,
    log_storage: str | None = None,
) -> Path:
    """Write a kustomization that serves one registered model version.

    The kustomization references ``<manifests_root>/overlays/<overlay>`` by relative
    path and patches its InferenceService: ``metadata.name`` becomes ``model_name``,
    ``storageUri`` becomes ``<storage_uri>/<model_name>/v<N>``, and the version and
    the model's SHA-256 (from the registry's ``v<N>/metadata.json``) are recorded as
    labels and annotations. The payload sink (when the overlay has it) is pointed at
    the same version: it writes to ``<logs_uri>/<model_name>/`` and names the logged
    columns from ``v<N>/metadata.json``. With ``log_storage``, KServe's logger stores
    every request and response in that bucket itself instead: the predictor's
    ``logger`` becomes ``{mode: all, url: <log_storage>, storage: {parameters: {type,
    format: json}, serviceAccountName: kfp-mlops-model-storage}}`` and the sink's
    objects are deleted from the rendered output (nothing posts to it). Only
    ``kustomization.yaml`` is written, atomically; the rest of ``output_dir`` is left
    alone.

    Args:
        registry_uri: Where this process reads the registry (a local path or an fsspec
            URI), laid out as ``<registry>/<model>/v<N>/metadata.json``.
        model_name: The registered model; also the InferenceService name (see
            :func:`mlops_suite.registry.validate_model_name`).
        version: The version to serve; ``None`` serves the champion recorded in
            ``<registry>/<model>/champion.json``.
        storage_uri: The same registry as the cluster's storage initializer reaches it
            (``s3://...`` on kind, ``gs://...`` on GKE).
        overlay: An overlay folder name under ``<manifests_root>/overlays``, such as
            ``kind`` or ``gke``.
        output_dir: Folder that receives ``kustomization.yaml``; created if missing.
        namespace: Serve in this namespace instead of the overlay's. The RoleBinding
            keeps naming KFP's ``pipeline-runner`` in ``kubeflow``.
        manifests_root: The repository's ``manifests`` folder; defaults to the one
            beside this package in a source checkout.
        logs_uri: Where the payload sink writes, as the cluster reaches it; defaults
            to ``logs`` beside the registry (``s3://mlpipeline/registry`` ->
            ``s3://mlpipeline/logs``).
        model_format: ``sklearn`` serves ``model.joblib`` with the stock sklearn
            runtime; ``onnx`` serves the version's ONNX export
            (``<storage_uri>/<model_name>/v<N>/onnx``, a Triton model repository)
            as KServe's ``onnx`` format over the V2 protocol, with the ONNX file's
            SHA-256 as one more annotation.
        predict_proba: Serve class probabilities (``predict_proba``) instead of
            classes (KServe's ``PREDICT_PROBA=true``); sklearn format, classifiers
            only.
        log_storage: A bucket URI (``s3://``, ``gs://``, ``abfs://``) where KServe's
            logger stores the traffic (objects under
            ``<log_storage>/<namespace>/<model_name>/predictor/``), instead of the
            sink; not with ``logs_uri``. The predictor's ServiceAccount must be
            allowed to write there.

    Returns:
        ``output_dir``, ready for ``kubectl apply -k``.

    Raises:
        ModelNameError: ``model_name`` cannot name a model and its InferenceService.
        RegistryError: The version, champion or metadata is missing or inconsistent.
        ModelIntegrityError: The model file does not match its recorded sha256.
        ServingError: ``predict_proba`` for a model that is not a classifier.
        MlopsError: Unknown overlay or model format, invalid name/namespace/URI,
            an ``onnx`` format for a version without an ONNX export, both
            ``log_storage`` and ``logs_uri``, or an unwritable ``output_dir``.
    """
    validate_model_name(model_name)
    if model_format not in MODEL_FORMATS:
        raise MlopsError(
            f"model format {model_format!r} is not served here; expected one of "
            f"{', '.join(MODEL_FORMATS)}."
        )
    if predict_proba and model_format != SKLEARN:
        raise MlopsError(
            "--predict-proba sets the sklearn runtime's PREDICT_PROBA; the ONNX "
            "model answers with probabilities of its own, so leave it off there."
        )
    if namespace is not None and (
        not _NAMESPACE.fullmatch(namespace) or len(namespace) > 63
    ):
        raise MlopsError(
            f"namespace {namespace!r} is not a valid Kubernetes namespace name "
            "(lowercase letters, digits and '-', at most 63 characters)."
        )
    if not _URI_SCHEME.fullmatch(storage_uri):
        raise MlopsError(
            f"storage_uri {storage_uri!r} has no scheme; expected the registry as the "
            "cluster reaches it, such as s3://mlpipeline/registry or gs://bucket/registry."
        )
    logger = None
    if log_storage is not None:
        if logs_uri is not None:
            raise MlopsError(
                f"log storage {log_storage} and logs URI {logs_uri} are both given; "
                "with log storage KServe's logger writes the traffic itself and no "
                "sink runs, so leave the logs URI out."
            )
        logger = log_storage_logger(log_storage, MODEL_STORAGE_SERVICE_ACCOUNT)

    root = (
        Path(manifests_root) if manifests_root is not None else default_manifests_root()
    )
    overlay_dir = _overlay_dir(root, overlay)

    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or version < 1
    ):
        raise MlopsError(
            f"version {version!r} is not a registry version; expected 1 or more."
        )
    registry = ModelRegistry(registry_uri)
    if version is None:
        champion = registry.champion(model_name)
        if champion is None:
            raise RegistryError(
                f"Model {model_name!r} has no champion in registry {registry_uri}; "
                "pass a version."
            )
        version = champion.version
    metadata = registry.metadata(model_name, version)
    model_sha256 = metadata.get("model_sha256")
    if not isinstance(model_sha256, str) or not _SHA256.fullmatch(model_sha256):
        where = f"{registry.version_uri(model_name, version)}/{artifacts.METADATA_FILE}"
        raise RegistryError(
            f"{where} has no valid model_sha256 (got {model_sha256!r}, expected 64 "
            "lowercase hex digits); re-register the model so the served file can be "
            "traced."
        )
    # The file the cluster will load must be the one the sha256 names: a changed
    # file is refused here, before a manifest points the cluster at it.
    registry.verify(model_name, version)

    if predict_proba:
        check_serves_probabilities(
            metadata, f"{model_name} {_version_folder(version)}", "--predict-proba"
        )
    version_uri = f"{storage_uri.rstrip('/')}/{model_name}/{_version_folder(version)}"
    onnx_sha256 = (
        _onnx_sha256(metadata, registry, model_name, version)
        if model_format == ONNX
        else None
    )
    logs = (logs_uri or _beside(storage_uri, "logs")).rstrip("/")
    kustomization = _kustomization(
        overlay_dir=overlay_dir,
        output_dir=Path(output_dir),
        model_name=model_name,
        version=version,
        model_sha256=model_sha256,
        version_uri=version_uri,
        onnx_sha256=onnx_sha256,
        predict_proba=predict_proba,
        logs_uri=f"{logs}/{model_name}/",
        with_sink=_has_log_sink(overlay_dir),
        logger=logger,
        namespace=namespace,
    )
    target = Path(output_dir) / KUSTOMIZATION_FILE
    try:
        write_text(target, kustomization)
    except OSError as exc:
        raise MlopsError(
            f"cannot write {target} ({exc.strerror or exc}); "
            "choose a writable output folder."
        ) from exc
    return Path(output_dir)


def _onnx_sha256(
    metadata: dict[str, Any], registry: ModelRegistry, model_name: str, version: int
) -> str:
    """The ONNX file's SHA-256 the version records, or why it cannot be served."""
    record = metadata.get(artifacts.ONNX_METADATA_KEY)
    where = f"{registry.version_uri(model_name, version)}/{artifacts.METADATA_FILE}"
    if not isinstance(record, dict):
        raise RegistryError(
            f"{model_name} v{version} has no ONNX export ({where} records none); "
            f"run `mlops export onnx --model-name {model_name} --version {version}` "
            "first."
        )
    sha256 = record.get("sha256")
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise RegistryError(
            f"{where} records an ONNX export without a valid sha256 (got "
            f"{sha256!r}, expected 64 lowercase hex digits)."
        )
    return sha256


def _beside(uri: str, name: str) -> str:
    """The folder ``name`` next to ``uri`` (inside it when ``uri`` is a bucket)."""
    scheme, _, path = uri.rstrip("/").partition("://")
    parent, sep, _ = path.rpartition("/")
    return f"{scheme}://{parent if sep else path}/{name}"


def _has_log_sink(overlay_dir: Path) -> bool:
    """Whether the overlay includes the payload-logging sink component."""
    text = (overlay_dir / KUSTOMIZATION_FILE).read_text(encoding="utf-8")
    return "components/log-sink" in text


def _overlay_dir(root: Path, overlay: str) -> Path:
    known = available_overlays(root)
    if not known:
        raise MlopsError(
            f"no kustomize overlays under {root / 'overlays'}; pass manifests_root= "
            "pointing at the repository's manifests folder."
        )
    if overlay not in known:
        raise MlopsError(
            f"unknown overlay {overlay!r}; expected one of {', '.join(known)} "
            f"(folders under {root / 'overlays'})."
        )
    return (root / "overlays" / overlay).resolve()


def _version_folder(version: int) -> str:
    return f"{artifacts.VERSION_PREFIX}{version}"


def _kustomization(
    *,
    overlay_dir: Path,
    output_dir: Path,
    model_name: str,
    version: int,
    model_sha256: str,
    version_uri: str,
    onnx_sha256: str | None,
    predict_proba: bool,
    logs_uri: str,
    with_sink: bool,
    logger: dict[str, Any] | None,
    namespace: str | None,
) -> str:
    try:
        resource = os.path.relpath(overlay_dir, output_dir.resolve())
    except ValueError:
        # Different drives on Windows: no relative path; kustomize takes absolute.
        resource = str(overlay_dir)
    version_label = _version_folder(version)
    annotations = {MODEL_SHA256_ANNOTATION: model_sha256}
    model: dict[str, Any] = {"storageUri": version_uri}
    if onnx_sha256 is not None:
        annotations[ONNX_SHA256_ANNOTATION] = onnx_sha256
        model = {
            "modelFormat": {"name": ONNX},
            # KServe finds no runtime for onnx without it: Triton serves V2 only.
            "protocolVersion": "v2",
            "storageUri": f"{version_uri}/{artifacts.ONNX_FOLDER}",
            "resources": {
                "requests": {"memory": ONNX_MEMORY},
                "limits": {"memory": ONNX_MEMORY},
            },
        }
    if predict_proba:
        model["env"] = [predict_proba_env()]
    served_uri = model["storageUri"]
    predictor_labels: dict[str, str | None] = {
        MODEL_NAME_LABEL: model_name,
        MODEL_VERSION_LABEL: version_label,
    }
    predictor: dict[str, Any] = {"labels": predictor_labels, "model": model}
    if logger is not None:
        # No sink to let the predictor in: its label goes (null deletes it).
        predictor_labels[REQUEST_LOGGER_LABEL[0]] = None
        predictor["logger"] = logger
    merge_patch = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            # Required by kustomize's patch syntax; the target above picks the object.
            "name": "selected-by-target",
            "labels": {
                MODEL_NAME_LABEL: model_name,
                MODEL_VERSION_LABEL: version_label,
            },
            "annotations": annotations,
        },
        # Labels on the pods too, so logs and metrics carry the version they came from.
        "spec": {"predictor": predictor},
    }
    rename = [{"op": "replace", "path": "/metadata/name", "value": model_name}]
    document: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [Path(resource).as_posix()],
    }
    if namespace is not None:
        document["namespace"] = namespace
    document["patches"] = [
        {
            "target": dict(_ISVC_TARGET),
            "patch": yaml.safe_dump(merge_patch, sort_keys=False),
        },
        {
            "target": dict(_ISVC_TARGET),
            "patch": yaml.safe_dump(rename, sort_keys=False),
        },
    ]
    if with_sink and logger is not None:
        # KServe's logger stores the traffic itself: the sink would idle.
        document["patches"].append(
            {
                "target": {"labelSelector": LOG_SINK_SELECTOR},
                "patch": yaml.safe_dump(
                    {
                        "$patch": "delete",
                        "apiVersion": "v1",
                        "kind": "Any",
                        "metadata": {"name": "selected-by-target"},
                    },
                    sort_keys=False,
                ),
            }
        )
    elif with_sink:
        # The sink's first two arguments are its output and the model's metadata
        # (manifests/components/log-sink/deployment.yaml keeps them there).
        sink_args = [
            {
                "op": "replace",
                "path": "/spec/template/spec/containers/0/args/0",
                "value": f"--output={logs_uri}",
            },
            {
                "op": "replace",
                "path": "/spec/template/spec/containers/0/args/1",
                "value": f"--metadata={version_uri}/{artifacts.METADATA_FILE}",
            },
        ]
        document["patches"].append(
            {
                "target": {"kind": "Deployment", "name": LOG_SINK_NAME},
                "patch": yaml.safe_dump(sink_args, sort_keys=False),
            }
        )
    served = (
        f"model sha256 {model_sha256}"
        if onnx_sha256 is None
        else f"as ONNX, sha256 {onnx_sha256}"
    )
    header = (
        "# Generated by mlops_suite.serving.manifests.write_overlay: serves "
        f"{model_name} {version_label}\n# ({served}) from {served_uri}.\n"
        "# Regenerate instead of editing; apply with `kubectl apply -k <folder>`.\n"
    )
    return header + yaml.dump(
        document, Dumper=_BlockDumper, sort_keys=False, width=1000
    )


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings (the inline patches) as readable ``|`` blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _represent_str)

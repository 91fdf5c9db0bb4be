"""Publish registry model versions to Vertex AI Model Registry and serve them.

A registry version folder (``<registry>/<model-name>/v<N>/`` with ``model.joblib`` and
``metadata.json``) on Cloud Storage is uploaded as a Vertex AI model version served by
Google's prebuilt scikit-learn container matching the scikit-learn version recorded in
the metadata (1.5 for this suite), with its lineage in labels and description. A
deployment gives the new version a share of an endpoint's traffic while the rest stays
on the model that was serving, so a canary never drops the running version.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops_suite.artifacts import MODEL_FILE_EXTENSIONS
from mlops_suite.errors import DeploymentError, RegistryError
from mlops_suite.ops.labels import sanitize_label_value, suite_labels, validate_labels
from mlops_suite.ops.vertex_backend import vertex_call_as

SKLEARN_FRAMEWORK = "sklearn"
# scikit-learn pinned by the suite; its prebuilt Vertex image is sklearn-cpu.1-5.
DEFAULT_SKLEARN_VERSION = "1.5"
DEFAULT_MACHINE_TYPE = "n1-standard-2"
# Prebuilt prediction images live in three multi-region repositories; a region is
# served from the closest one.
_CONTAINER_MULTI_REGIONS = {"europe": "europe", "asia": "asia", "australia": "asia"}
# Vertex model IDs: at most 63 of [a-z0-9_-], not starting with a digit or "-".
VERTEX_MODEL_ID_PATTERN = re.compile(r"^[a-z_][a-z0-9_-]{0,62}$")
# Hashes are cut to fit a label value (63 characters); the description keeps them whole.
_LABEL_HASH_LENGTH = 16
_MAX_DESCRIPTION = 2000


class VertexRegistryError(RegistryError):
    """A model version could not be uploaded to Vertex AI Model Registry."""


class VertexDeploymentError(DeploymentError):
    """A model could not be deployed to a Vertex AI endpoint."""


@dataclass(frozen=True)
class UploadedModel:
    """A model version in Vertex AI Model Registry.

    Attributes:
        resource_name: ``projects/<p>/locations/<r>/models/<id>``.
        version_id: The Vertex version ID (``"1"``, ``"2"``, ...).
        serving_image: The prediction container the version is served with.
    """

    resource_name: str
    version_id: str
    serving_image: str

    @property
    def versioned_resource_name(self) -> str:
        """The resource name pinned to this version (``...models/<id>@<version>``)."""
        return f"{self.resource_name}@{self.version_id}"


@dataclass(frozen=True)
class EndpointDeployment:
    """The result of deploying a model version to an endpoint.

    Attributes:
        endpoint: The endpoint's resource name.
        deployed_model_id: ID of the new deployed model on the endpoint.
        traffic_split: Deployed model ID -> percent of traffic, after the deployment.
        previous_deployed_model_id: The deployed model that keeps the rest of the
            traffic, or None when the endpoint served nothing before.
    """

    endpoint: str
    deployed_model_id: str
    traffic_split: dict[str, int] = field(default_factory=dict)
    previous_deployed_model_id: str | None = None


def sklearn_serving_image(sklearn_version: str, region: str) -> str:
    """The Vertex AI prebuilt scikit-learn prediction image for a version and region.

    Args:
        sklearn_version: The scikit-learn the model was trained with, e.g. ``1.5.2``.
        region: The Vertex AI region, e.g. ``us-central1`` or ``europe-west4``.

    Returns:
        E.g. ``us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-5:latest``.

    Raises:
        VertexRegistryError: Vertex AI has no prebuilt image for that version.
    """
    from google.cloud.aiplatform import helpers

    parts = str(sklearn_version).split(".")
    if len(parts) < 2 or not all(part.isdigit() for part in parts[:2]):
        raise VertexRegistryError(
            f"scikit-learn version {sklearn_version!r} is not of the form MAJOR.MINOR."
        )
    major_minor = ".".join(parts[:2])
    prefix = region.split("-", 1)[0].lower()
    multi_region = _CONTAINER_MULTI_REGIONS.get(prefix, "us")
    try:
        return str(
            helpers.get_prebuilt_prediction_container_uri(
                framework=SKLEARN_FRAMEWORK,
                framework_version=major_minor,
                region=multi_region,
            )
        )
    except ValueError:
        raise VertexRegistryError(
            f"Vertex AI has no prebuilt prediction image for scikit-learn "
            f"{major_minor}; train with scikit-learn {DEFAULT_SKLEARN_VERSION} or pass "
            "serving_image."
        ) from None


def vertex_model_id(model_name: str) -> str:
    """The Vertex model ID used for a registry model name (``Penguins v2`` -> ...).

    Lowercases, replaces characters other than ``[a-z0-9_-]`` by ``-``, prefixes
    ``m-`` when the name starts with a digit or ``-``, and keeps 63 characters.
    """
    cleaned = re.sub(r"[^a-z0-9_-]", "-", model_name.lower())
    if not cleaned or not (cleaned[0].isalpha() or cleaned[0] == "_"):
        cleaned = f"m-{cleaned}"
    return cleaned[:63]


def lineage_labels(
    model_name: str, version_metadata: Mapping[str, Any]
) -> dict[str, str]:
    """Labels that trace a Vertex model version back to the suite's registry.

    Hashes are shortened to 16 hex characters (label values hold 63); the full values
    are in :func:`lineage_description`.

    Args:
        model_name: The registry model name.
        version_metadata: The version's ``metadata.json`` (with ``lineage``).

    Returns:
        Valid Google Cloud labels, including the suite-version label.
    """
    lineage = version_metadata.get("lineage") or {}

    def pick(key: str) -> Any:
        value = lineage.get(key)
        return value if value not in (None, "") else version_metadata.get(key)

    version = version_metadata.get("version")
    candidates: dict[str, Any] = {
        "mlops-model": model_name,
        "mlops-version": f"v{version}" if version is not None else None,
        "mlops-task": version_metadata.get("task"),
        "mlops-estimator": version_metadata.get("estimator"),
        "mlops-sklearn": version_metadata.get("sklearn_version"),
        "mlops-package": pick("package_version"),
        "mlops-pipeline-run": pick("pipeline_run_id"),
        "mlops-git-commit": _shorten(pick("git_commit"), 12),
        "mlops-model-sha256": _shorten(pick("model_sha256"), _LABEL_HASH_LENGTH),
        "mlops-data-sha256": _shorten(pick("data_sha256"), _LABEL_HASH_LENGTH),
        "mlops-schema-sha256": _shorten(pick("schema_sha256"), _LABEL_HASH_LENGTH),
    }
    labels = {
        key: sanitize_label_value(value)
        for key, value in candidates.items()
        if value not in (None, "")
    }
    labels.update(suite_labels())
    return validate_labels(labels, resource="model")


def _shorten(value: Any, length: int) -> Any:
    return str(value)[:length] if value not in (None, "") else None


def lineage_description(model_name: str, version_metadata: Mapping[str, Any]) -> str:
    """A readable lineage summary for the model's (version) description.

    Args:
        model_name: The registry model name.
        version_metadata: The version's ``metadata.json`` (with ``lineage``).

    Returns:
        One paragraph with the full hashes, commit, run, approval reason and metrics.
    """
    lineage = version_metadata.get("lineage") or {}
    version = version_metadata.get("version")
    parts = [
        f"kfp-mlops-suite model {model_name}"
        + (f" v{version}" if version is not None else ""),
        f"{version_metadata.get('task', 'unknown task')} with "
        f"{version_metadata.get('estimator', 'unknown estimator')}, scikit-learn "
        f"{version_metadata.get('sklearn_version', 'unknown')}",
    ]
    for key in (
        "model_sha256",
        "data_sha256",
        "schema_sha256",
        "git_commit",
        "pipeline_run_id",
        "component_image",
        "package_version",
        "registered_at",
        "approval_reason",
    ):
        value = lineage.get(key) or version_metadata.get(key)
        if value:
            parts.append(f"{key}: {value}")
    metrics = lineage.get("metrics")
    if metrics:
        parts.append(f"metrics: {json.dumps(metrics, sort_keys=True, default=str)}")
    return "; ".join(parts)[:_MAX_DESCRIPTION]


def upload_model(
    *,
    project: str,
    region: str,
    model_name: str,
    artifact_uri: str,
    version_metadata: Mapping[str, Any],
    parent_model: str | None = None,
    serving_image: str | None = None,
    api_endpoint: str | None = None,
) -> UploadedModel:
    """Upload a registry version folder as a Vertex AI model version.

    Without ``parent_model``, the model is looked up by its ID
    (:func:`vertex_model_id` of ``model_name``): when it exists the upload becomes its
    newest version, otherwise a new model with that ID is created. The new version
    becomes the default one and gets the alias ``v<N>`` (the registry version).

    Args:
        project: Google Cloud project ID.
        region: Vertex AI region.
        model_name: The registry model name (the Vertex display name).
        artifact_uri: ``gs://`` registry version folder holding ``model.joblib``.
        version_metadata: The version's ``metadata.json`` (lineage, sklearn version).
        parent_model: Resource name or ID of the Vertex model to add a version to.
        serving_image: Prediction image; the prebuilt scikit-learn image matching
            ``version_metadata["sklearn_version"]`` when None.
        api_endpoint: Alternative API host, talked to over REST.

    Returns:
        The model's resource name, the new version ID and the serving image.

    Raises:
        VertexRegistryError: The folder is not on Cloud Storage, no image fits, or
            Vertex AI refused the upload.
        CredentialsError: No usable Google credentials.
    """
    if not artifact_uri.startswith("gs://") or len(artifact_uri) <= len("gs://"):
        raise VertexRegistryError(
            f"Vertex AI reads models from Cloud Storage, but artifact_uri "
            f"{artifact_uri!r} is not a gs:// folder."
        )
    if artifact_uri.rstrip("/").endswith(MODEL_FILE_EXTENSIONS):
        raise VertexRegistryError(
            f"artifact_uri {artifact_uri} names a file; pass the version folder that "
            "holds it."
        )
    sklearn_version = str(
        version_metadata.get("sklearn_version") or DEFAULT_SKLEARN_VERSION
    )
    image = serving_image or sklearn_serving_image(sklearn_version, region)
    labels = lineage_labels(model_name, version_metadata)
    description = lineage_description(model_name, version_metadata)
    version = version_metadata.get("version")
    aliases = [f"v{version}"] if isinstance(version, int) else None
    model_id = vertex_model_id(model_name)

    from google.api_core import exceptions as api_exceptions
    from google.cloud import aiplatform

    with vertex_call_as(
        VertexRegistryError,
        f"upload model {model_name}",
        project=project,
        region=region,
        api_endpoint=api_endpoint,
    ) as credentials:
        parent = parent_model
        if parent is None:
            try:
                parent = aiplatform.Model(
                    model_name=model_id,
                    project=project,
                    location=region,
                    credentials=credentials,
                ).resource_name
            except api_exceptions.NotFound:
                parent = None
        model = aiplatform.Model.upload(
            serving_container_image_uri=image,
            artifact_uri=artifact_uri.rstrip("/"),
            model_id=None if parent else model_id,
            parent_model=parent,
            is_default_version=True,
            version_aliases=aliases,
            version_description=description,
            description=description,
            display_name=model_name,
            labels=labels,
            project=project,
            location=region,
            credentials=credentials,
            sync=True,
        )
        return UploadedModel(
            resource_name=str(model.resource_name),
            version_id=str(model.version_id),
            serving_image=image,
        )


def plan_traffic_split(
    current: Mapping[str, int], traffic_percent: int
) -> tuple[dict[str, int], str | None]:
    """The traffic split for deploying a new model next to the serving one.

    The new model (key ``"0"``, as the Vertex API names the model being deployed)
    gets ``traffic_percent``; the rest stays on the deployed model that has the most
    traffic now; every other deployed model gets none. An endpoint that serves
    nothing yet gives the new model all traffic, since nothing else could take it.

    Args:
        current: The endpoint's traffic split now (deployed model ID -> percent).
        traffic_percent: Share for the new model, 0-100.

    Returns:
        The split to send with the deployment, and the ID of the deployed model that
        keeps the rest (None when the endpoint served nothing).
    """
    serving = {key: int(value) for key, value in current.items() if int(value) > 0}
    if not serving:
        return {"0": 100}, None
    previous = max(serving, key=lambda key: (serving[key], key))
    split = {"0": traffic_percent}
    if traffic_percent < 100:
        split[previous] = 100 - traffic_percent
    return split, previous


def deploy_to_endpoint(
    *,
    project: str,
    region: str,
    model_resource: str,
    endpoint: str,
    traffic_percent: int = 100,
    machine_type: str = DEFAULT_MACHINE_TYPE,
    min_replicas: int = 1,
    max_replicas: int = 1,
    service_account: str | None = None,
    deployed_model_display_name: str | None = None,
    api_endpoint: str | None = None,
) -> EndpointDeployment:
    """Deploy a model version to an endpoint with a traffic split.

    The new version gets ``traffic_percent`` of the endpoint's traffic and the
    deployed model that served most of it keeps the rest (see
    :func:`plan_traffic_split`); older deployed models stay deployed with no traffic,
    ready for a rollback.

    Args:
        project: Google Cloud project ID.
        region: Vertex AI region.
        model_resource: The model version to serve, e.g.
            ``UploadedModel.versioned_resource_name``.
        endpoint: Endpoint resource name or ID, or a display name; an endpoint with
            that display name is created when none exists.
        traffic_percent: Share of traffic for the new version, 0-100.
        machine_type: Compute Engine machine type of the serving nodes.
        min_replicas: Nodes always running (at least 1).
        max_replicas: Upper bound for autoscaling (at least ``min_replicas``).
        service_account: Service account the serving container runs as.
        deployed_model_display_name: Name of the deployed model; the model's when None.
        api_endpoint: Alternative API host, talked to over REST.

    Returns:
        The endpoint, the new deployed model ID and the resulting traffic split.

    Raises:
        VertexDeploymentError: Bad arguments, several endpoints share the display
            name, or Vertex AI refused the deployment.
        CredentialsError: No usable Google credentials.
    """
    if isinstance(traffic_percent, bool) or not 0 <= int(traffic_percent) <= 100:
        raise VertexDeploymentError(
            f"traffic_percent is {traffic_percent}; it must be between 0 and 100."
        )
    if min_replicas < 1 or max_replicas < min_replicas:
        raise VertexDeploymentError(
            f"Replicas must satisfy 1 <= min_replicas <= max_replicas, got "
            f"min_replicas={min_replicas}, max_replicas={max_replicas}."
        )
    if '"' in endpoint:
        raise VertexDeploymentError(
            f"Endpoint name {endpoint!r} must not contain double quotes."
        )

    from google.cloud import aiplatform

    with vertex_call_as(
        VertexDeploymentError,
        f"deploy {model_resource} to endpoint {endpoint}",
        project=project,
        region=region,
        api_endpoint=api_endpoint,
    ) as credentials:
        model = aiplatform.Model(
            model_name=model_resource,
            project=project,
            location=region,
            credentials=credentials,
        )
        target = _endpoint(
            endpoint, project=project, region=region, credentials=credentials
        )
        before = {deployed.id for deployed in target.list_models()}
        split, previous = plan_traffic_split(target.traffic_split, int(traffic_percent))
        target.deploy(
            model=model,
            deployed_model_display_name=deployed_model_display_name,
            traffic_split=split,
            machine_type=machine_type,
            min_replica_count=min_replicas,
            max_replica_count=max_replicas,
            service_account=service_account,
            sync=True,
        )
        added = [d.id for d in target.list_models() if d.id not in before]
        if len(added) != 1:
            raise VertexDeploymentError(
                f"Endpoint {target.resource_name} lists {len(added)} new deployed "
                "models after the deployment, expected exactly 1."
            )
        return EndpointDeployment(
            endpoint=str(target.resource_name),
            deployed_model_id=str(added[0]),
            traffic_split={k: int(v) for k, v in target.traffic_split.items()},
            previous_deployed_model_id=previous,
        )


def _endpoint(name: str, *, project: str, region: str, credentials: Any) -> Any:
    """The endpoint named by resource name, ID or display name (created if new)."""
    from google.cloud import aiplatform

    where = {"project": project, "location": region, "credentials": credentials}
    if name.startswith("projects/") or name.isdigit():
        return aiplatform.Endpoint(name, **where)
    matches = aiplatform.Endpoint.list(filter=f'display_name="{name}"', **where)
    if len(matches) > 1:
        raise VertexDeploymentError(
            f"{len(matches)} Vertex AI endpoints in {project}/{region} are named "
            f"{name}; pass the endpoint's resource name instead."
        )
    if matches:
        return matches[0]
    return aiplatform.Endpoint.create(
        display_name=name, labels=suite_labels(), sync=True, **where
    )

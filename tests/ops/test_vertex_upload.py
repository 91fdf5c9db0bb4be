"""vertex_upload through the real aiplatform.Model / Endpoint against a fake API."""

from __future__ import annotations

import pytest
from vertex_fake import PROJECT, REGION

from mlops_suite import __version__
from mlops_suite.ops.vertex_backend import CredentialsError
from mlops_suite.ops.vertex_upload import (
    VertexDeploymentError,
    VertexRegistryError,
    deploy_to_endpoint,
    lineage_labels,
    plan_traffic_split,
    sklearn_serving_image,
    upload_model,
    vertex_model_id,
)

LOCATION = f"projects/{PROJECT}/locations/{REGION}"
SKLEARN_1_5 = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-5:latest"


def _upload(fake_vertex, version, **overrides):
    options = dict(
        project=PROJECT,
        region=REGION,
        model_name="penguins",
        artifact_uri=version.uri,
        version_metadata=version.metadata,
        api_endpoint=fake_vertex.url,
    )
    options.update(overrides)
    return upload_model(**options)


def _deploy(fake_vertex, model_resource, **overrides):
    options = dict(
        project=PROJECT,
        region=REGION,
        model_resource=model_resource,
        endpoint="penguins-endpoint",
        api_endpoint=fake_vertex.url,
    )
    options.update(overrides)
    return deploy_to_endpoint(**options)


@pytest.mark.parametrize(
    ("sklearn_version", "region", "expected"),
    [
        ("1.5.2", "us-central1", SKLEARN_1_5),
        ("1.5.1", "europe-west4", SKLEARN_1_5.replace("us-", "europe-", 1)),
        ("1.5", "asia-east1", SKLEARN_1_5.replace("us-", "asia-", 1)),
        ("1.5.2", "australia-southeast1", SKLEARN_1_5.replace("us-", "asia-", 1)),
        ("1.5.2", "me-central1", SKLEARN_1_5),
    ],
)
def test_serving_image_is_the_prebuilt_sklearn_image_for_the_version(
    sklearn_version, region, expected
):
    assert sklearn_serving_image(sklearn_version, region) == expected


def test_unsupported_sklearn_version_is_refused():
    with pytest.raises(
        VertexRegistryError, match="no prebuilt prediction image for scikit-learn 0.1"
    ):
        sklearn_serving_image("0.1.0", REGION)
    with pytest.raises(VertexRegistryError, match="not of the form MAJOR.MINOR"):
        sklearn_serving_image("latest", REGION)


def test_model_ids_follow_vertex_rules():
    assert vertex_model_id("penguins") == "penguins"
    assert vertex_model_id("Churn Model.v2") == "churn-model-v2"
    assert vertex_model_id("2024 churn") == "m-2024-churn"
    assert len(vertex_model_id("x" * 100)) == 63


def test_lineage_labels_are_valid_and_traceable(registry_version):
    labels = lineage_labels("penguins", registry_version.metadata)
    assert labels == {
        "mlops-model": "penguins",
        "mlops-version": "v3",
        "mlops-task": "classification",
        "mlops-estimator": "random_forest",
        "mlops-sklearn": "1-5-2",
        "mlops-package": "0-1-0",
        "mlops-pipeline-run": "run_42-a",
        "mlops-git-commit": "0123456789ab",
        "mlops-model-sha256": "ab" * 8,
        "mlops-data-sha256": "cd" * 8,
        "mlops-schema-sha256": "ef" * 8,
        "kfp-mlops-suite": __version__.replace(".", "-"),
    }


def test_first_upload_creates_the_model_with_image_lineage_and_alias(
    fake_vertex, registry_version
):
    uploaded = _upload(fake_vertex, registry_version)

    (call,) = fake_vertex.calls("POST", r"/models:upload$")
    assert call.path == f"/v1/{LOCATION}/models:upload"
    body = call.json
    assert body["modelId"] == "penguins"
    assert "parentModel" not in body
    model = body["model"]
    assert model["displayName"] == "penguins"
    assert model["artifactUri"] == "gs://demo-registry/penguins/v3"
    assert model["containerSpec"]["imageUri"] == SKLEARN_1_5
    assert model["labels"] == lineage_labels("penguins", registry_version.metadata)
    assert sorted(model["versionAliases"]) == ["default", "v3"]
    for text in (model["description"], model["versionDescription"]):
        assert "model_sha256: " + "ab" * 32 in text
        assert "approval_reason: accuracy 0.97 >= 0.9" in text
        assert 'metrics: {"accuracy": 0.97}' in text
    # The upload is a long-running operation; the client polled it to completion.
    assert fake_vertex.calls("GET", r"/operations/\d+$")

    assert uploaded.resource_name == f"{LOCATION}/models/penguins"
    assert uploaded.version_id == "1"
    assert uploaded.versioned_resource_name == f"{LOCATION}/models/penguins@1"
    assert uploaded.serving_image == SKLEARN_1_5


def test_next_upload_becomes_a_new_version_of_the_same_model(
    fake_vertex, registry_version
):
    _upload(fake_vertex, registry_version)
    registry_version.metadata["version"] = 4
    second = _upload(
        fake_vertex, registry_version, artifact_uri="gs://demo-registry/penguins/v4/"
    )

    last = fake_vertex.calls("POST", r"/models:upload$")[-1].json
    assert last["parentModel"] == f"{LOCATION}/models/penguins"
    assert "modelId" not in last
    assert last["model"]["artifactUri"] == "gs://demo-registry/penguins/v4"
    assert sorted(last["model"]["versionAliases"]) == ["default", "v4"]
    assert second.version_id == "2"


def test_explicit_parent_model_and_image_are_used(fake_vertex, registry_version):
    first = _upload(fake_vertex, registry_version)
    custom = "europe-docker.pkg.dev/acme/serving/sklearn:1.5"
    second = _upload(
        fake_vertex,
        registry_version,
        model_name="penguins-renamed",
        parent_model=first.resource_name,
        serving_image=custom,
    )
    last = fake_vertex.calls("POST", r"/models:upload$")[-1].json
    assert last["parentModel"] == first.resource_name
    assert last["model"]["containerSpec"]["imageUri"] == custom
    assert second.resource_name == first.resource_name


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("/registry/penguins/v3", "is not a gs:// folder"),
        ("gs://", "is not a gs:// folder"),
        ("gs://demo-registry/penguins/v3/model.joblib", "names a file"),
    ],
)
def test_artifact_uri_must_be_a_cloud_storage_folder(
    fake_vertex, registry_version, uri, expected
):
    with pytest.raises(VertexRegistryError, match=expected):
        _upload(fake_vertex, registry_version, artifact_uri=uri)
    assert fake_vertex.requests == []


def test_upload_refusal_is_a_registry_error(fake_vertex, registry_version):
    fake_vertex.refuse_next("no access", 403, "PERMISSION_DENIED")
    with pytest.raises(VertexRegistryError) as info:
        _upload(fake_vertex, registry_version)
    assert str(info.value) == (
        "Vertex AI could not upload model penguins (403 Forbidden): no access."
    )


def test_upload_without_credentials_says_how_to_log_in(registry_version):
    with pytest.raises(CredentialsError, match="gcloud auth application-default"):
        upload_model(
            project=PROJECT,
            region=REGION,
            model_name="penguins",
            artifact_uri=registry_version.uri,
            version_metadata=registry_version.metadata,
        )


def test_canary_keeps_the_rest_of_the_traffic_on_the_serving_model(
    fake_vertex, registry_version
):
    v1 = _upload(fake_vertex, registry_version)
    first = _deploy(
        fake_vertex,
        v1.versioned_resource_name,
        traffic_percent=30,
        machine_type="n1-standard-4",
        min_replicas=1,
        max_replicas=3,
    )

    (create,) = fake_vertex.calls("POST", r"/endpoints$")
    assert create.json["displayName"] == "penguins-endpoint"
    assert create.json["labels"] == {"kfp-mlops-suite": __version__.replace(".", "-")}
    deploy_call = fake_vertex.calls("POST", r":deployModel$")[0].json
    deployed = deploy_call["deployedModel"]
    assert deployed["model"] == f"{LOCATION}/models/penguins@1"
    resources = deployed["dedicatedResources"]
    assert resources["machineSpec"]["machineType"] == "n1-standard-4"
    assert (resources["minReplicaCount"], resources["maxReplicaCount"]) == (1, 3)
    # Nothing served before, so the first model takes all traffic.
    assert deploy_call["trafficSplit"] == {"0": 100}
    assert first.traffic_split == {first.deployed_model_id: 100}
    assert first.previous_deployed_model_id is None

    registry_version.metadata["version"] = 4
    v2 = _upload(fake_vertex, registry_version)
    second = _deploy(fake_vertex, v2.versioned_resource_name, traffic_percent=10)

    assert len(fake_vertex.calls("POST", r"/endpoints$")) == 1  # endpoint reused
    deploy_call = fake_vertex.calls("POST", r":deployModel$")[1].json
    assert deploy_call["deployedModel"]["model"] == f"{LOCATION}/models/penguins@2"
    assert deploy_call["trafficSplit"] == {"0": 10, first.deployed_model_id: 90}
    assert second.endpoint == first.endpoint
    assert second.previous_deployed_model_id == first.deployed_model_id
    assert second.traffic_split == {
        second.deployed_model_id: 10,
        first.deployed_model_id: 90,
    }

    third = _deploy(fake_vertex, v2.versioned_resource_name, endpoint=first.endpoint)
    deploy_call = fake_vertex.calls("POST", r":deployModel$")[2].json
    assert deploy_call["trafficSplit"] == {"0": 100}
    assert third.traffic_split == {third.deployed_model_id: 100}
    assert third.previous_deployed_model_id == first.deployed_model_id


@pytest.mark.parametrize(
    ("current", "percent", "expected"),
    [
        ({}, 25, ({"0": 100}, None)),
        ({"a": 0}, 25, ({"0": 100}, None)),
        ({"a": 100}, 25, ({"0": 25, "a": 75}, "a")),
        ({"a": 70, "b": 30}, 10, ({"0": 10, "a": 90}, "a")),
        ({"a": 100}, 0, ({"0": 0, "a": 100}, "a")),
        ({"a": 100}, 100, ({"0": 100}, "a")),
    ],
)
def test_traffic_plan(current, percent, expected):
    assert plan_traffic_split(current, percent) == expected


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"traffic_percent": 101}, "between 0 and 100"),
        ({"min_replicas": 0}, "1 <= min_replicas <= max_replicas"),
        ({"min_replicas": 3, "max_replicas": 2}, "min_replicas=3, max_replicas=2"),
        ({"endpoint": 'a"b'}, "must not contain double quotes"),
    ],
)
def test_bad_deploy_arguments_fail_before_any_request(fake_vertex, overrides, expected):
    with pytest.raises(VertexDeploymentError, match=expected):
        _deploy(fake_vertex, f"{LOCATION}/models/penguins@1", **overrides)
    assert fake_vertex.requests == []


def test_ambiguous_endpoint_name_is_refused(fake_vertex, registry_version):
    uploaded = _upload(fake_vertex, registry_version)
    for endpoint_id in ("1", "2"):
        name = f"{LOCATION}/endpoints/{endpoint_id}"
        fake_vertex.endpoints[name] = {
            "name": name,
            "displayName": "penguins-endpoint",
            "deployedModels": [],
            "trafficSplit": {},
        }
    with pytest.raises(
        VertexDeploymentError,
        match="2 Vertex AI endpoints in "
        "demo-project/us-central1 are named penguins-endpoint",
    ):
        _deploy(fake_vertex, uploaded.versioned_resource_name)
    assert fake_vertex.calls("POST", r":deployModel$") == []


def test_deploy_refusal_is_a_deployment_error(fake_vertex, registry_version):
    uploaded = _upload(fake_vertex, registry_version)
    fake_vertex.refuse_next("no access", 403, "PERMISSION_DENIED")
    with pytest.raises(VertexDeploymentError) as info:
        _deploy(fake_vertex, uploaded.versioned_resource_name)
    assert str(info.value) == (
        f"Vertex AI could not deploy {uploaded.versioned_resource_name} to endpoint "
        "penguins-endpoint (403 Forbidden): no access."
    )
    assert fake_vertex.calls("POST", r":deployModel$") == []


def test_unknown_region_is_a_registry_error(fake_vertex, registry_version):
    with pytest.raises(VertexRegistryError, match="'mars-north9' is not a Vertex AI"):
        _upload(fake_vertex, registry_version, region="mars-north9")
    assert fake_vertex.requests == []

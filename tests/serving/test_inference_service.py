"""The InferenceService object: stock sklearn, a registry version, restricted, valid."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import crd
import jsonschema
import pytest
import yaml
from stand_in_registry import SHA as STAND_IN_SHA
from stand_in_registry import stand_in_registry

from mlops_suite.errors import DeploymentError, ModelNameError
from mlops_suite.registry import validate_model_name
from mlops_suite.serving.inference_service import build_inference_service, mode_of
from mlops_suite.serving.manifests import write_overlay

SHA = "ab" * 32


def build(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "name": "penguins",
        "namespace": "serving",
        "storage_uri": "s3://mlpipeline/registry/penguins/v3",
        "model_version": 3,
        "model_sha256": SHA,
        "mode": "raw",
    }
    arguments.update(overrides)
    return build_inference_service(**arguments)


def test_serves_the_registry_version_with_the_stock_sklearn_runtime() -> None:
    isvc = build()
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1"
    assert isvc["kind"] == "InferenceService"
    assert isvc["metadata"]["name"] == "penguins"
    assert isvc["metadata"]["namespace"] == "serving"
    model = isvc["spec"]["predictor"]["model"]
    assert model["modelFormat"] == {"name": "sklearn"}
    assert model["storageUri"] == "s3://mlpipeline/registry/penguins/v3"
    # No container name, runtime or image: KServe picks its own sklearn server.
    assert set(model) == {"modelFormat", "storageUri", "resources", "securityContext"}


def test_records_model_version_and_hash_on_the_service_and_its_pods() -> None:
    isvc = build()
    labels = isvc["metadata"]["labels"]
    assert labels["kfp-mlops-suite.io/model-name"] == "penguins"
    assert labels["kfp-mlops-suite.io/model-version"] == "v3"
    assert labels["app.kubernetes.io/part-of"] == "kfp-mlops-suite"
    assert isvc["metadata"]["annotations"]["kfp-mlops-suite.io/model-sha256"] == SHA
    assert isvc["spec"]["predictor"]["labels"] == {
        "kfp-mlops-suite.io/model-name": "penguins",
        "kfp-mlops-suite.io/model-version": "v3",
    }
    assert build(model_version="v3")["metadata"]["labels"] == labels


@pytest.mark.parametrize(
    ("mode", "annotation"), [("raw", "RawDeployment"), ("serverless", "Serverless")]
)
def test_the_deployment_mode_is_an_annotation(mode: str, annotation: str) -> None:
    isvc = build(mode=mode)
    assert (
        isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"]
        == annotation
    )
    assert mode_of(isvc) == mode


def test_a_serverless_service_can_ask_for_a_canary_share() -> None:
    predictor = build(mode="serverless", canary_traffic_percent=20)["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 20
    assert "canaryTrafficPercent" not in build(mode="serverless")["spec"]["predictor"]


def test_the_predictor_is_restricted_and_gets_guaranteed_resources() -> None:
    predictor = build(resources={"cpu": "250m", "memory": "1Gi"})["spec"]["predictor"]
    container = predictor["model"]["securityContext"]
    assert container["runAsNonRoot"] is True
    assert container["runAsUser"] != 0
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert container["seccompProfile"] == {"type": "RuntimeDefault"}
    pod = predictor["securityContext"]
    assert pod == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    resources = predictor["model"]["resources"]
    assert (
        resources["requests"] == resources["limits"] == {"cpu": "250m", "memory": "1Gi"}
    )
    default = build()["spec"]["predictor"]["model"]["resources"]
    assert default["requests"] == default["limits"]


def test_optional_fields_appear_only_when_asked_for() -> None:
    plain = build()["spec"]["predictor"]
    assert {"serviceAccountName", "logger", "canaryTrafficPercent"}.isdisjoint(plain)
    assert (plain["minReplicas"], plain["maxReplicas"]) == (1, 1)
    full = build(
        service_account="kfp-mlops-model-storage",
        logger_url="http://kfp-mlops-log-sink/",
        min_replicas=2,
        max_replicas=4,
    )["spec"]["predictor"]
    assert full["serviceAccountName"] == "kfp-mlops-model-storage"
    assert full["logger"] == {"mode": "all", "url": "http://kfp-mlops-log-sink/"}
    assert (full["minReplicas"], full["maxReplicas"]) == (2, 4)


def test_the_object_is_plain_json() -> None:
    isvc = build(mode="serverless", canary_traffic_percent=10, logger_url="http://x/")
    assert json.loads(json.dumps(isvc)) == isvc


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"mode": "serverless", "canary_traffic_percent": 10, "logger_url": "http://x/"},
        {"service_account": "reader", "min_replicas": 2, "max_replicas": 3},
        {"predict_proba": True},
        {"service_account": "writer", "log_storage": "s3://mlpipeline/kserve-logs"},
        {"log_storage": "gs://team-logs"},
    ],
)
def test_validates_against_the_kserve_crd(overrides: dict[str, Any]) -> None:
    crd.check_inference_service(build(**overrides))


def test_predict_proba_sets_the_stock_runtimes_switch_on_the_model() -> None:
    model = build(predict_proba=True)["spec"]["predictor"]["model"]
    assert model["env"] == [{"name": "PREDICT_PROBA", "value": "true"}]
    assert "env" not in build()["spec"]["predictor"]["model"]


def test_log_storage_has_kserve_store_every_request_and_response_itself() -> None:
    predictor = build(
        service_account="kfp-mlops-model-storage",
        log_storage="s3://mlpipeline/kserve-logs",
    )["spec"]["predictor"]
    assert predictor["logger"] == {
        "mode": "all",
        "url": "s3://mlpipeline/kserve-logs",
        "storage": {
            "parameters": {"type": "s3", "format": "json"},
            "serviceAccountName": "kfp-mlops-model-storage",
        },
    }
    # No sink to let in: the pods do not carry the sink's label.
    assert "kfp-mlops-suite.io/request-logger" not in predictor["labels"]
    plain = build(log_storage="gs://team-logs/served")["spec"]["predictor"]
    assert plain["logger"]["storage"] == {
        "parameters": {"type": "gs", "format": "json"}
    }


def test_the_crd_check_catches_a_misspelled_field() -> None:
    isvc = build()
    isvc["spec"]["predictor"]["model"]["storageURI"] = isvc["spec"]["predictor"][
        "model"
    ].pop("storageUri")
    with pytest.raises(jsonschema.ValidationError, match="'storageURI' was unexpected"):
        crd.check_inference_service(isvc)


@pytest.mark.parametrize(
    ("option", "logging"),
    [
        ({}, {"logger_url": "http://kfp-mlops-log-sink/"}),
        (
            {"log_storage": "s3://mlpipeline/kserve-logs"},
            {"log_storage": "s3://mlpipeline/kserve-logs"},
        ),
    ],
    ids=["sink", "log-storage"],
)
def test_matches_the_kind_overlay_rendered_for_the_same_version(
    tmp_path: Path, option: dict[str, str], logging: dict[str, str]
) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed, so the overlay cannot be rendered")
    stand_in_registry(tmp_path / "registry", champion=3)
    out = write_overlay(
        registry_uri=str(tmp_path / "registry"),
        model_name="penguins",
        version=3,
        storage_uri="s3://mlpipeline/registry",
        overlay="kind",
        output_dir=tmp_path / "overlay",
        **option,
    )
    rendered = subprocess.run(
        [kubectl, "kustomize", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    (overlay_isvc,) = [
        doc
        for doc in yaml.safe_load_all(rendered)
        if doc and doc["kind"] == "InferenceService"
    ]
    ours = build(
        namespace="kubeflow",
        service_account="kfp-mlops-model-storage",
        resources={"cpu": "250m", "memory": "512Mi"},
        model_sha256=STAND_IN_SHA,
        **logging,
    )
    assert ours == overlay_isvc


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"storage_uri": "s3://mlpipeline/registry/penguins/latest"}, "latest"),
        ({"storage_uri": "s3://mlpipeline/registry/penguins/v2"}, "version 2"),
        ({"storage_uri": "mlpipeline/registry/penguins/v3"}, "not a URI"),
        ({"model_version": 0}, "model_version 0"),
        ({"model_sha256": "abc"}, "'abc'"),
        ({"namespace": "Serving"}, "'Serving'"),
        ({"mode": "knative-ish"}, "'knative-ish'"),
        ({"canary_traffic_percent": 10}, "serverless"),
        ({"mode": "serverless", "canary_traffic_percent": 120}, "120"),
        ({"min_replicas": 3, "max_replicas": 2}, "min=3 max=2"),
        ({"min_replicas": 0}, "min=0"),
        ({"resources": {"cpu": "1"}}, "memory"),
        ({"log_storage": "http://kfp-mlops-log-sink/"}, "s3://bucket/prefix"),
        ({"log_storage": "s3://"}, "'s3://'"),
        (
            {"log_storage": "s3://logs", "logger_url": "http://kfp-mlops-log-sink/"},
            "not both",
        ),
        (
            {
                "resources": {
                    "requests": {"cpu": "1", "memory": "1Gi"},
                    "limits": {"cpu": "2", "memory": "1Gi"},
                }
            },
            "differ from limits",
        ),
    ],
)
def test_rejects_what_cannot_be_served_with_one_sentence(
    overrides: dict[str, Any], named: str
) -> None:
    with pytest.raises(DeploymentError, match=named) as raised:
        build(**overrides)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("name", ["Penguins_Model", "penguins-" + "x" * 51])
def test_names_follow_the_registry_rule_with_the_same_sentence(name: str) -> None:
    with pytest.raises(ModelNameError) as expected:
        validate_model_name(name)
    with pytest.raises(ModelNameError) as raised:
        build(name=name)
    assert str(raised.value) == str(expected.value)
    assert "\n" not in str(raised.value)


def test_the_longest_registrable_name_is_served() -> None:
    name = "penguins-" + "x" * 44
    assert build(name=name)["metadata"]["name"] == name


@pytest.mark.parametrize(
    ("annotation", "mode"),
    [("RawDeployment", "raw"), ("Standard", "raw"), ("Serverless", "serverless"),
     ("Knative", "serverless")],
)  # fmt: skip
def test_reads_the_mode_under_its_old_and_new_names(annotation: str, mode: str) -> None:
    isvc = build()
    isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] = annotation
    assert mode_of(isvc) == mode
    del isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"]
    assert mode_of(isvc) is None


def test_a_serverless_service_asks_kserve_for_the_canarys_own_url() -> None:
    from mlops_suite.serving.inference_service import build_inference_service

    common: dict[str, Any] = dict(
        name="penguins", model_version=3, storage_uri="gs://b/registry/penguins/v3",
        model_sha256="0" * 64, namespace="serving",
    )  # fmt: skip
    serverless = build_inference_service(mode="serverless", **common)
    raw = build_inference_service(mode="raw", **common)
    tag = "serving.kserve.io/enable-tag-routing"
    assert serverless["metadata"]["annotations"][tag] == "true"
    assert tag not in raw["metadata"]["annotations"]

"""The committed kustomizations render, validate and stay secure and minimal.

Each of ``manifests/base`` and its overlays must build with ``kubectl kustomize``; every
InferenceService must validate against KServe's CRD schema; every pod we define must
meet the restricted Pod Security Standard; RBAC must stay namespaced and limited to
InferenceServices.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import crd
import jsonschema
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = REPO_ROOT / "manifests"
Render = Callable[[Path], list[dict[str, Any]]]
KUSTOMIZATIONS = ["base", "overlays/kind", "overlays/gke"]
PART_OF = ("app.kubernetes.io/part-of", "kfp-mlops-suite")
DEPLOY_VERBS = {"get", "list", "watch", "create", "patch", "update"}
STORAGE_SA = "kfp-mlops-model-storage"
# Volume types the restricted profile allows.
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def _of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def _isvc(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (isvc,) = _of_kind(objects, "InferenceService")
    return isvc


def _pod_specs(
    obj: dict[str, Any],
) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(pod-level spec, containers) for each pod an object of ours would create."""
    kind = obj["kind"]
    if kind == "InferenceService":
        specs = []
        for component in ("predictor", "transformer", "explainer"):
            spec = obj["spec"].get(component)
            if spec is None:
                continue
            containers = list(spec.get("containers", [])) + list(
                spec.get("initContainers", [])
            )
            for value in spec.values():
                # The framework slot (model, sklearn, ...) is itself a container spec.
                if isinstance(value, dict) and (
                    "storageUri" in value or "modelFormat" in value
                ):
                    containers.append(value)
            specs.append((spec, containers))
        return specs
    if kind == "Pod":
        spec = obj["spec"]
    elif kind == "CronJob":
        spec = obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    elif kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        spec = obj["spec"]["template"]["spec"]
    else:
        return []
    return [
        (spec, list(spec.get("containers", [])) + list(spec.get("initContainers", [])))
    ]


def restricted_violations(obj: dict[str, Any]) -> list[str]:
    """What keeps an object's pods from the restricted Pod Security Standard."""
    problems: list[str] = []
    for pod, containers in _pod_specs(obj):
        pod_ctx = pod.get("securityContext") or {}
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(flag):
                problems.append(f"pod sets {flag}")
        for volume in pod.get("volumes", []):
            kinds = set(volume) - {"name"}
            if not kinds <= RESTRICTED_VOLUMES:
                problems.append(f"volume {volume['name']} uses {sorted(kinds)}")
        if not containers:
            problems.append("pod has no container to check")
        for index, container in enumerate(containers):
            name = container.get("name", f"container {index}")
            ctx = container.get("securityContext") or {}
            if ctx.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{name}: allowPrivilegeEscalation is not false")
            if ctx.get("privileged"):
                problems.append(f"{name}: privileged")
            caps = ctx.get("capabilities") or {}
            if "ALL" not in caps.get("drop", []):
                problems.append(f"{name}: capabilities do not drop ALL")
            if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
                problems.append(f"{name}: adds capabilities {caps['add']}")
            non_root = ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot"))
            if non_root is not True:
                problems.append(f"{name}: runAsNonRoot is not true")
            if ctx.get("runAsUser", pod_ctx.get("runAsUser")) == 0:
                problems.append(f"{name}: runs as uid 0")
            seccomp = (
                ctx.get("seccompProfile") or pod_ctx.get("seccompProfile") or {}
            ).get("type")
            if seccomp not in {"RuntimeDefault", "Localhost"}:
                problems.append(f"{name}: seccompProfile is {seccomp!r}")
    return problems


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_every_kustomization_renders_with_our_label(render: Render, path: str) -> None:
    objects = render(MANIFESTS / path)
    kinds = {obj["kind"] for obj in objects}
    assert {"InferenceService", "ServiceAccount", "Role", "RoleBinding"} <= kinds
    for obj in objects:
        labels = obj["metadata"].get("labels", {})
        assert labels.get(PART_OF[0]) == PART_OF[1], obj["metadata"]["name"]


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_inference_services_validate_against_the_kserve_crd(
    render: Render, path: str
) -> None:
    isvcs = _of_kind(render(MANIFESTS / path), "InferenceService")
    assert isvcs
    for isvc in isvcs:
        crd.check_inference_service(isvc)


def test_the_crd_check_rejects_a_wrongly_typed_field(render: Render) -> None:
    isvc = _isvc(render(MANIFESTS / "overlays/kind"))
    isvc["spec"]["predictor"]["minReplicas"] = "one"
    with pytest.raises(jsonschema.ValidationError, match="'one' is not of type"):
        crd.check_inference_service(isvc)


@pytest.mark.parametrize(
    "path",
    [
        "spec.predictor.sklearn.storageUrl",
        "spec.predictor.model.storageUrl",
        "spec.predictor.minReplica",
        "spec.predictr",
        "metadata.lables",
    ],
)
def test_the_crd_check_rejects_a_misspelled_field(render: Render, path: str) -> None:
    isvc = _isvc(render(MANIFESTS / "overlays/kind"))
    *parents, field = path.split(".")
    node = isvc
    for name in parents:
        node = node.setdefault(name, {})
    node[field] = "s3://mlpipeline/registry/penguins/v1"
    with pytest.raises(jsonschema.ValidationError, match=f"'{field}' was unexpected"):
        crd.check_inference_service(isvc)


def test_the_crd_check_rejects_an_api_version_the_crd_does_not_serve(
    render: Render,
) -> None:
    isvc = _isvc(render(MANIFESTS / "overlays/kind"))
    isvc["apiVersion"] = "serving.kserve.io/v1alpha9"
    with pytest.raises(jsonschema.ValidationError, match="not served"):
        crd.check_inference_service(isvc)


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_our_pods_meet_the_restricted_pod_security_standard(
    render: Render, path: str
) -> None:
    objects = render(MANIFESTS / path)
    pod_bearing = [obj for obj in objects if _pod_specs(obj)]
    assert pod_bearing, "no pod-bearing object rendered"
    for obj in pod_bearing:
        assert restricted_violations(obj) == [], obj["metadata"]["name"]


def test_the_restricted_check_catches_a_container_that_keeps_capabilities(
    render: Render,
) -> None:
    isvc = _isvc(render(MANIFESTS / "base"))
    del isvc["spec"]["predictor"]["model"]["securityContext"]["capabilities"]
    isvc["spec"]["predictor"]["hostNetwork"] = True
    problems = restricted_violations(isvc)
    assert any("drop ALL" in problem for problem in problems)
    assert any("hostNetwork" in problem for problem in problems)


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_the_predictor_gets_guaranteed_resources(render: Render, path: str) -> None:
    predictor = _isvc(render(MANIFESTS / path))["spec"]["predictor"]
    resources = predictor["model"]["resources"]
    assert resources["requests"] == resources["limits"]
    assert {"cpu", "memory"} <= set(resources["limits"])
    assert 1 <= predictor["minReplicas"] <= predictor["maxReplicas"]


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_rbac_is_namespaced_and_limited_to_inference_services(
    render: Render, path: str
) -> None:
    objects = render(MANIFESTS / path)
    assert not _of_kind(objects, "ClusterRole")
    assert not _of_kind(objects, "ClusterRoleBinding")
    (role,) = _of_kind(objects, "Role")
    for rule in role["rules"]:
        assert rule["apiGroups"] == ["serving.kserve.io"]
        assert rule["resources"] == ["inferenceservices"]
        assert set(rule["verbs"]) == DEPLOY_VERBS
        assert "resourceNames" not in rule
    (binding,) = _of_kind(objects, "RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["metadata"].get("namespace") == role["metadata"].get("namespace")
    # The deploy permission goes to the pipeline's runner, never to the model server.
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "pipeline-runner", "namespace": "kubeflow"}
    ]


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_the_model_is_read_from_a_version_folder_by_its_own_account(
    render: Render, path: str
) -> None:
    objects = render(MANIFESTS / path)
    predictor = _isvc(objects)["spec"]["predictor"]
    assert predictor["model"]["modelFormat"]["name"] == "sklearn"
    assert re.search(r"/v[1-9][0-9]*$", predictor["model"]["storageUri"])
    assert "latest" not in predictor["model"]["storageUri"]
    assert predictor["serviceAccountName"] == STORAGE_SA
    accounts = {
        sa["metadata"]["name"]: sa for sa in _of_kind(objects, "ServiceAccount")
    }
    assert accounts[STORAGE_SA]["automountServiceAccountToken"] is False
    # Credentials are referenced, never committed.
    assert not _of_kind(objects, "Secret")


def test_kind_serves_raw_deployments_from_the_kfp_object_store(render: Render) -> None:
    objects = render(MANIFESTS / "overlays/kind")
    isvc = _isvc(objects)
    assert isvc["metadata"]["namespace"] == "kubeflow"
    assert (
        isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"]
        == "RawDeployment"
    )
    assert isvc["spec"]["predictor"]["model"]["storageUri"].startswith(
        "s3://mlpipeline/"
    )
    assert isvc["spec"]["predictor"]["logger"]["mode"] == "all"
    account = _account(objects, "kfp-mlops-model-storage")
    assert account["secrets"] == [{"name": "kfp-mlops-s3-credentials"}]
    # The sink reads the same Secret, as a mounted file (test_security.py).
    (deployment,) = [
        d
        for d in _of_kind(objects, "Deployment")
        if d["metadata"]["name"] == "kfp-mlops-log-sink"
    ]
    secrets = {
        volume["secret"]["secretName"]
        for volume in deployment["spec"]["template"]["spec"]["volumes"]
        if "secret" in volume
    }
    assert secrets == {"kfp-mlops-s3-credentials"}


def test_gke_serves_a_serverless_canary_from_cloud_storage(render: Render) -> None:
    objects = render(MANIFESTS / "overlays/gke")
    isvc = _isvc(objects)
    predictor = isvc["spec"]["predictor"]
    assert (
        isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"]
        == "Serverless"
    )
    assert predictor["canaryTrafficPercent"] == 10
    assert predictor["model"]["storageUri"].startswith("gs://")
    for name in ("kfp-mlops-model-storage", "kfp-mlops-log-sink"):
        account = _account(objects, name)
        gsa = account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"]
        assert gsa.endswith(".iam.gserviceaccount.com")
        assert "secrets" not in account
    sink = _container(objects, "kfp-mlops-log-sink")
    assert any(arg.startswith("--output=gs://") for arg in sink["args"])
    (namespace,) = _of_kind(objects, "Namespace")
    assert namespace["metadata"]["name"] == isvc["metadata"]["namespace"]
    kind_limits = _isvc(render(MANIFESTS / "overlays/kind"))["spec"]["predictor"][
        "model"
    ]
    assert (
        predictor["model"]["resources"]["limits"] != kind_limits["resources"]["limits"]
    )


def test_only_access_objects_carry_the_bootstrap_label(render: Render) -> None:
    """kind-up.sh applies everything labelled serving-access before any model exists."""
    objects = render(MANIFESTS / "overlays/kind")
    access = {
        obj["kind"]
        for obj in objects
        if obj["metadata"]["labels"].get("app.kubernetes.io/component")
        == "serving-access"
    }
    assert access == {"ServiceAccount", "Role", "RoleBinding"}


def test_the_kind_cluster_pins_its_node_image_by_digest() -> None:
    config = yaml.safe_load(
        (MANIFESTS / "kind" / "cluster.yaml").read_text(encoding="utf-8")
    )
    assert config["kind"] == "Cluster"
    images = [node["image"] for node in config["nodes"]]
    assert images
    for image in images:
        assert re.fullmatch(r"kindest/node:v\d+\.\d+\.\d+@sha256:[0-9a-f]{64}", image)


@pytest.mark.parametrize("script", ["kind-up.sh", "kind-down.sh"])
def test_kind_scripts_parse_and_stop_on_errors(script: str) -> None:
    path = REPO_ROOT / "scripts" / script
    text = path.read_text(encoding="utf-8")
    assert "set -euo pipefail" in text
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    done = subprocess.run(
        [bash, "-n", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_no_committed_kustomization_points_outside_the_repo() -> None:
    for kustomization in MANIFESTS.rglob("kustomization.yaml"):
        document = yaml.safe_load(kustomization.read_text(encoding="utf-8"))
        for entry in document.get("resources", []) + document.get("components", []):
            target = (kustomization.parent / entry).resolve()
            assert target.is_relative_to(MANIFESTS.resolve()), (
                f"{kustomization}: {entry}"
            )
            assert target.exists(), f"{kustomization}: {entry}"


def _account(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (account,) = [
        sa
        for sa in _of_kind(objects, "ServiceAccount")
        if sa["metadata"]["name"] == name
    ]
    return account


def _container(objects: list[dict[str, Any]], deployment: str) -> dict[str, Any]:
    (found,) = [
        d
        for d in _of_kind(objects, "Deployment")
        if d["metadata"]["name"] == deployment
    ]
    (container,) = found["spec"]["template"]["spec"]["containers"]
    return container

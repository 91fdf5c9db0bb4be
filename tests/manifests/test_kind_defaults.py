"""The kind defaults are written once, in pipelines/platform.py, and used everywhere.

The object store's host and port, its Secret and bucket, and the KFP, KServe and
cert-manager releases of ``make kind-up`` must name what the pinned Kubeflow Pipelines
serves (SeaweedFS since KFP 2.16, not MinIO). The scripts read them from
``python3 pipelines/platform.py``; the overlays, the READMEs and the compiled ``-kfp``
specs (``tests/golden``) must carry the same values.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_suite.pipelines import platform

REPO_ROOT = Path(__file__).resolve().parents[2]
PLATFORM_FILE = REPO_ROOT / "pipelines" / "platform.py"
SCRIPTS = [REPO_ROOT / "scripts" / name for name in ("kind-up.sh", "kind-e2e.sh")]
READMES = [REPO_ROOT / "README.md", REPO_ROOT / "manifests" / "README.md"]
KIND_OVERLAY = REPO_ROOT / "manifests" / "overlays" / "kind"
GOLDEN_KFP = sorted((REPO_ROOT / "tests" / "golden").glob("*-kfp.yaml"))
WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yaml"))
SINK = "kfp-mlops-log-sink"
Render = Callable[[Path], list[dict[str, Any]]]


def _printed_defaults() -> dict[str, str]:
    # -S: no site-packages, as on a machine where only python3 is installed.
    done = subprocess.run(
        [sys.executable, "-S", str(PLATFORM_FILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    pairs = (line.split("=", 1) for line in done.stdout.splitlines())
    return {name: value for name, value in pairs}


def test_platform_py_prints_the_defaults_with_the_standard_library_only() -> None:
    printed = _printed_defaults()
    expected = {f"DEFAULT_{k}": v for k, v in platform.kind_defaults().items()}
    assert printed == expected
    assert printed["DEFAULT_KFP_OBJECT_STORE_ENDPOINT"] == (
        f"http://{platform.KFP_OBJECT_STORE_HOST}:{platform.KFP_OBJECT_STORE_PORT}"
    )


def test_the_object_store_is_the_one_kfp_serves_since_it_removed_minio() -> None:
    # KFP >= 2.16: Service seaweedfs in KFP's namespace, S3 on 8333.
    major, minor, _ = (int(part) for part in platform.KIND_KFP_VERSION.split("."))
    assert (major, minor) >= (2, 16)
    assert platform.KFP_OBJECT_STORE_HOST == f"seaweedfs.{platform.KFP_NAMESPACE}"
    assert platform.KFP_OBJECT_STORE_PORT == 8333
    assert platform.KFP_OBJECT_STORE_SECRET == "mlpipeline-minio-artifact"
    assert platform.KFP_REGISTRY_URI.startswith(f"s3://{platform.KFP_BUCKET}/")


def test_the_cluster_runs_the_releases_of_the_pinned_sdks() -> None:
    pins = dict(
        line.split("==", 1)
        for line in (REPO_ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert pins["kfp"] == platform.KIND_KFP_VERSION
    assert f"v{pins['kserve']}" == platform.KIND_KSERVE_VERSION


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_scripts_read_the_defaults_instead_of_repeating_them(script: Path) -> None:
    text = script.read_text(encoding="utf-8")
    assert "pipelines/platform.py" in text
    values = {
        platform.KIND_KFP_VERSION,
        platform.KIND_KSERVE_VERSION,
        platform.KIND_CERT_MANAGER_VERSION,
        platform.KFP_OBJECT_STORE_HOST,
        str(platform.KFP_OBJECT_STORE_PORT),
        platform.KFP_OBJECT_STORE_SECRET,
        f"s3://{platform.KFP_BUCKET}",
        "minio-service",
    }
    assert [value for value in values if value in text] == []


def test_the_kind_overlay_reaches_the_object_store_of_platform_py(
    render: Render,
) -> None:
    objects = render(KIND_OVERLAY)
    namespaces = {obj["metadata"].get("namespace") for obj in objects}
    assert namespaces == {platform.KFP_NAMESPACE}
    (sink,) = [
        obj
        for obj in objects
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == SINK
    ]
    (container,) = sink["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["FSSPEC_S3_ENDPOINT_URL"] == platform.KFP_OBJECT_STORE_ENDPOINT
    assert all(
        arg.startswith(f"--{flag}=s3://{platform.KFP_BUCKET}/")
        for arg, flag in zip(container["args"][:2], ("output", "metadata"), strict=True)
    )
    (isvc,) = [obj for obj in objects if obj["kind"] == "InferenceService"]
    storage_uri = isvc["spec"]["predictor"]["model"]["storageUri"]
    assert storage_uri.startswith(f"{platform.KFP_REGISTRY_URI}/")
    # The sink's way to the store: the SeaweedFS pod on the S3 port.
    ports = {
        port["port"]
        for obj in objects
        if obj["kind"] == "NetworkPolicy"
        for rule in obj["spec"].get("egress", [])
        if any(
            peer.get("podSelector", {}).get("matchLabels") == {"app": "seaweedfs"}
            for peer in rule.get("to", [])
        )
        for port in rule["ports"]
    }
    assert ports == {platform.KFP_OBJECT_STORE_PORT}


@pytest.mark.parametrize("readme", READMES, ids=lambda path: path.parent.name)
def test_readmes_name_the_defaults_of_platform_py(readme: Path) -> None:
    text = readme.read_text(encoding="utf-8")
    assert "minio-service" not in text
    found = {
        "Kubeflow Pipelines": re.findall(r"Kubeflow Pipelines\W+(\d+\.\d+\.\d+)", text),
        "KServe": re.findall(r"KServe\W+(v\d+\.\d+\.\d+)", text),
        "cert-manager": re.findall(r"cert-manager\W+(v\d+\.\d+\.\d+)", text),
        "endpoint": re.findall(r"\b[a-z0-9-]+\.kubeflow:\d+", text),
        "secret": re.findall(r"\bmlpipeline-[a-z-]*artifact\b", text),
        "bucket": re.findall(r"\bs3://([a-z0-9.-]+)", text),
    }
    store = f"{platform.KFP_OBJECT_STORE_HOST}:{platform.KFP_OBJECT_STORE_PORT}"
    expected = {
        "Kubeflow Pipelines": platform.KIND_KFP_VERSION,
        "KServe": platform.KIND_KSERVE_VERSION,
        "cert-manager": platform.KIND_CERT_MANAGER_VERSION,
        "endpoint": store,
        "secret": platform.KFP_OBJECT_STORE_SECRET,
        "bucket": platform.KFP_BUCKET,
    }
    for what, values in found.items():
        assert values, f"{readme.name} does not name the kind {what}"
        assert set(values) == {expected[what]}, f"{readme.name}: {what} {values}"


@pytest.mark.parametrize("golden", GOLDEN_KFP, ids=lambda path: path.name)
def test_compiled_kfp_specs_reach_the_object_store_of_platform_py(
    golden: Path,
) -> None:
    documents = list(yaml.safe_load_all(golden.read_text(encoding="utf-8")))
    executors = documents[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert executors
    for name, executor in executors.items():
        secrets = {item["secretName"] for item in executor["secretAsEnv"]}
        assert secrets == {platform.KFP_OBJECT_STORE_SECRET}, name
    for deployment in documents[0]["deploymentSpec"]["executors"].values():
        for item in deployment["container"].get("env", []):
            if item["name"] == "FSSPEC_S3_ENDPOINT_URL":
                assert item["value"] == platform.KFP_OBJECT_STORE_ENDPOINT
    endpoints = re.findall(r"http://[a-z0-9.-]+:\d+", golden.read_text())
    assert set(endpoints) == {platform.KFP_OBJECT_STORE_ENDPOINT}


def _minor(version: str) -> int:
    """The minor of a Kubernetes version such as ``v1.34.0``."""
    found = re.search(r"\bv1\.(\d+)\.\d+\b", version)
    assert found, f"{version!r} is not a Kubernetes version"
    return int(found.group(1))


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_workflows_use_a_kubectl_within_one_minor_of_the_kind_node(
    workflow: Path,
) -> None:
    cluster = yaml.safe_load(
        (REPO_ROOT / "manifests" / "kind" / "cluster.yaml").read_text()
    )
    node_minors = {_minor(node["image"]) for node in cluster["nodes"]}
    versions = [
        step["with"]["version"]
        for job in yaml.safe_load(workflow.read_text())["jobs"].values()
        for step in job["steps"]
        if str(step.get("uses", "")).startswith("azure/setup-kubectl")
    ]
    assert versions, f"{workflow.name} installs no pinned kubectl"
    for version in versions:
        assert all(abs(_minor(version) - node) <= 1 for node in node_minors), version

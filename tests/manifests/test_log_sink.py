"""The log-sink component renders, is reachable by the logger, and runs restricted."""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from mlops_suite import __version__
from mlops_suite.monitoring.sink.command import add_sink_arguments
from mlops_suite.monitoring.sink.server import HEALTH_PATH

REPO_ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = REPO_ROOT / "manifests"
SINK = "kfp-mlops-log-sink"
IMAGE = "ghcr.io/kfp-mlops-suite/components"
Render = Callable[[Path], list[dict[str, Any]]]


def _stack(tmp_path: Path, images: list[dict[str, str]] | None = None) -> Path:
    """An overlay of our own: base + request-logger + log-sink in one namespace."""
    folder = tmp_path / "overlay"
    folder.mkdir()

    def relative(path: Path) -> str:
        # kustomize refuses absolute paths to components and resources.
        return os.path.relpath(path, folder)

    kustomization: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": "serving",
        "resources": [relative(MANIFESTS / "base")],
        "components": [
            relative(MANIFESTS / "components" / "request-logger"),
            relative(MANIFESTS / "components" / "log-sink"),
        ],
    }
    if images:
        kustomization["images"] = images
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return folder


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [
        obj
        for obj in objects
        if obj["kind"] == kind and obj["metadata"]["name"] == name
    ]
    return found


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _sink_flags(container: dict[str, Any]) -> argparse.Namespace:
    command = container["command"] + container.get("args", [])
    assert command[:2] == ["mlops", "sink"], shlex.join(command)
    parser = argparse.ArgumentParser()
    add_sink_arguments(parser)
    return parser.parse_args(command[2:])


@pytest.fixture
def objects(tmp_path: Path, render: Render) -> list[dict[str, Any]]:
    return render(_stack(tmp_path))


def test_the_logger_url_reaches_the_sink_service(objects: list[dict[str, Any]]) -> None:
    (isvc,) = [obj for obj in objects if obj["kind"] == "InferenceService"]
    url = isvc["spec"]["predictor"]["logger"]["url"]
    service = _one(objects, "Service", SINK)
    deployment = _one(objects, "Deployment", SINK)

    assert url == f"http://{service['metadata']['name']}/"
    namespaces = {
        obj["metadata"].get("namespace") for obj in (isvc, service, deployment)
    }
    assert namespaces == {"serving"}, "the short name resolves in the same namespace"
    (port,) = service["spec"]["ports"]
    assert port["port"] == 80
    container = _container(deployment)
    (container_port,) = [
        p for p in container["ports"] if p["name"] == port["targetPort"]
    ]
    assert container_port["containerPort"] == 8080
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    # The sink listens where the Service sends traffic, on every interface.
    flags = _sink_flags(container)
    assert (flags.host, flags.port) == ("0.0.0.0", 8080)


def test_the_sink_pod_meets_the_restricted_pod_security_standard(
    objects: list[dict[str, Any]],
) -> None:
    deployment = _one(objects, "Deployment", SINK)
    pod = deployment["spec"]["template"]["spec"]
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(flag)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    assert all(set(volume) == {"name", "emptyDir"} for volume in pod["volumes"])
    context = _container(deployment)["securityContext"]
    assert context["runAsNonRoot"] is True
    # Above every user of the node (test_security.py: the same numbers as the image).
    assert context["runAsUser"] >= 10000
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"]["type"] == "RuntimeDefault"
    assert context["readOnlyRootFilesystem"] is True
    assert not context.get("privileged")


def test_the_sink_writes_only_to_its_emptydir_and_has_guaranteed_resources(
    objects: list[dict[str, Any]],
) -> None:
    deployment = _one(objects, "Deployment", SINK)
    container = _container(deployment)
    pod = deployment["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = [
        PurePosixPath(mount["mountPath"])
        for mount in container["volumeMounts"]
        if "emptyDir" in volumes[mount["name"]] and not mount.get("readOnly")
    ]
    env = {item["name"]: item.get("value") for item in container.get("env", [])}
    flags = _sink_flags(container)

    def writable(path: str) -> bool:
        return any(PurePosixPath(path).is_relative_to(mount) for mount in mounts)

    assert flags.journal_dir and writable(flags.journal_dir)
    assert writable(env["TMPDIR"])
    resources = container["resources"]
    assert resources["requests"] == resources["limits"]
    assert {"cpu", "memory"} <= set(resources["limits"])
    for probe in (container["readinessProbe"], container["livenessProbe"]):
        assert probe["httpGet"] == {"path": HEALTH_PATH, "port": "http"}
    # The final flush after SIGTERM needs time to reach the object store.
    assert pod["terminationGracePeriodSeconds"] >= 30


def test_the_image_is_the_suite_image_tagged_with_the_package_version(
    objects: list[dict[str, Any]],
) -> None:
    container = _container(_one(objects, "Deployment", SINK))
    assert container["image"] == f"{IMAGE}:{__version__}"


def test_an_overlays_images_entry_sets_the_sink_image(
    tmp_path: Path, render: Render
) -> None:
    objects = render(_stack(tmp_path, images=[{"name": IMAGE, "newTag": "e2e-abc"}]))
    container = _container(_one(objects, "Deployment", SINK))
    assert container["image"] == f"{IMAGE}:e2e-abc"


def test_sink_objects_are_labelled_and_outside_the_bootstrap_set(
    objects: list[dict[str, Any]],
) -> None:
    sink_objects = [obj for obj in objects if obj["metadata"]["name"] == SINK]
    assert {obj["kind"] for obj in sink_objects} == {
        "ServiceAccount",
        "Service",
        "Deployment",
        "NetworkPolicy",
    }
    for obj in sink_objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "kfp-mlops-suite"
        # kind-up.sh applies serving-access objects before any model exists.
        assert labels["app.kubernetes.io/component"] != "serving-access"
    account = _one(objects, "ServiceAccount", SINK)
    assert account["automountServiceAccountToken"] is False
    deployment = _one(objects, "Deployment", SINK)
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == SINK

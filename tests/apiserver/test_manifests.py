"""Every overlay and every ``mlops manifest`` output, applied to a real kube-apiserver.

``kubectl apply --server-side --dry-run=server`` first (the server validates and
admits every object, KServe's CRD schema included, and stores nothing), then for real:
each object is then stored as rendered, no field pruned by a schema that does not know
it, and applying again changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube_apiserver import REPO_ROOT, KubeApiserver
from stand_in_registry import stand_in_registry

from mlops_suite.cli import main

pytestmark = pytest.mark.apiserver

OVERLAYS = sorted(
    path.name
    for path in (REPO_ROOT / "manifests" / "overlays").iterdir()
    if (path / "kustomization.yaml").is_file()
)


def render(kube: KubeApiserver, kustomization: Path) -> list[dict[str, Any]]:
    done = kube.kubectl("kustomize", str(kustomization))
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


Key = tuple[str, str, str | None, str]


def key(obj: dict[str, Any]) -> Key:
    metadata = obj["metadata"]
    return (obj["apiVersion"], obj["kind"], metadata.get("namespace"), metadata["name"])


def stored(kube: KubeApiserver, manifest: Path) -> dict[Key, dict[str, Any]]:
    """The objects of ``manifest`` the server holds now, by key."""
    done = kube.kubectl(
        "get",
        "-f",
        str(manifest),
        "-o",
        "json",
        "--ignore-not-found",
        "--show-managed-fields",
    )
    if not done.stdout.strip():
        return {}
    listed = json.loads(done.stdout)
    return {key(o): o for o in listed.get("items", [listed])}


def versions(objects: dict[Key, dict[str, Any]]) -> dict[Key, str]:
    return {k: o["metadata"]["resourceVersion"] for k, o in objects.items()}


def missing_fields(live: Any, wanted: Any, path: str = "") -> list[str]:
    """Paths of ``wanted`` that ``live`` lacks or holds differently (defaults aside)."""
    if isinstance(wanted, dict):
        if not isinstance(live, dict):
            return [path or "."]
        return [
            miss
            for name, value in wanted.items()
            for miss in missing_fields(live.get(name), value, f"{path}.{name}")
        ]
    if isinstance(wanted, list):
        if not isinstance(live, list) or len(live) != len(wanted):
            return [path]
        return [
            miss
            for i, (got, value) in enumerate(zip(live, wanted, strict=True))
            for miss in missing_fields(got, value, f"{path}[{i}]")
        ]
    return [] if live == wanted else [path]


def apply_and_check(kube: KubeApiserver, manifest: Path) -> list[dict[str, Any]]:
    """Dry-run, apply and re-apply ``manifest``; return the objects as stored."""
    objects = [doc for doc in yaml.safe_load_all(manifest.read_text()) if doc]
    # A server dry run admits nothing into a namespace that does not exist yet, so
    # the namespaces come first: those the manifest creates (applied as they are) and
    # those the cluster provides (kubeflow comes with Kubeflow Pipelines).
    own = [o for o in objects if o["kind"] == "Namespace"]
    if own:
        kube.kubectl("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(own))
    created_here = {o["metadata"]["name"] for o in own}
    for namespace in {o["metadata"].get("namespace") for o in objects} - {None}:
        if namespace not in created_here:
            kube.kubectl("create", "namespace", namespace, check=False)

    before = versions(stored(kube, manifest))
    dry = kube.kubectl(
        "apply", "--server-side", "--dry-run=server", "-f", str(manifest)
    )
    assert dry.stdout.count("(server dry run)") == len(objects), dry.stdout
    assert versions(stored(kube, manifest)) == before, "a dry run stored something"

    kube.kubectl("apply", "--server-side", "-f", str(manifest))
    live = stored(kube, manifest)
    for obj in objects:
        got = live.get(key(obj))
        assert got is not None, f"{key(obj)} was not stored"
        lost = missing_fields(got, {k: v for k, v in obj.items() if k != "status"})
        assert not lost, f"{key(obj)} was stored without {lost}"

    kube.kubectl("apply", "--server-side", "-f", str(manifest))
    assert versions(stored(kube, manifest)) == versions(live), (
        "applying the same manifest again changed an object"
    )
    return [live[key(obj)] for obj in objects]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_is_admitted_and_stored_as_rendered(
    kube: KubeApiserver, overlay: str, tmp_path: Path
) -> None:
    objects = render(kube, REPO_ROOT / "manifests" / "overlays" / overlay)
    manifest = tmp_path / f"{overlay}.yaml"
    manifest.write_text(yaml.safe_dump_all(objects), encoding="utf-8")

    live = apply_and_check(kube, manifest)

    (isvc,) = [o for o in live if o["kind"] == "InferenceService"]
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1"
    managers = {entry["manager"] for entry in isvc["metadata"]["managedFields"]}
    assert managers == {"kubectl"}


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    """A registry whose champion is penguins v2 (no model files)."""
    return stand_in_registry(tmp_path / "registry")


@pytest.mark.parametrize(
    ("overlay", "storage"),
    [("kind", "s3://mlpipeline/registry"), ("gke", "gs://team-bucket/registry")],
)
def test_every_mlops_manifest_output_is_admitted_and_stored_as_rendered(
    kube: KubeApiserver, overlay: str, storage: str, registry: Path, tmp_path: Path
) -> None:
    assert overlay in OVERLAYS
    out = tmp_path / "deploy"
    code = main(
        [
            "manifest",
            "--registry",
            str(registry),
            "--model-name",
            "penguins",
            "--storage-uri",
            storage,
            "--overlay",
            overlay,
            "--output",
            str(out),
        ]
    )
    assert code == 0
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(yaml.safe_dump_all(render(kube, out)), encoding="utf-8")

    live = apply_and_check(kube, manifest)

    (isvc,) = [o for o in live if o["kind"] == "InferenceService"]
    assert isvc["metadata"]["name"] == "penguins"
    assert isvc["spec"]["predictor"]["model"]["storageUri"] == f"{storage}/penguins/v2"

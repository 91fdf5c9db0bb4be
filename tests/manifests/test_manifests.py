"""write_overlay pins an overlay's InferenceService to one registered model version."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import crd
import pytest
import yaml
from stand_in_registry import stand_in_sha256

from mlops_suite.errors import MlopsError, RegistryError, ServingError
from mlops_suite.serving.manifests import (
    MODEL_SHA256_ANNOTATION,
    MODEL_VERSION_LABEL,
    available_overlays,
    default_manifests_root,
    write_overlay,
)

Render = Callable[[Path], list[dict[str, Any]]]
KIND_STORAGE = "s3://mlpipeline/registry"


def _isvc(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (isvc,) = [obj for obj in objects if obj["kind"] == "InferenceService"]
    return isvc


def _write(registry: Path, out: Path, **overrides: Any) -> Path:
    arguments: dict[str, Any] = {
        "registry_uri": str(registry),
        "model_name": "penguins",
        "version": None,
        "storage_uri": KIND_STORAGE,
        "overlay": "kind",
        "output_dir": out,
    }
    arguments.update(overrides)
    return write_overlay(**arguments)


def test_the_repo_overlays_are_found_without_being_told() -> None:
    assert default_manifests_root() == Path(__file__).resolve().parents[2] / "manifests"
    assert {"kind", "gke"} <= set(available_overlays())


def test_the_champion_is_served_from_its_version_folder(
    registry: Path,
    tmp_path: Path,
    render: Render,
) -> None:
    out = _write(registry, tmp_path / "deploy")
    assert out == tmp_path / "deploy"

    objects = render(out)
    isvc = _isvc(objects)
    assert isvc["metadata"]["name"] == "penguins"
    assert (
        isvc["spec"]["predictor"]["model"]["storageUri"]
        == f"{KIND_STORAGE}/penguins/v2"
    )
    assert isvc["metadata"]["labels"][MODEL_VERSION_LABEL] == "v2"
    assert isvc["spec"]["predictor"]["labels"][MODEL_VERSION_LABEL] == "v2"
    assert isvc["metadata"]["annotations"][MODEL_SHA256_ANNOTATION] == stand_in_sha256(
        2
    )
    # The overlay's own settings survive the patches.
    assert (
        isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"]
        == "RawDeployment"
    )
    assert isvc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "kfp-mlops-suite"
    # Only the InferenceService is renamed; the access objects keep their names.
    names = {
        obj["metadata"]["name"] for obj in objects if obj["kind"] != "InferenceService"
    }
    assert names == {
        "kfp-mlops-model-storage",
        "kfp-mlops-isvc-deployer",
        "kfp-mlops-log-sink",
        "kfp-mlops-log-sink-object-store",
    }


def test_the_generated_inference_service_validates_against_the_crd(
    registry: Path,
    tmp_path: Path,
    render: Render,
) -> None:
    for overlay, storage in (("kind", KIND_STORAGE), ("gke", "gs://acme/registry")):
        out = _write(registry, tmp_path / overlay, overlay=overlay, storage_uri=storage)
        isvc = _isvc(render(out))
        crd.check_inference_service(isvc)


@pytest.mark.parametrize("overlay", ["kind", "gke"])
def test_predict_proba_sets_the_runtime_switch_and_stays_crd_valid(
    overlay: str, registry: Path, tmp_path: Path, render: Render
) -> None:
    storage = KIND_STORAGE if overlay == "kind" else "gs://acme/registry"
    out = _write(
        registry,
        tmp_path / overlay,
        overlay=overlay,
        storage_uri=storage,
        predict_proba=True,
    )
    isvc = _isvc(render(out))
    model = isvc["spec"]["predictor"]["model"]
    assert model["env"] == [{"name": "PREDICT_PROBA", "value": "true"}]
    # The overlay's own model settings survive next to the switch.
    assert model["storageUri"] == f"{storage}/penguins/v2"
    assert model["securityContext"]["readOnlyRootFilesystem"] is True
    crd.check_inference_service(isvc)
    plain = _isvc(
        render(
            _write(
                registry,
                tmp_path / f"{overlay}-plain",
                overlay=overlay,
                storage_uri=storage,
            )
        )
    )
    assert "env" not in plain["spec"]["predictor"]["model"]


def test_predict_proba_for_a_regression_model_is_refused_with_nothing_written(
    registry: Path, tmp_path: Path
) -> None:
    path = registry / "penguins" / "v1" / "metadata.json"
    metadata = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(
        json.dumps({**metadata, "task": "regression", "classes": None}),
        encoding="utf-8",
    )
    with pytest.raises(ServingError) as raised:
        _write(registry, tmp_path / "deploy", version=1, predict_proba=True)
    assert str(raised.value) == (
        "--predict-proba needs a classifier, but penguins v1 is a regression model: "
        "KServe's sklearn runtime would answer with plain predictions instead of "
        "class probabilities, so leave --predict-proba off for it."
    )
    assert not (tmp_path / "deploy").exists()


def test_an_explicit_version_wins_over_the_champion(
    registry: Path, tmp_path: Path, render: Render
) -> None:
    out = _write(
        registry, tmp_path / "deploy", version=1, storage_uri=KIND_STORAGE + "/"
    )
    isvc = _isvc(render(out))
    assert (
        isvc["spec"]["predictor"]["model"]["storageUri"]
        == f"{KIND_STORAGE}/penguins/v1"
    )
    assert isvc["metadata"]["annotations"][MODEL_SHA256_ANNOTATION] == stand_in_sha256(
        1
    )


def test_gke_in_another_namespace_keeps_its_canary_and_the_runner_binding(
    registry: Path, tmp_path: Path, render: Render
) -> None:
    out = _write(
        registry,
        tmp_path / "deploy",
        overlay="gke",
        storage_uri="gs://acme-mlops/registry",
        namespace="models",
    )
    objects = render(out)
    isvc = _isvc(objects)
    assert isvc["metadata"]["namespace"] == "models"
    assert (
        isvc["spec"]["predictor"]["model"]["storageUri"]
        == "gs://acme-mlops/registry/penguins/v2"
    )
    assert isvc["spec"]["predictor"]["canaryTrafficPercent"] == 10
    (binding,) = [obj for obj in objects if obj["kind"] == "RoleBinding"]
    assert binding["metadata"]["namespace"] == "models"
    assert binding["subjects"][0]["namespace"] == "kubeflow"


@pytest.mark.parametrize(
    ("overlay", "storage", "logs"),
    [
        ("kind", KIND_STORAGE, "s3://mlpipeline/kserve-logs"),
        ("gke", "gs://acme/registry", "gs://acme-logs/served"),
    ],
)
def test_log_storage_has_kserve_write_the_traffic_and_leaves_the_sink_out(
    overlay: str,
    storage: str,
    logs: str,
    registry: Path,
    tmp_path: Path,
    render: Render,
) -> None:
    write = {"overlay": overlay, "storage_uri": storage}
    objects = render(_write(registry, tmp_path / overlay, log_storage=logs, **write))
    isvc = _isvc(objects)
    predictor = isvc["spec"]["predictor"]
    scheme = logs.split("://")[0]
    assert predictor["logger"] == {
        "mode": "all",
        "url": logs,
        "storage": {
            "parameters": {"type": scheme, "format": "json"},
            "serviceAccountName": predictor["serviceAccountName"],
        },
    }
    # The strict check: every field is one the API server keeps.
    crd.check_inference_service(isvc)
    assert "kfp-mlops-suite.io/request-logger" not in predictor["labels"]
    assert predictor["labels"][MODEL_VERSION_LABEL] == "v2"
    assert predictor["model"]["storageUri"] == f"{storage}/penguins/v2"
    # Nothing posts to the sink, so no sink runs and no policy admits anyone to it.
    sink = [
        obj
        for obj in objects
        if "log-sink" in json.dumps(obj["metadata"])
        or obj["kind"] in ("Deployment", "Service")
    ]
    assert sink == []
    kinds = {obj["kind"] for obj in objects}
    assert kinds >= {"InferenceService", "ServiceAccount", "Role", "RoleBinding"}
    with_sink = render(_write(registry, tmp_path / f"{overlay}-sink", **write))
    assert any(obj["kind"] == "Deployment" for obj in with_sink)


def test_the_written_file_is_a_plain_kustomization(
    registry: Path, tmp_path: Path
) -> None:
    """Checked without kubectl: the file alone must say what is served."""
    out = _write(registry, tmp_path / "deploy")
    text = (out / "kustomization.yaml").read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    assert document["kind"] == "Kustomization"
    (resource,) = document["resources"]
    assert (
        out / resource
    ).resolve() == default_manifests_root().resolve() / "overlays" / "kind"
    assert f"{KIND_STORAGE}/penguins/v2" in text
    assert "latest" not in text


def test_rewriting_replaces_only_the_kustomization(
    registry: Path, tmp_path: Path
) -> None:
    out = tmp_path / "deploy"
    out.mkdir()
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    _write(registry, out, version=1)
    _write(registry, out, version=2)
    assert (out / "notes.txt").read_text(encoding="utf-8") == "keep me"
    assert sorted(p.name for p in out.iterdir()) == ["kustomization.yaml", "notes.txt"]
    assert "/penguins/v2" in (out / "kustomization.yaml").read_text(encoding="utf-8")


def test_a_missing_version_is_a_registry_error(registry: Path, tmp_path: Path) -> None:
    with pytest.raises(
        RegistryError, match=r"'penguins' has no version 7 .*versions 1, 2\."
    ):
        _write(registry, tmp_path / "deploy", version=7)
    assert not (tmp_path / "deploy").exists()


def test_no_champion_is_a_registry_error(registry: Path, tmp_path: Path) -> None:
    (registry / "penguins" / "champion.json").unlink()
    with pytest.raises(RegistryError, match="has no champion .*pass a version"):
        _write(registry, tmp_path / "deploy")


def test_metadata_from_another_version_is_refused(
    registry: Path, tmp_path: Path
) -> None:
    path = registry / "penguins" / "v1" / "metadata.json"
    metadata = json.loads(path.read_text(encoding="utf-8"))
    metadata["version"] = 2
    path.write_text(json.dumps(metadata), encoding="utf-8")
    with pytest.raises(RegistryError, match="records version 2 but sits in folder v1"):
        _write(registry, tmp_path / "deploy", version=1)


def test_metadata_without_a_model_hash_is_refused(
    registry: Path, tmp_path: Path
) -> None:
    path = registry / "penguins" / "v1" / "metadata.json"
    metadata = json.loads(path.read_text(encoding="utf-8"))
    del metadata["model_sha256"]
    path.write_text(json.dumps(metadata), encoding="utf-8")
    with pytest.raises(RegistryError, match="no valid model_sha256"):
        _write(registry, tmp_path / "deploy", version=1)


def test_an_unknown_overlay_names_the_known_ones(
    registry: Path, tmp_path: Path
) -> None:
    with pytest.raises(
        MlopsError, match="unknown overlay 'aks'; expected one of gke, kind"
    ):
        _write(registry, tmp_path / "deploy", overlay="aks")


def test_a_folder_without_overlays_asks_for_manifests_root(
    registry: Path, tmp_path: Path
) -> None:
    with pytest.raises(MlopsError, match="pass manifests_root="):
        _write(registry, tmp_path / "deploy", manifests_root=tmp_path / "nowhere")


def test_an_unwritable_output_dir_is_one_sentence(
    registry: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(
        MlopsError, match="cannot write .*choose a writable output folder"
    ):
        _write(registry, blocker / "deploy")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model_name": "Penguins_v2"}, "'Penguins_v2' cannot name a model"),
        ({"model_name": "m" * 54}, "54 characters long, over the limit of 53"),
        ({"storage_uri": "/data/registry"}, "has no scheme"),
        ({"namespace": "Bad_NS"}, "not a valid Kubernetes namespace"),
        ({"version": 0}, "expected 1 or more"),
        ({"log_storage": "http://kfp-mlops-log-sink/"}, "not a bucket KServe's"),
        (
            {"log_storage": "s3://logs", "logs_uri": "s3://mlpipeline/logs"},
            "leave the logs URI out",
        ),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_read(
    registry: Path, tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(MlopsError, match=message):
        _write(registry, tmp_path / "deploy", **overrides)
    assert not (tmp_path / "deploy").exists()

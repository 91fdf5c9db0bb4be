"""``mlops manifest --format onnx``: a version's ONNX export in KServe's onnx format."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import crd
import pytest
from stand_in_registry import stand_in_sha256

from mlops_suite.cli import main
from mlops_suite.serving.manifests import (
    MODEL_SHA256_ANNOTATION,
    ONNX_SHA256_ANNOTATION,
)

Render = Callable[[Path], list[dict[str, Any]]]
ONNX_SHA = "c" * 64


@pytest.fixture
def exported(registry: Path) -> Path:
    """The conftest registry, with v2 recording an ONNX export."""
    path = registry / "penguins" / "v2" / "metadata.json"
    metadata = json.loads(path.read_text(encoding="utf-8"))
    metadata["onnx"] = {
        "path": "onnx/penguins/2/model.onnx",
        "sha256": ONNX_SHA,
        "triton_model_name": "penguins",
    }
    path.write_text(json.dumps(metadata), encoding="utf-8")
    return registry


def _manifest(
    registry: Path, out: Path, overlay: str, storage: str, *extra: str
) -> int:
    return main(
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
            "--format",
            "onnx",
            *extra,
        ]
    )


@pytest.mark.parametrize(
    ("overlay", "storage"),
    [("kind", "s3://mlpipeline/registry"), ("gke", "gs://acme/registry")],
)
def test_the_onnx_export_is_served_by_kserves_onnx_format(
    overlay: str,
    storage: str,
    exported: Path,
    tmp_path: Path,
    render: Render,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "deploy"
    assert _manifest(exported, out, overlay, storage) == 0
    assert "/v2/models/penguins/infer" in capsys.readouterr().out
    objects = render(out)
    (isvc,) = [o for o in objects if o["kind"] == "InferenceService"]
    crd.check_inference_service(isvc)

    model = isvc["spec"]["predictor"]["model"]
    assert model["modelFormat"] == {"name": "onnx"}
    assert model["protocolVersion"] == "v2"
    # The Triton model repository of the champion's version, never a moving alias.
    assert model["storageUri"] == f"{storage}/penguins/v2/onnx"
    assert model["resources"]["requests"] == model["resources"]["limits"]
    assert model["resources"]["limits"]["memory"] == "1Gi"
    annotations = isvc["metadata"]["annotations"]
    assert annotations[ONNX_SHA256_ANNOTATION] == ONNX_SHA
    assert annotations[MODEL_SHA256_ANNOTATION] == stand_in_sha256(2)
    # The sink still names its columns from the version's metadata.
    (sink,) = [o for o in objects if o["kind"] == "Deployment"]
    args = sink["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[1] == f"--metadata={storage}/penguins/v2/metadata.json"


def test_a_version_without_an_export_is_one_sentence(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "deploy"
    code = _manifest(
        registry, out, "kind", "s3://mlpipeline/registry", "--version", "1"
    )
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "penguins v1 has no ONNX export" in err and "mlops export onnx" in err
    assert not (out / "kustomization.yaml").exists()


def test_the_sklearn_format_stays_the_default(
    exported: Path, tmp_path: Path, render: Render
) -> None:
    out = tmp_path / "deploy"
    code = main(
        [
            "manifest",
            "--registry",
            str(exported),
            "--model-name",
            "penguins",
            "--storage-uri",
            "s3://mlpipeline/registry",
            "--overlay",
            "kind",
            "--output",
            str(out),
        ]
    )
    assert code == 0
    (isvc,) = [o for o in render(out) if o["kind"] == "InferenceService"]
    model = isvc["spec"]["predictor"]["model"]
    assert model["modelFormat"] == {"name": "sklearn"}
    assert model["storageUri"] == "s3://mlpipeline/registry/penguins/v2"
    assert "protocolVersion" not in model
    assert ONNX_SHA256_ANNOTATION not in isvc["metadata"]["annotations"]

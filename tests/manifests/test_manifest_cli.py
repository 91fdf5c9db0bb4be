"""``mlops manifest``: a kustomization that serves exactly one registered version."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import crd
import pytest
from stand_in_registry import SHA, stand_in_registry

from mlops_suite.cli import main

# The `render` fixture of conftest.py: kubectl kustomize, parsed.
Render = Callable[[Path], list[dict[str, Any]]]


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    """A registry whose champion is penguins v2 (no model files)."""
    return stand_in_registry(tmp_path / "registry")


def _manifest(
    registry: Path, out: Path, storage: str, *extra: str, overlay: str = "kind"
) -> int:
    """``mlops manifest`` for penguins, rendered into ``out``."""
    return main(
        [
            *["manifest", "--registry", str(registry), "--model-name", "penguins"],
            *["--storage-uri", storage, "--overlay", overlay, "--output", str(out)],
            *extra,
        ]
    )


def _one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


@pytest.mark.parametrize("overlay", ["kind", "gke"])
def test_the_champion_and_its_sink_are_pinned_to_one_version(
    overlay: str, registry: Path, tmp_path: Path, render: Render
) -> None:
    scheme = "s3://mlpipeline" if overlay == "kind" else "gs://team-bucket"
    out = tmp_path / "deploy"
    code = _manifest(registry, out, f"{scheme}/registry", overlay=overlay)
    assert code == 0
    objects = render(out)
    isvc = _one(objects, "InferenceService")
    assert isvc["metadata"]["name"] == "penguins"
    served = f"{scheme}/registry/penguins/v2"
    assert isvc["spec"]["predictor"]["model"]["storageUri"] == served
    assert isvc["metadata"]["annotations"]["kfp-mlops-suite.io/model-sha256"] == SHA
    (sink,) = _one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert sink["args"][:2] == [
        f"--output={scheme}/logs/penguins/",
        f"--metadata={served}/metadata.json",
    ]


def test_a_missing_version_is_one_sentence(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _manifest(
        registry, tmp_path / "deploy", "s3://mlpipeline/registry", "--version", "7"
    )
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "version 7" in err
    assert not (tmp_path / "deploy" / "kustomization.yaml").exists()


def test_predict_proba_serves_class_probabilities(
    registry: Path, tmp_path: Path, render: Render
) -> None:
    metadata = registry / "penguins" / "v2" / "metadata.json"
    recorded = json.loads(metadata.read_text())
    metadata.write_text(json.dumps({**recorded, "task": "classification"}))
    out = tmp_path / "deploy"
    code = _manifest(registry, out, "s3://mlpipeline/registry", "--predict-proba")
    assert code == 0
    isvc = _one(render(out), "InferenceService")
    env = isvc["spec"]["predictor"]["model"]["env"]
    assert env == [{"name": "PREDICT_PROBA", "value": "true"}]
    crd.check_inference_service(isvc)


def test_predict_proba_without_a_recorded_task_is_one_sentence(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _manifest(
        registry, tmp_path / "deploy", "s3://mlpipeline/registry", "--predict-proba"
    )
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "penguins v2 is a model whose metadata.json has no task" in err
    assert not (tmp_path / "deploy").exists()


def test_a_model_file_changed_since_registration_is_refused(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (registry / "penguins" / "v2" / "model.joblib").write_bytes(b"another model")
    out = tmp_path / "deploy"
    code = _manifest(registry, out, "s3://mlpipeline/registry")
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "sha256" in err and "v2" in err
    assert not out.exists()


def test_log_storage_renders_kserves_own_logger_without_the_sink(
    registry: Path, tmp_path: Path, render: Render
) -> None:
    out = tmp_path / "deploy"
    code = _manifest(
        registry,
        out,
        "s3://mlpipeline/registry",
        "--log-storage",
        "s3://mlpipeline/kserve-logs",
    )
    assert code == 0
    objects = render(out)
    isvc = _one(objects, "InferenceService")
    logger = isvc["spec"]["predictor"]["logger"]
    assert logger["url"] == "s3://mlpipeline/kserve-logs"
    assert logger["storage"]["parameters"] == {"type": "s3", "format": "json"}
    crd.check_inference_service(isvc)
    assert not [o for o in objects if o["kind"] == "Deployment"]


def test_log_storage_and_a_sink_output_are_refused_together(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        _manifest(
            registry,
            tmp_path / "deploy",
            "s3://mlpipeline/registry",
            *["--log-storage", "s3://logs", "--logs-uri", "s3://mlpipeline/logs"],
        )
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert not (tmp_path / "deploy").exists()

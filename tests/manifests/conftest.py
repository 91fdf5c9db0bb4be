"""Fixtures for the manifest tests: render with kubectl, and a small registry.

Rendering needs ``kubectl`` (its built-in kustomize); tests that need it are skipped,
with the reason, when it is missing. The CRD check is ``crd.py`` in ``tests/support``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from stand_in_registry import stand_in_model, stand_in_sha256

REPO_ROOT = Path(__file__).resolve().parents[2]

Render = Callable[[Path], list[dict[str, Any]]]


@pytest.fixture(scope="session")
def render() -> Render:
    """Build a kustomization with ``kubectl kustomize`` and return its objects."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed, so kustomizations cannot be rendered")
    cache: dict[Path, list[dict[str, Any]]] = {}

    def _render(path: Path) -> list[dict[str, Any]]:
        key = path.resolve()
        if key not in cache:
            done = subprocess.run(
                [kubectl, "kustomize", str(key)],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, (
                f"kubectl kustomize {path} failed:\n{done.stderr}"
            )
            cache[key] = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
        # A copy per caller, so a test that edits an object cannot leak into another.
        return json.loads(json.dumps(cache[key]))

    return _render


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Path]:
    """A registry laid out per CONTRACTS.md: penguins v1 and v2, v2 the champion."""
    root = tmp_path / "registry"
    for version in (1, 2):
        folder = root / "penguins" / f"v{version}"
        folder.mkdir(parents=True)
        (folder / "model.joblib").write_bytes(stand_in_model(version))
        digest = stand_in_sha256(version)
        metadata = {
            "features": [{"name": "bill_length_mm", "type": "numeric"}],
            "label": "species",
            "task": "classification",
            "classes": ["Adelie", "Chinstrap", "Gentoo"],
            "estimator": "random_forest",
            "hyperparameters": {},
            "seed": 0,
            "sklearn_version": "1.5.2",
            "data_sha256": "d" * 64,
            "model_sha256": digest,
            "version": version,
            "lineage": {"model_sha256": digest},
        }
        (folder / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    champion = {
        "version": 2,
        "model_sha256": stand_in_sha256(2),
        "updated_at": "2026-11-23T00:00:00Z",
    }
    (root / "penguins" / "champion.json").write_text(
        json.dumps(champion), encoding="utf-8"
    )
    yield root

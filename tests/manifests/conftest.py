"""Fixtures for the manifest tests: render with kubectl, validate against KServe's CRD.

Rendering needs ``kubectl`` (its built-in kustomize); validation needs the KServe CRDs
kept beside the repository in ``../shared/schemas/kserve``. Tests that need either are
skipped, with the reason, when it is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
KSERVE_SCHEMAS = REPO_ROOT.parent / "shared" / "schemas" / "kserve"
ISVC_CRD = "serving.kserve.io_inferenceservices.yaml"

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


@pytest.fixture(scope="session")
def isvc_validators() -> dict[str, jsonschema.protocols.Validator]:
    """A validator for the InferenceService schema of every served CRD version.

    The schema is found under ``spec.versions[].schema.openAPIV3Schema`` of the CRD.
    The validators are built once: the CRD is about 2 MB of YAML.
    """
    crd_file = KSERVE_SCHEMAS / ISVC_CRD
    if not crd_file.is_file():
        pytest.skip(
            f"KServe CRD schemas not found at {crd_file} (../shared/schemas/kserve)"
        )
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load(crd_file.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506
    validators = {}
    for version in crd["spec"]["versions"]:
        if version.get("served", True):
            schema = version["schema"]["openAPIV3Schema"]
            validators[version["name"]] = jsonschema.validators.validator_for(schema)(
                schema
            )
    return validators


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Path]:
    """A registry laid out per CONTRACTS.md: penguins v1 and v2, v2 the champion."""
    root = tmp_path / "registry"
    for version, digest in ((1, "1" * 64), (2, "2" * 64)):
        folder = root / "penguins" / f"v{version}"
        folder.mkdir(parents=True)
        (folder / "model.joblib").write_bytes(b"not a real model")
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
        "model_sha256": "2" * 64,
        "updated_at": "2026-11-23T00:00:00Z",
    }
    (root / "penguins" / "champion.json").write_text(
        json.dumps(champion), encoding="utf-8"
    )
    yield root

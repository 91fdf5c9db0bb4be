"""A registry as `mlops manifest` reads it, with no trained model: the manifest tests'.

Each version holds ``metadata.json`` with the fields the registry requires (a version
and a model sha256) and a ``model.joblib`` of stand-in bytes that sha256 names, so
the manifest's hash check passes and a test of rendering does not train a model.
Tests that load the model register a real one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

MODEL_BYTES = b"stand-in for a model file; never loaded"
SHA = hashlib.sha256(MODEL_BYTES).hexdigest()


def stand_in_model(version: int) -> bytes:
    """The bytes of version ``version``'s model file: not a model, never loaded."""
    return f"stand-in model file of v{version}".encode()


def stand_in_sha256(version: int) -> str:
    """The sha256 the registry records for :func:`stand_in_model`."""
    return hashlib.sha256(stand_in_model(version)).hexdigest()


def stand_in_registry(
    root: Path, name: str = "penguins", champion: int = 2, onnx_sha256: str = ""
) -> Path:
    """Writes versions 1 to ``champion`` of ``name`` under ``root``.

    Args:
        root: The registry folder to create.
        name: The model name.
        champion: The highest version, made champion.
        onnx_sha256: When given, every version records an ONNX export with this
            hash (the file itself is not written: the manifest only names it).

    Returns:
        ``root``.
    """
    for version in range(1, champion + 1):
        folder = root / name / f"v{version}"
        folder.mkdir(parents=True)
        metadata: dict[str, object] = {"version": version, "model_sha256": SHA}
        if onnx_sha256:
            metadata["onnx"] = {
                "path": f"onnx/{name}/{version}/model.onnx",
                "sha256": onnx_sha256,
                "triton_model_name": name,
            }
        (folder / "metadata.json").write_text(json.dumps(metadata))
        (folder / "model.joblib").write_bytes(MODEL_BYTES)
    pointer = {
        "version": champion,
        "model_sha256": SHA,
        "updated_at": "2026-11-23T00:00:00Z",
    }
    (root / name / "champion.json").write_text(json.dumps(pointer))
    return root


if __name__ == "__main__":
    # scripts/checkov-manifests.sh: python stand_in_registry.py ROOT [ONNX_SHA256]
    import sys

    stand_in_registry(Path(sys.argv[1]), champion=1, onnx_sha256=sys.argv[2])

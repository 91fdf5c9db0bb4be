"""A registry as `mlops manifest` reads it, without model files: the manifest tests'.

Only ``metadata.json`` per version and ``champion.json`` are written, with the fields
the registry requires of them (a version and a model sha256), so a test of rendering
does not train a model. Tests that need the model file itself register a real one.
"""

from __future__ import annotations

import json
from pathlib import Path

SHA = "ab" * 32


def stand_in_registry(root: Path, name: str = "penguins", champion: int = 2) -> Path:
    """Writes versions 1 to ``champion`` of ``name`` under ``root``.

    Args:
        root: The registry folder to create.
        name: The model name.
        champion: The highest version, made champion.

    Returns:
        ``root``.
    """
    for version in range(1, champion + 1):
        folder = root / name / f"v{version}"
        folder.mkdir(parents=True)
        metadata = {"version": version, "model_sha256": SHA}
        (folder / "metadata.json").write_text(json.dumps(metadata))
    pointer = {
        "version": champion,
        "model_sha256": SHA,
        "updated_at": "2026-11-23T00:00:00Z",
    }
    (root / name / "champion.json").write_text(json.dumps(pointer))
    return root

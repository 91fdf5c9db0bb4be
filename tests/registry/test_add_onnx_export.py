"""ModelRegistry.add_onnx_export: the one change a published version accepts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fsspec
import pytest

from mlops_suite.errors import ModelIntegrityError, RegistryError
from mlops_suite.registry import ModelRegistry

FILES = {"m/1/model.onnx": b"onnx bytes", "m/config.pbtxt": b'name: "m"\n'}
RECORD = {"path": "onnx/m/1/model.onnx", "sha256": "ab" * 32}


def _registered(tmp_path: Path, make_model_folder: Callable[..., Path]) -> Any:
    registry = ModelRegistry(tmp_path / "registry")
    registry.register("m", make_model_folder(), lineage={})
    return registry, tmp_path / "registry" / "m" / "v1"


def test_files_are_written_then_the_metadata_records_them(
    tmp_path: Path, make_model_folder: Callable[..., Path]
) -> None:
    registry, version_dir = _registered(tmp_path, make_model_folder)
    before = registry.metadata("m", 1)
    registry.add_onnx_export("m", 1, FILES, RECORD)
    assert (version_dir / "onnx/m/1/model.onnx").read_bytes() == b"onnx bytes"
    assert (version_dir / "onnx/m/config.pbtxt").read_bytes() == b'name: "m"\n'
    after = registry.metadata("m", 1)
    assert after == {**before, "onnx": RECORD}
    # The model file's hash check is intact: reading the version verifies it.
    registry.local_path("m", 1)
    assert registry.fetch("m", 1, dest=tmp_path / "copy")


def test_an_export_is_written_once(
    tmp_path: Path, make_model_folder: Callable[..., Path]
) -> None:
    registry, version_dir = _registered(tmp_path, make_model_folder)
    registry.add_onnx_export("m", 1, FILES, RECORD)
    metadata = (version_dir / "metadata.json").read_bytes()
    with pytest.raises(RegistryError, match="already has its export"):
        registry.add_onnx_export("m", 1, {"m/1/model.onnx": b"other"}, {"x": 1})
    assert (version_dir / "metadata.json").read_bytes() == metadata
    assert (version_dir / "onnx/m/1/model.onnx").read_bytes() == b"onnx bytes"


@pytest.mark.parametrize(
    "path", ["../model.onnx", "m/../../escape", "/abs/model.onnx", "m/model.joblib"]
)
def test_paths_stay_inside_onnx_and_never_look_like_a_model_file(
    path: str, tmp_path: Path, make_model_folder: Callable[..., Path]
) -> None:
    registry, version_dir = _registered(tmp_path, make_model_folder)
    with pytest.raises(RegistryError, match="must stay in onnx/"):
        registry.add_onnx_export("m", 1, {path: b"x"}, RECORD)
    assert not (version_dir / "onnx").exists()
    assert "onnx" not in registry.metadata("m", 1)


def test_a_changed_model_file_is_refused_before_anything_is_written(
    tmp_path: Path, make_model_folder: Callable[..., Path]
) -> None:
    registry, version_dir = _registered(tmp_path, make_model_folder)
    (version_dir / "model.joblib").write_bytes(b"tampered")
    with pytest.raises(ModelIntegrityError):
        registry.add_onnx_export("m", 1, FILES, RECORD)
    assert not (version_dir / "onnx").exists()


def test_a_failed_metadata_write_removes_the_files(
    tmp_path: Path,
    make_model_folder: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry, version_dir = _registered(tmp_path, make_model_folder)
    metadata = (version_dir / "metadata.json").read_bytes()
    store = registry._store
    replace = store.replace_file

    def failing(data: bytes, *parts: str) -> None:
        if parts[-1] == "metadata.json":
            raise OSError(28, "No space left on device")
        replace(data, *parts)

    monkeypatch.setattr(store, "replace_file", failing)
    with pytest.raises(RegistryError, match="No space left"):
        registry.add_onnx_export("m", 1, FILES, RECORD)
    assert not [p for p in (version_dir / "onnx").rglob("*") if p.is_file()]
    assert (version_dir / "metadata.json").read_bytes() == metadata


def test_an_object_store_registry_takes_the_export_too(
    memory_registry_uri: str, make_model_folder: Callable[..., Path]
) -> None:
    registry = ModelRegistry(memory_registry_uri)
    registry.register("m", make_model_folder(), lineage={})
    registry.add_onnx_export("m", 1, FILES, RECORD)
    fs = fsspec.filesystem("memory")
    root = memory_registry_uri.removeprefix("memory://")
    assert fs.cat_file(f"/{root}/m/v1/onnx/m/1/model.onnx") == b"onnx bytes"
    metadata = json.loads(fs.cat_file(f"/{root}/m/v1/metadata.json"))
    assert metadata["onnx"] == RECORD
    assert registry.versions("m") == [1]


def test_an_unknown_version_is_one_sentence(
    tmp_path: Path, make_model_folder: Callable[..., Path]
) -> None:
    registry, _ = _registered(tmp_path, make_model_folder)
    with pytest.raises(RegistryError, match="has no version 4"):
        registry.add_onnx_export("m", 4, FILES, RECORD)

"""Files beside the model in a version folder (the calibrator), and extra metadata."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mlops_suite.artifacts import CALIBRATION_FILE, METADATA_FILE
from mlops_suite.errors import ModelFolderError, ModelIntegrityError, RegistryError
from mlops_suite.model_folder import find_model_file
from mlops_suite.registry import ModelRegistry

NAME = "demo"
CALIBRATION = json.dumps({"format": 1, "method": "identity"}).encode()


@pytest.fixture(params=["local", "memory"])
def registry_uri(
    request: pytest.FixtureRequest, tmp_path: Path, memory_registry_uri: str
) -> str:
    return (
        str(tmp_path / "registry") if request.param == "local" else memory_registry_uri
    )


def test_a_companion_file_is_stored_recorded_and_read_back(
    registry_uri: str, make_model_folder: Callable[..., Path], tmp_path: Path
) -> None:
    registry = ModelRegistry(registry_uri)
    registry.register(
        NAME,
        make_model_folder(),
        lineage={},
        files={CALIBRATION_FILE: CALIBRATION},
        extra_metadata={"performance_reference": {"rows": 3}},
    )
    metadata = registry.metadata(NAME, 1)
    assert metadata["files"] == {
        CALIBRATION_FILE: hashlib.sha256(CALIBRATION).hexdigest()
    }
    assert metadata["performance_reference"] == {"rows": 3}
    assert registry.read_file(NAME, 1, CALIBRATION_FILE) == CALIBRATION
    # A fetched folder has it too, and still holds one model file for KServe.
    fetched = Path(registry.fetch(NAME, 1, tmp_path / "fetched"))
    assert (fetched / CALIBRATION_FILE).read_bytes() == CALIBRATION
    assert find_model_file(fetched).name == "model.joblib"


def test_a_changed_companion_file_is_refused(
    tmp_path: Path, make_model_folder: Callable[..., Path]
) -> None:
    registry = ModelRegistry(tmp_path / "registry")
    registry.register(
        NAME, make_model_folder(), lineage={}, files={CALIBRATION_FILE: CALIBRATION}
    )
    (tmp_path / "registry" / NAME / "v1" / CALIBRATION_FILE).write_bytes(b"{}")
    with pytest.raises(ModelIntegrityError, match="calibration.json does not match"):
        registry.read_file(NAME, 1, CALIBRATION_FILE)
    with pytest.raises(RegistryError, match="records no file 'card.md'"):
        registry.read_file(NAME, 1, "card.md")


@pytest.mark.parametrize(
    "name", ["calibrator.joblib", "model.pkl", METADATA_FILE, "a/b"]
)
def test_a_file_the_runtime_could_take_for_a_model_is_refused(
    tmp_path: Path, make_model_folder: Callable[..., Path], name: str
) -> None:
    registry = ModelRegistry(tmp_path / "registry")
    with pytest.raises(ModelFolderError, match="cannot sit beside the model"):
        registry.register(NAME, make_model_folder(), lineage={}, files={name: b"x"})
    assert registry.versions(NAME) == []


def test_extra_metadata_may_not_replace_what_the_registry_writes(
    tmp_path: Path, make_model_folder: Callable[..., Path]
) -> None:
    registry = ModelRegistry(tmp_path / "registry")
    with pytest.raises(RegistryError, match="would replace lineage"):
        registry.register(
            NAME, make_model_folder(), lineage={}, extra_metadata={"lineage": {}}
        )
    assert registry.versions(NAME) == []

"""The model folder: saving, finding, verifying, loading and describing it."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mlops_suite.artifacts import METADATA_FILE, MODEL_FILE
from mlops_suite.errors import ModelFolderError, ModelIntegrityError
from mlops_suite.model_folder import (
    LoadedModel,
    describe,
    find_model_file,
    load_model,
    save_model,
)

_X = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]])
_Y = np.array(["a", "b", "a", "b"])


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A model folder as training writes it, with a tiny fitted Pipeline."""
    pipeline = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())])
    model = LoadedModel(pipeline=pipeline.fit(_X, _Y), metadata={"label": "y"})
    return Path(save_model(model, tmp_path / "model"))


def _one_line(error: pytest.ExceptionInfo[Exception]) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_save_writes_the_model_and_metadata_recording_its_hash(folder: Path) -> None:
    assert sorted(p.name for p in folder.iterdir()) == [METADATA_FILE, MODEL_FILE]
    metadata = json.loads((folder / METADATA_FILE).read_text())
    sha = hashlib.sha256((folder / MODEL_FILE).read_bytes()).hexdigest()
    assert metadata == {"label": "y", "model_sha256": sha}

    loaded = load_model(folder)
    described = describe(folder)

    assert loaded.metadata == metadata
    assert list(loaded.pipeline.predict(_X)) == list(_Y)
    assert (described.model_file, described.model_sha256) == (folder / MODEL_FILE, sha)


def test_a_changed_model_file_is_refused_naming_both_hashes(folder: Path) -> None:
    expected = json.loads((folder / METADATA_FILE).read_text())["model_sha256"]
    with (folder / MODEL_FILE).open("ab") as handle:
        handle.write(b"\0")
    actual = hashlib.sha256((folder / MODEL_FILE).read_bytes()).hexdigest()

    for read in (load_model, describe):
        with pytest.raises(ModelIntegrityError) as caught:
            read(folder)
        message = _one_line(caught)
        assert str(folder / MODEL_FILE) in message
        assert expected[:12] in message and actual[:12] in message


def test_metadata_without_a_hash_cannot_vouch_for_the_model(folder: Path) -> None:
    (folder / METADATA_FILE).write_text(json.dumps({"label": "y"}))
    with pytest.raises(ModelIntegrityError, match="records no model_sha256") as caught:
        load_model(folder, require_metadata=False)
    assert str(folder / METADATA_FILE) in _one_line(caught)


def test_exactly_one_model_file_whatever_its_name(folder: Path) -> None:
    shutil.copy(folder / MODEL_FILE, folder / "old.pkl")
    with pytest.raises(ModelFolderError, match="holds 2 model files") as caught:
        load_model(folder)
    assert "old.pkl" in _one_line(caught) and MODEL_FILE in str(caught.value)
    with pytest.raises(ModelFolderError, match="already holds old.pkl"):
        save_model(LoadedModel(pipeline=None, metadata={}), folder)

    (folder / MODEL_FILE).unlink()
    assert find_model_file(folder) == folder / "old.pkl"
    (folder / "old.pkl").unlink()
    with pytest.raises(ModelFolderError, match=r"holds no \.joblib/\.pkl/\.pickle"):
        find_model_file(folder)


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelFolderError, match="does not exist") as caught:
        load_model(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in _one_line(caught)


def test_metadata_is_required_unless_the_caller_serves_like_kserve(
    folder: Path,
) -> None:
    (folder / METADATA_FILE).unlink()
    for read in (load_model, describe):
        with pytest.raises(ModelFolderError, match=f"lacks {METADATA_FILE}"):
            read(folder)

    plain = load_model(folder, require_metadata=False)

    assert plain.metadata == {}
    assert list(plain.pipeline.predict(_X)) == list(_Y)


@pytest.mark.parametrize(
    ("content", "complaint"),
    [("{not json", "is not readable JSON"), ("[1, 2]", "holds a JSON list")],
)
def test_unreadable_metadata_is_named(
    folder: Path, content: str, complaint: str
) -> None:
    (folder / METADATA_FILE).write_text(content)
    with pytest.raises(ModelFolderError, match=complaint) as caught:
        describe(folder)
    assert str(folder / METADATA_FILE) in _one_line(caught)


def test_a_file_joblib_cannot_read_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / MODEL_FILE).write_bytes(b"not a pickle")
    sha = hashlib.sha256(b"not a pickle").hexdigest()
    (broken / METADATA_FILE).write_text(json.dumps({"model_sha256": sha}))

    with pytest.raises(ModelFolderError, match="could not be loaded by joblib") as c:
        load_model(broken)
    assert str(broken / MODEL_FILE) in _one_line(c)

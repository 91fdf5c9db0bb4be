"""The model folder, the serving contract: one model file plus ``metadata.json``.

Training writes it, the registry copies it into ``<model>/v<N>/``, the serving runtime
and the evaluation read it; every one of them goes through this module, so they agree
on what a model folder is and fail with the same sentence when it is not one.

* **finding** follows KServe's stock sklearn runtime: the folder must hold exactly one
  regular file ending in ``.joblib``, ``.pkl`` or ``.pickle`` (any name; training
  writes ``model.joblib``); none or several stop the load;
* **verifying** compares that file's sha256 with the ``model_sha256`` recorded in
  ``metadata.json``, so a file changed after training is refused instead of used;
* **loading** is a plain ``joblib.load``, so a pickle that needs a class the runtime
  cannot import fails here exactly as it would in the pod.

A folder without ``metadata.json`` is still a model folder to KServe, which knows
nothing of metadata: :func:`load_model` accepts one when told ``require_metadata=False``
(what ``mlops serve`` does), while training, evaluation and the registry require it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import joblib

from mlops_suite.artifacts import METADATA_FILE, MODEL_FILE, MODEL_FILE_EXTENSIONS
from mlops_suite.atomic import write_bytes, write_json
from mlops_suite.errors import ModelFolderError, ModelIntegrityError

# zlib level 3: deterministic bytes (no timestamp), forests shrink several times.
_JOBLIB_COMPRESS = ("zlib", 3)
_HASH_PREFIX = 12
_CHUNK = 1 << 20
_ACCEPTED = "/".join(MODEL_FILE_EXTENSIONS)


class SavableModel(Protocol):
    """What :func:`save_model` writes: a fitted model and its metadata.

    :class:`mlops_suite.training.train.TrainedModel` is one.
    """

    pipeline: Any
    metadata: dict[str, Any]


@dataclass
class LoadedModel:
    """A model folder read back: the unpickled model and its metadata.

    Attributes:
        pipeline: The unpickled model (for this project, a scikit-learn Pipeline).
        metadata: The parsed ``metadata.json``; empty when the folder has none and
            none was required.
    """

    pipeline: Any
    metadata: dict[str, Any]


@dataclass(frozen=True)
class ModelFolder:
    """A verified model folder, described without unpickling its model.

    Attributes:
        path: The folder.
        model_file: Its one model file.
        metadata: The parsed ``metadata.json``.
        model_sha256: The model file's sha256, equal to the one the metadata records.
    """

    path: Path
    model_file: Path
    metadata: dict[str, Any]
    model_sha256: str


def save_model(model: SavableModel, out_dir: str | os.PathLike[str]) -> str:
    """Write ``model.joblib`` and ``metadata.json``, each atomically.

    The same fitted Pipeline always gives the same bytes, so the hash recorded as
    ``model_sha256`` (also set in ``model.metadata``) identifies the model.

    Args:
        model: The fitted model and its metadata, e.g. a
            :class:`~mlops_suite.training.train.TrainedModel`.
        out_dir: The model folder; created when missing.

    Returns:
        The model folder's path.

    Raises:
        ModelFolderError: The folder already holds another model file, which would
            leave KServe two models to choose from.
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    others = [path.name for path in _model_files(folder) if path.name != MODEL_FILE]
    if others:
        raise ModelFolderError(
            f"Model folder {folder} already holds {', '.join(others)}; a model "
            f"folder must hold exactly one model file ({MODEL_FILE})."
        )
    buffer = io.BytesIO()
    joblib.dump(model.pipeline, buffer, compress=_JOBLIB_COMPRESS)
    payload = buffer.getvalue()
    metadata = {**model.metadata, "model_sha256": hashlib.sha256(payload).hexdigest()}
    model_path = folder / MODEL_FILE
    write_bytes(model_path, payload)
    try:
        write_json(folder / METADATA_FILE, metadata)
    except BaseException:
        model_path.unlink(missing_ok=True)
        raise
    model.metadata.update(metadata)
    return str(folder)


def check_companion_name(name: str) -> None:
    """Check a file may sit beside the model in a model folder.

    A companion (the calibrator, a model card) is a plain file directly in the
    folder whose name cannot be taken for the model or its metadata: the stock
    runtime would refuse a second ``.joblib``/``.pkl``/``.pickle`` file.

    Args:
        name: The file name.

    Raises:
        ModelFolderError: The name is empty, hidden, holds a path separator, ends in
            a model file extension, or is ``metadata.json``.
    """
    if (
        not name
        or name.startswith(".")
        or "/" in name
        or "\\" in name
        or name.endswith(MODEL_FILE_EXTENSIONS)
        or name == METADATA_FILE
    ):
        raise ModelFolderError(
            f"{name!r} cannot sit beside the model in a model folder; expected a "
            f"plain file name that is not {METADATA_FILE} and does not end in "
            f"{_ACCEPTED}."
        )


def find_model_file(model_dir: str | os.PathLike[str]) -> Path:
    """Find the one model file KServe's sklearn runtime would load from a folder.

    Args:
        model_dir: The model folder.

    Returns:
        The path of the single ``.joblib``/``.pkl``/``.pickle`` file in the folder.

    Raises:
        ModelFolderError: The folder does not exist, or holds no model file or several.
    """
    folder = Path(model_dir)
    if not folder.is_dir():
        raise ModelFolderError(
            f"Model folder {folder} does not exist or is not a folder."
        )
    found = _model_files(folder)
    if not found:
        names = sorted(os.listdir(folder))
        listing = ", ".join(names) if names else "nothing"
        raise ModelFolderError(
            f"Model folder {folder} holds no {_ACCEPTED} file (found: {listing}), "
            "but KServe's sklearn runtime needs exactly one."
        )
    if len(found) > 1:
        listing = ", ".join(path.name for path in found)
        raise ModelFolderError(
            f"Model folder {folder} holds {len(found)} model files ({listing}), "
            f"but KServe's sklearn runtime refuses more than one {_ACCEPTED} file."
        )
    return found[0]


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Return the hex sha256 of a file, read in chunks.

    Args:
        path: The file to hash.

    Returns:
        The lowercase hex digest.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_metadata(model_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Read a model folder's ``metadata.json``.

    Args:
        model_dir: The model folder.

    Returns:
        The metadata, or None when the folder has no ``metadata.json`` (a plain
        KServe model folder).

    Raises:
        ModelFolderError: ``metadata.json`` exists but is not a JSON object.
    """
    path = Path(model_dir) / METADATA_FILE
    if not path.is_file():
        return None
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFolderError(f"{path} is not readable JSON ({exc}).") from None
    if not isinstance(metadata, dict):
        raise ModelFolderError(
            f"{path} holds a JSON {type(metadata).__name__}, expected an object."
        )
    return metadata


def verify_model_file(
    model_dir: str | os.PathLike[str], model_file: str | os.PathLike[str]
) -> dict[str, Any] | None:
    """Check a model file against the ``model_sha256`` in its folder's metadata.

    A folder without ``metadata.json`` is accepted as is (the stock runtime does not
    know about metadata); a folder with one must record the file's hash.

    Args:
        model_dir: The model folder.
        model_file: The model file found in it.

    Returns:
        The metadata that was checked against, or None when the folder has none, so
        a caller need not read ``metadata.json`` again.

    Raises:
        ModelIntegrityError: The metadata records no hash or a different one.
        ModelFolderError: ``metadata.json`` is not a JSON object.
    """
    metadata = read_metadata(model_dir)
    if metadata is not None:
        _check_sha256(
            Path(model_dir), Path(model_file), metadata, file_sha256(model_file)
        )
    return metadata


def describe(model_dir: str | os.PathLike[str]) -> ModelFolder:
    """Check a model folder completely, without unpickling its model.

    Args:
        model_dir: The model folder.

    Returns:
        Its model file, metadata and verified sha256.

    Raises:
        ModelFolderError: No model file or several, or ``metadata.json`` is missing
            or not a JSON object.
        ModelIntegrityError: The metadata records no hash or a different one.
    """
    folder = Path(model_dir)
    model_file = find_model_file(folder)
    metadata = _required_metadata(folder, model_file)
    actual = file_sha256(model_file)
    _check_sha256(folder, model_file, metadata, actual)
    return ModelFolder(
        path=folder, model_file=model_file, metadata=metadata, model_sha256=actual
    )


def load_model_file(model_file: str | os.PathLike[str]) -> Any:
    """Unpickle a model file with plain ``joblib.load``, as the stock runtime does.

    No hash is checked here: call :func:`verify_model_file` first, or use
    :func:`load_model`, which does both.

    Args:
        model_file: The model file, as found by :func:`find_model_file`.

    Returns:
        The unpickled model (for this project, a scikit-learn Pipeline).

    Raises:
        ModelFolderError: ``joblib.load`` failed (for example because the pickle
            needs a module the runtime cannot import).
    """
    return _unpickle(model_file, Path(model_file))


def load_model(
    model_dir: str | os.PathLike[str], *, require_metadata: bool = True
) -> LoadedModel:
    """Read a model folder the way KServe does, checking its hash first.

    The model file is read once: the bytes that are hashed are the bytes unpickled.

    Args:
        model_dir: A folder with exactly one ``.joblib``/``.pkl``/``.pickle`` file
            and ``metadata.json``.
        require_metadata: Refuse a folder without ``metadata.json``; when False such
            a folder is loaded unverified, as KServe's stock runtime would. A folder
            with metadata is always verified.

    Returns:
        The model and its metadata (empty when absent and not required).

    Raises:
        ModelFolderError: The folder is missing, holds zero or several model files,
            lacks a required ``metadata.json``, or ``joblib.load`` failed.
        ModelIntegrityError: The model file does not match its recorded hash.
    """
    folder = Path(model_dir)
    model_file = find_model_file(folder)
    metadata = (
        _required_metadata(folder, model_file)
        if require_metadata
        else read_metadata(folder)
    )
    payload = model_file.read_bytes()
    if metadata is not None:
        actual = hashlib.sha256(payload).hexdigest()
        _check_sha256(folder, model_file, metadata, actual)
    return LoadedModel(
        pipeline=_unpickle(io.BytesIO(payload), model_file),
        metadata=metadata or {},
    )


def _model_files(folder: Path) -> list[Path]:
    # Same rule as the stock runtime: every regular file (symlinks followed) whose
    # name ends in an accepted extension counts, whatever its name.
    return [
        folder / name
        for name in sorted(os.listdir(folder))
        if name.endswith(MODEL_FILE_EXTENSIONS) and (folder / name).is_file()
    ]


def _required_metadata(folder: Path, model_file: Path) -> dict[str, Any]:
    metadata = read_metadata(folder)
    if metadata is None:
        raise ModelFolderError(
            f"Model folder {folder} lacks {METADATA_FILE}, so {model_file.name} "
            "cannot be verified; expected a folder written by training."
        )
    return metadata


def _check_sha256(
    folder: Path, model_file: Path, metadata: dict[str, Any], actual: str
) -> None:
    metadata_path = folder / METADATA_FILE
    expected = metadata.get("model_sha256")
    if not isinstance(expected, str) or not expected.strip():
        raise ModelIntegrityError(
            f"{metadata_path} records no model_sha256, so {model_file.name} cannot "
            "be verified before it is used."
        )
    if actual != expected.strip().lower():
        raise ModelIntegrityError(
            f"{model_file} has sha256 {actual[:_HASH_PREFIX]}… but {metadata_path} "
            f"records {expected[:_HASH_PREFIX]}…; the file changed after training, "
            "so it is not used."
        )


def _unpickle(source: str | os.PathLike[str] | io.BytesIO, model_file: Path) -> Any:
    try:
        return joblib.load(source)
    except Exception as exc:  # any unpickling failure stops the load, as in the pod
        raise ModelFolderError(
            f"{model_file} could not be loaded by joblib "
            f"({type(exc).__name__}: {exc}); KServe's sklearn runtime fails the "
            "same way."
        ) from exc

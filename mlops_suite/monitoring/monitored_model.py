"""What monitoring knows of the served model: metadata, yardstick, calibrator.

Performance estimation needs more than the training profile drift compares with:
the performance reference recorded at registration (``performance_reference`` in
``metadata.json``), the calibrator stored beside the model (``calibration.json``),
and, when the log carries no class probabilities, the model itself to score the
rows. :class:`MonitoredModel` gathers them from a registered version
(:func:`from_registry`) or from a model folder on disk (:func:`from_metadata_file`),
and loads the model only if it is asked to.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_suite.artifacts import (
    CALIBRATION_FILE,
    CLASSIFICATION,
    MODEL_FILE_EXTENSIONS,
)
from mlops_suite.errors import DataError, ModelIntegrityError
from mlops_suite.monitoring.calibrator import Calibrator
from mlops_suite.monitoring.performance_reference import (
    REFERENCE_KEY,
    PerformanceReference,
)


@dataclass(frozen=True)
class MonitoredModel:
    """A model version as monitoring sees it.

    Attributes:
        metadata: Its ``metadata.json`` (features, task, classes, statistics).
        name: How messages name it, e.g. ``penguins v3``.
        reference: Its performance reference; None when registered without one.
        calibrator: Its calibrator; None for regression or when registered
            without one.
        folder: Opens a local model folder holding it, for a ``with`` block
            (downloaded first, and removed after, when the registry is remote); None
            when the model file is not at hand.
    """

    metadata: Mapping[str, Any]
    name: str
    reference: PerformanceReference | None = None
    calibrator: Calibrator | None = None
    folder: Callable[[], AbstractContextManager[str]] | None = None

    @property
    def task(self) -> str:
        """``classification`` or ``regression``."""
        return str(self.metadata.get("task", ""))

    @property
    def classes(self) -> list[Any]:
        """The classifier's classes, in the order of its probability columns."""
        return list(self.metadata.get("classes") or [])

    @property
    def features(self) -> list[dict[str, Any]]:
        """The features as ``{"name", "type"}``, in training order."""
        return list(self.metadata.get("features") or [])

    def load_pipeline(self) -> Any:
        """Load the model, its hash checked against the metadata.

        Returns:
            The fitted scikit-learn Pipeline.

        Raises:
            DataError: The model file is not at hand.
            ModelFolderError: The folder holds no single model file.
            ModelIntegrityError: The file does not match its recorded hash.
        """
        if self.folder is None:
            raise DataError(
                f"the model file of {self.name} is not at hand, so the rows cannot "
                "be scored; log proba_<class> columns or pass --registry."
            )
        # Imported here: joblib and scikit-learn load only when rows need scoring.
        from mlops_suite.model_folder import load_model

        with self.folder() as folder:
            return load_model(folder).pipeline


def from_registry(
    registry_uri: str, model_name: str, version: int, metadata: Mapping[str, Any]
) -> MonitoredModel:
    """A registered version, its calibrator read and checked now, its model later.

    Args:
        registry_uri: The model registry.
        model_name: The registered model's name.
        version: The version.
        metadata: That version's ``metadata.json``.

    Returns:
        The monitored model.

    Raises:
        RegistryError: The calibrator is recorded but cannot be read.
        ModelIntegrityError: The calibrator does not match its recorded hash.
        DataError: The reference or the calibrator is malformed.
    """
    from mlops_suite.registry import ModelRegistry

    registry = ModelRegistry(registry_uri)
    name = f"{model_name} v{version}"
    reference = _reference(metadata, name)
    calibrator = None
    if CALIBRATION_FILE in (metadata.get("files") or {}):
        data = registry.read_file(model_name, version, CALIBRATION_FILE)
        calibrator = _calibrator(data, f"{name}'s {CALIBRATION_FILE}")
    return MonitoredModel(
        metadata=metadata,
        name=name,
        reference=reference,
        calibrator=calibrator,
        folder=lambda: registry.local_copy(model_name, version),
    )


def from_metadata_file(path: str | os.PathLike[str]) -> MonitoredModel | None:
    """A model folder on disk, found by its ``metadata.json``.

    Args:
        path: A ``metadata.json`` (a version folder's, or a training output's).

    Returns:
        The monitored model; None when the file is not a model's metadata (e.g. a
        plain statistics profile). The calibrator is read from
        ``calibration.json`` beside it, checked against the hash the metadata
        records; the model file is used when the folder holds one.

    Raises:
        DataError: The file cannot be read, or the calibrator is malformed.
        ModelIntegrityError: The calibrator does not match its recorded hash.
    """
    source = Path(path)
    try:
        metadata = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read the metadata {source}: {exc}") from None
    if not isinstance(metadata, dict) or "task" not in metadata:
        return None
    folder = source.parent
    calibrator = None
    calibration = folder / CALIBRATION_FILE
    if metadata.get("task") == CLASSIFICATION and calibration.is_file():
        data = calibration.read_bytes()
        recorded = (metadata.get("files") or {}).get(CALIBRATION_FILE)
        if recorded and hashlib.sha256(data).hexdigest() != recorded:
            raise ModelIntegrityError(
                f"{calibration} does not match the sha256 {str(recorded)[:12]}… "
                f"{source} records; the file was changed, so it is not used."
            )
        calibrator = _calibrator(data, str(calibration))
    has_model = any(
        entry.name.endswith(MODEL_FILE_EXTENSIONS) for entry in folder.iterdir()
    )
    return MonitoredModel(
        metadata=metadata,
        name=str(folder),
        reference=_reference(metadata, str(source)),
        calibrator=calibrator,
        folder=(lambda: nullcontext(str(folder))) if has_model else None,
    )


def _reference(metadata: Mapping[str, Any], name: str) -> PerformanceReference | None:
    payload = metadata.get(REFERENCE_KEY)
    return PerformanceReference.from_dict(payload, name) if payload else None


def _calibrator(data: bytes, source: str) -> Calibrator:
    try:
        payload = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{source} is not valid JSON ({exc}).") from None
    return Calibrator.from_dict(payload, source)

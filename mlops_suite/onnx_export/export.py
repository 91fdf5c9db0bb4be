"""Export a registered version to ONNX: convert, check parity, record in the registry.

The order is what keeps a refused export harmless: the version is read (and its
model file verified), converted, and checked against the Pipeline on the test split
entirely outside the registry; only an export that passed is handed to
:meth:`~mlops_suite.registry.ModelRegistry.add_onnx_export`, which writes the files
and then, atomically, the version's metadata. A refused export leaves the version as
it was: no ``onnx/`` folder, the same ``metadata.json``.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from typing import Any

import onnxruntime
import pandas as pd
from skl2onnx import __version__ as SKL2ONNX_VERSION

from mlops_suite.artifacts import ONNX_FOLDER, ONNX_METADATA_KEY
from mlops_suite.errors import RegistryError
from mlops_suite.model_folder import load_model
from mlops_suite.onnx_export import triton
from mlops_suite.onnx_export.convert import convert_pipeline
from mlops_suite.onnx_export.parity import check_parity
from mlops_suite.registry import ModelRegistry
from mlops_suite.registry.records import now


@dataclass(frozen=True)
class OnnxExport:
    """A version's ONNX export, as its ``metadata.json`` records it.

    Attributes:
        model_name: The registered model.
        version: The registry version.
        record: The ``onnx`` entry of the version's metadata: ``path`` (relative to
            the version folder), ``sha256``, ``opset``, ``inputs``, ``outputs``,
            ``parity``, ``triton_model_name``, converter versions, ``exported_at``.
        created: Whether this call wrote it (False: the version already had one).
    """

    model_name: str
    version: int
    record: dict[str, Any]
    created: bool


def export_onnx(
    registry_uri: str,
    model_name: str,
    test: pd.DataFrame,
    version: int | None = None,
) -> OnnxExport:
    """Convert a registered version to ONNX and record it after a parity check.

    Args:
        registry_uri: The model registry (a path or fsspec URI).
        model_name: The registered model.
        test: The rows parity is checked on: the test split (the label column, if
            present, is ignored).
        version: The version; the champion by default.

    Returns:
        The export; a version exported before is returned as it is, unchanged.

    Raises:
        ExportError: The Pipeline cannot be converted (the sentence names the
            step), or the ONNX model does not answer as the Pipeline does.
        RegistryError: The model, version or champion does not exist.
        ModelIntegrityError: The model file does not match its recorded sha256.
        DataError: The test rows lack a feature column or hold a wrong value.
    """
    registry = ModelRegistry(registry_uri)
    with tempfile.TemporaryDirectory(prefix=f"{model_name}-onnx-") as scratch:
        loaded = load_model(registry.fetch(model_name, version, dest=scratch))
    metadata = loaded.metadata
    number = metadata.get("version")
    if isinstance(number, bool) or not isinstance(number, int):
        raise RegistryError(
            f"The metadata of {model_name} in {registry_uri} records no version "
            f"number (got {number!r}); the registry is inconsistent."
        )
    existing = metadata.get(ONNX_METADATA_KEY)
    if existing is not None:
        return OnnxExport(model_name, number, dict(existing), created=False)

    where = f"{model_name} v{number}"
    converted = convert_pipeline(loaded.pipeline, metadata["features"], where)
    payload = converted.model.SerializeToString()
    parity = check_parity(
        payload, loaded.pipeline, metadata, converted.outputs, test, where
    )
    files = triton.repository_files(model_name, number, converted.model, payload)
    record: dict[str, Any] = {
        "path": f"{ONNX_FOLDER}/{triton.model_path(model_name, number)}",
        "sha256": hashlib.sha256(payload).hexdigest(),
        "opset": converted.opset,
        "inputs": converted.inputs,
        "outputs": converted.outputs,
        "parity": parity.to_dict(),
        "triton_model_name": model_name,
        "skl2onnx_version": SKL2ONNX_VERSION,
        "onnxruntime_version": onnxruntime.__version__,
        "exported_at": now(),
    }
    registry.add_onnx_export(model_name, number, files, record)
    return OnnxExport(model_name, number, record, created=True)

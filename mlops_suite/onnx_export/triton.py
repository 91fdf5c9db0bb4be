"""The ONNX export laid out as the Triton model repository KServe's onnx runtime loads.

KServe serves the ``onnx`` model format with Triton, which reads a model repository:
one folder per model, holding ``config.pbtxt`` and one numbered folder per model
version with the model file. A registry version's export is such a repository::

    <registry>/<model>/v<N>/onnx/<model>/config.pbtxt
    <registry>/<model>/v<N>/onnx/<model>/<N>/model.onnx

so ``storageUri: <registry>/<model>/v<N>/onnx`` serves it as ``/v2/models/<model>``,
Triton's model version being the registry version. The config is written out rather
than left to Triton's auto-completion, which would cap batches at 4 rows: with
``max_batch_size: 0`` every dimension, the row count included, is the model's own.
"""

from __future__ import annotations

import json
from typing import Any

from mlops_suite.artifacts import ONNX_FILE, TRITON_CONFIG_FILE
from mlops_suite.errors import ExportError

# ONNX element types (onnx.TensorProto) as Triton names them.
_TRITON_TYPES = {
    1: "TYPE_FP32",
    6: "TYPE_INT32",
    7: "TYPE_INT64",
    8: "TYPE_STRING",
    9: "TYPE_BOOL",
    11: "TYPE_FP64",
}
PLATFORM = "onnxruntime_onnx"


def model_path(model_name: str, version: int) -> str:
    """Where the ONNX file lies, relative to the export folder ``v<N>/onnx/``."""
    return f"{model_name}/{version}/{ONNX_FILE}"


def repository_files(
    model_name: str, version: int, model: Any, model_bytes: bytes
) -> dict[str, bytes]:
    """The files of the export folder, by path relative to it.

    Args:
        model_name: The registered model's name, also Triton's model name.
        version: The registry version, also Triton's model version.
        model: The ONNX model (``onnx.ModelProto``), read for the config.
        model_bytes: The same model, serialized.

    Returns:
        ``model.onnx`` and ``config.pbtxt`` at their places in the repository.
    """
    return {
        model_path(model_name, version): model_bytes,
        f"{model_name}/{TRITON_CONFIG_FILE}": config_pbtxt(model_name, model).encode(),
    }


def config_pbtxt(model_name: str, model: Any) -> str:
    """Triton's model configuration for an ONNX model, from the model's own graph.

    Args:
        model_name: The model's folder name in the repository.
        model: The ONNX model (``onnx.ModelProto``).

    Returns:
        The ``config.pbtxt`` text.

    Raises:
        ExportError: A tensor has an element type Triton has no name for here.
    """
    lines = [
        f"name: {_quoted(model_name)}",
        f"platform: {_quoted(PLATFORM)}",
        "max_batch_size: 0",
    ]
    for section, tensors in (
        ("input", model.graph.input),
        ("output", model.graph.output),
    ):
        entries = [_tensor_entry(tensor) for tensor in tensors]
        lines.append(f"{section} [\n" + ",\n".join(entries) + "\n]")
    return "\n".join(lines) + "\n"


def _tensor_entry(tensor: Any) -> str:
    kind = tensor.type.tensor_type
    if kind.elem_type not in _TRITON_TYPES:
        raise ExportError(
            f"ONNX tensor {tensor.name!r} has element type {kind.elem_type}, which "
            "has no Triton data type here, so the export is not written."
        )
    dims = [
        str(dim.dim_value) if dim.HasField("dim_value") else "-1"
        for dim in kind.shape.dim
    ]
    return (
        "  {\n"
        f"    name: {_quoted(tensor.name)}\n"
        f"    data_type: {_TRITON_TYPES[kind.elem_type]}\n"
        f"    dims: [ {', '.join(dims)} ]\n"
        "  }"
    )


def _quoted(text: str) -> str:
    # Protocol buffer text strings escape quotes and backslashes as JSON does.
    return json.dumps(text, ensure_ascii=False)

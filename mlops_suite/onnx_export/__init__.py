"""ONNX export of a registered model, checked against the Pipeline it came from.

:func:`export_onnx` converts a registry version's Pipeline with skl2onnx, runs both on
the test split with onnxruntime (:mod:`.parity`), and records the result in the
version: the files under ``v<N>/onnx/`` (a Triton model repository, :mod:`.triton`)
and an ``onnx`` entry in its ``metadata.json`` (the file's sha256, opset, inputs,
outputs and parity). A Pipeline that cannot be converted is refused in one sentence
naming the step (:mod:`.convert`), and the version stays as it was.

How the ONNX model's inputs map to the original columns
--------------------------------------------------------
The Pipeline takes one table and picks its columns by position; the ONNX model takes
**one input per feature, named after the column**, each of shape ``(rows, 1)``:

============  ======================  ==============================================
feature type  ONNX input              value fed (missing)
============  ======================  ==============================================
numeric       ``tensor(double)``      the number as float64 (``NaN``)
categorical   ``tensor(string)``      the category's text (``""``)
boolean       ``tensor(string)``      ``"True"`` or ``"False"``; ``"true"``, ``"1"``,
                                      ``"1.0"`` and their false forms too (``""``)
============  ======================  ==============================================

What the conversion does with each step of the trained Pipeline
(:func:`mlops_suite.training.train.build_pipeline`):

* ``to_array`` (``FunctionTransformer(numpy.ma.MaskedArray, dtype "O")``) is left
  out: it only turns a table into one object array, and skl2onnx has no converter
  for a FunctionTransformer. The typed inputs above take its place, in feature order,
  which is the order of the positions the ColumnTransformer picks.
* ``preprocess`` (the ColumnTransformer) is converted branch by branch:

  - numeric: ``impute`` (median) and ``scale`` as fitted, in double precision as
    in the Pipeline, then a cast to float32, the precision scikit-learn's trees
    compare their thresholds in (skl2onnx's float-only Imputer operator is
    replaced by IsNaN and Where, which run on doubles);
  - categorical: ``impute_nan`` and ``impute_none`` become one constant imputer of
    ``""`` with the same fill value (a string tensor holds no None or NaN), then
    ``one_hot`` as fitted (unseen categories ignored);
  - boolean: ``to_text`` (``MaskedArray`` to text) is left out, since the input is
    text already; ``encode``, ``impute`` and ``to_float`` as fitted, so any text
    that is not a known token counts as missing, as in the Pipeline.

* ``model`` is converted as fitted; a classifier outputs ``label`` (the class; 0/1
  for boolean classes) and ``probabilities`` (one column per class, in the order of
  the metadata's ``classes``), a regressor ``variable`` (the prediction).

:func:`.parity.onnx_inputs` builds these inputs from a table. skl2onnx and
onnxruntime come with the package's ``onnx`` extra; without them this package does
not import and says how to install them.
"""

from __future__ import annotations

from mlops_suite.errors import ExportError

try:
    import onnxruntime  # noqa: F401
    import skl2onnx  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the installation
    raise ExportError(
        f"ONNX export needs skl2onnx and onnxruntime, which are not installed "
        f"({error.name} is missing); install them with "
        "pip install 'kfp-mlops-suite[onnx]'."
    ) from None

from mlops_suite.onnx_export.convert import Converted, convert_pipeline  # noqa: E402
from mlops_suite.onnx_export.export import OnnxExport, export_onnx  # noqa: E402
from mlops_suite.onnx_export.parity import (  # noqa: E402
    Parity,
    check_parity,
    onnx_inputs,
    session,
)

__all__ = [
    "Converted",
    "OnnxExport",
    "Parity",
    "check_parity",
    "convert_pipeline",
    "export_onnx",
    "onnx_inputs",
    "session",
]

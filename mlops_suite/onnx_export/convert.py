"""Convert a trained Pipeline to ONNX with skl2onnx, or refuse naming the step.

skl2onnx converts a view of the Pipeline that the package's docs describe (see
:mod:`mlops_suite.onnx_export`): the steps that only turn input into arrays are left
out, because the ONNX inputs are typed per column already; the categorical imputers of
``None``/``NaN`` become one imputer of ``""``, the way a string tensor says "missing";
numeric branches end with a cast to float32. Everything else is converted as it was
fitted, and :mod:`~mlops_suite.onnx_export.parity` proves the result answers the same.
A step skl2onnx cannot convert is named from the view's paths (``model``,
``preprocess/categorical/one_hot``): before conversion when skl2onnx has no converter
for its class, or from the traceback when its converter refuses an option.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np
import onnx
from skl2onnx import __version__ as SKL2ONNX_VERSION
from skl2onnx import convert_sklearn
from skl2onnx._supported_operators import sklearn_operator_name_map
from skl2onnx.common.data_types import DoubleTensorType, StringTensorType
from skl2onnx.operator_converters.imputer_op import convert_sklearn_imputer
from skl2onnx.proto import onnx_proto
from skl2onnx.sklapi import CastTransformer
from sklearn.base import is_classifier
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from mlops_suite.artifacts import NUMERIC
from mlops_suite.errors import ExportError, last_clause

# ONNX opset 17 and ai.onnx.ml 3 load in onnxruntime 1.13 and later, so in the Triton
# images KServe's onnx runtime runs, not only in the newest onnxruntime.
TARGET_OPSET: dict[str, int] = {"": 17, "ai.onnx.ml": 3}
# How a string input says "missing" (a string tensor holds no None or NaN).
MISSING_TEXT = ""
# Output roles, read from the converted graph rather than assumed by name.
LABEL, PROBABILITIES, PREDICTION = "label", "probabilities", "prediction"


@dataclass(frozen=True)
class Converted:
    """A Pipeline converted to ONNX.

    Attributes:
        model: The ONNX model.
        inputs: One ``{"name", "feature_type", "type"}`` per feature, in feature
            order; ``type`` is the ONNX tensor type (``tensor(float)`` or
            ``tensor(string)``).
        outputs: Output names by role: ``label`` and ``probabilities`` for a
            classifier, ``prediction`` for a regressor.
        opset: The opset of each domain the model imports.
    """

    model: Any
    inputs: list[dict[str, str]]
    outputs: dict[str, str]
    opset: dict[str, int]


def convert_pipeline(
    pipeline: Any, features: Sequence[Mapping[str, str]], where: str
) -> Converted:
    """Convert a trained Pipeline to ONNX, one named input per feature.

    Args:
        pipeline: The fitted Pipeline from ``model.joblib``.
        features: The metadata's ``{"name", "type"}`` features, in training order.
        where: What the Pipeline is, for messages (``penguins v3``).

    Returns:
        The ONNX model and how its inputs and outputs are named.

    Raises:
        ExportError: A step has no skl2onnx converter or uses an option skl2onnx
            does not convert; the sentence names the step.
    """
    if not isinstance(pipeline, Pipeline):
        raise ExportError(
            f"{where} holds a {type(pipeline).__name__}, not a scikit-learn Pipeline "
            "written by training, so it is not exported to ONNX."
        )
    string_columns = {i for i, f in enumerate(features) if f["type"] != NUMERIC}
    paths: dict[int, str] = {}
    view = _pipeline_view(pipeline, "", string_columns, None, paths)
    if not view.steps:
        raise ExportError(
            f"{where} has no step but array conversions, so there is nothing to "
            "export to ONNX."
        )
    for path, step in _leaves(view, paths):
        _check_convertible(step, path, where)
    initial_types = [
        (
            str(f["name"]),
            DoubleTensorType([None, 1])
            if f["type"] == NUMERIC
            else StringTensorType([None, 1]),
        )
        for f in features
    ]
    estimator = view.steps[-1][1]
    options = {id(estimator): {"zipmap": False}} if is_classifier(estimator) else None
    try:
        model = convert_sklearn(
            view,
            initial_types=initial_types,
            target_opset=dict(TARGET_OPSET),
            options=options,
            custom_conversion_functions={SimpleImputer: _convert_imputer},
        )
        onnx.checker.check_model(model)
    except Exception as exc:  # skl2onnx raises many kinds; each is a refusal here
        raise _refusal(exc, paths, where) from exc
    return Converted(
        model=model,
        inputs=[
            {
                "name": str(f["name"]),
                "feature_type": str(f["type"]),
                "type": "tensor(double)" if f["type"] == NUMERIC else "tensor(string)",
            }
            for f in features
        ],
        outputs=_output_roles(model, is_classifier(estimator)),
        opset={entry.domain: int(entry.version) for entry in model.opset_import},
    )


# ------------------------------------------------------------------ the ONNX view
def _pipeline_view(
    pipeline: Pipeline,
    prefix: str,
    string_columns: set[int],
    columns: Sequence[int] | None,
    paths: dict[int, str],
) -> Pipeline:
    """The Pipeline as skl2onnx converts it; ``paths`` maps each step to its name.

    Fitted steps are shared, not copied: only the containers are new, so the
    trained Pipeline is never changed.
    """
    strings = columns is not None and all(c in string_columns for c in columns)
    steps: list[tuple[str, Any]] = []
    leading = True
    for name, step in pipeline.steps:
        path = f"{prefix}{name}"
        if _is_array_step(step):
            continue
        if leading and strings and _is_missing_imputer(step):
            step = _empty_string_imputer(step, len(columns or ()))
        else:
            leading = False
            step = _view(step, f"{path}/", string_columns, columns, paths)
        paths[id(step)] = path
        steps.append((name, step))
    if columns is not None and not any(c in string_columns for c in columns):
        # Numbers arrive as doubles and are imputed and scaled as doubles, as in the
        # Pipeline; the estimators run on float32, which is also what scikit-learn's
        # trees compare against their thresholds.
        cast = CastTransformer(dtype=np.float32)
        paths[id(cast)] = f"{prefix}(float32 cast)"
        steps.append(("to_float32", cast))
    view = Pipeline(steps)
    if prefix:
        paths[id(view)] = prefix.rstrip("/")
    return view


def _view(
    step: Any,
    prefix: str,
    string_columns: set[int],
    columns: Sequence[int] | None,
    paths: dict[int, str],
) -> Any:
    if isinstance(step, Pipeline):
        return _pipeline_view(step, prefix, string_columns, columns, paths)
    if isinstance(step, ColumnTransformer):
        view = copy.copy(step)
        view.transformers_ = [
            (
                name,
                _view(inner, f"{prefix}{name}/", string_columns, list(cols), paths),
                cols,
            )
            if not isinstance(inner, str)
            else (name, inner, cols)
            for name, inner, cols in step.transformers_
        ]
        for name, inner, _ in view.transformers_:
            if not isinstance(inner, str):
                paths.setdefault(id(inner), f"{prefix}{name}")
        return view
    return step


def _is_array_step(step: Any) -> bool:
    # Training's to_array/to_text steps: MaskedArray(X, dtype=...), a conversion the
    # typed ONNX inputs have already made.
    return isinstance(step, FunctionTransformer) and step.func is np.ma.MaskedArray


def _is_missing_imputer(step: Any) -> bool:
    if not isinstance(step, SimpleImputer) or step.strategy != "constant":
        return False
    missing = step.missing_values
    return missing is None or (isinstance(missing, float) and np.isnan(missing))


def _empty_string_imputer(step: SimpleImputer, width: int) -> SimpleImputer:
    imputer = SimpleImputer(
        missing_values=MISSING_TEXT, strategy="constant", fill_value=step.fill_value
    )
    # Fitting a constant imputer learns only the width; any non-missing text does.
    return imputer.fit(np.full((1, width), "x", dtype=object))


def _convert_imputer(scope: Any, operator: Any, container: Any) -> None:
    """SimpleImputer on doubles; skl2onnx's own converter for everything else.

    skl2onnx writes the ``ai.onnx.ml`` Imputer, which onnxruntime runs on float32
    only; replacing NaN with the fitted statistics is IsNaN and Where on doubles.
    """
    if not isinstance(operator.inputs[0].type, DoubleTensorType):
        convert_sklearn_imputer(scope, operator, container)
        return
    imputer = operator.raw_operator
    missing = imputer.missing_values
    if not (isinstance(missing, float) and np.isnan(missing)):
        raise NotImplementedError(
            f"imputing {missing!r} in numbers is not converted, only NaN"
        )
    if imputer.add_indicator:
        raise NotImplementedError("add_indicator=True is not converted")
    source = operator.inputs[0].full_name
    if len(operator.inputs) > 1:
        source = scope.get_unique_variable_name("imputer_input")
        container.add_node(
            "Concat", [i.full_name for i in operator.inputs], [source], axis=1
        )
    fill = scope.get_unique_variable_name("imputer_fill")
    statistics = np.asarray(imputer.statistics_, dtype=np.float64)
    container.add_initializer(
        fill, onnx_proto.TensorProto.DOUBLE, [1, statistics.size], statistics.tolist()
    )
    is_missing = scope.get_unique_variable_name("imputer_is_missing")
    container.add_node("IsNaN", [source], [is_missing])
    container.add_node(
        "Where", [is_missing, fill, source], [operator.outputs[0].full_name]
    )


def _leaves(view: Any, paths: dict[int, str]) -> Iterator[tuple[str, Any]]:
    if isinstance(view, Pipeline):
        for _, step in view.steps:
            yield from _leaves(step, paths)
    elif isinstance(view, ColumnTransformer):
        for _, inner, _ in view.transformers_:
            if not isinstance(inner, str):
                yield from _leaves(inner, paths)
    else:
        yield paths.get(id(view), type(view).__name__), view


def _check_convertible(step: Any, path: str, where: str) -> None:
    kind = type(step).__name__
    if isinstance(step, FunctionTransformer) and step.func is not None:
        function = getattr(step.func, "__name__", repr(step.func))
        raise ExportError(
            f"{where} cannot be exported to ONNX: step {path} ({kind} of "
            f"{function}) has no skl2onnx converter."
        )
    if type(step) not in sklearn_operator_name_map:
        raise ExportError(
            f"{where} cannot be exported to ONNX: step {path} ({kind}) has no "
            f"converter in skl2onnx {SKL2ONNX_VERSION}."
        )


def _refusal(exc: BaseException, paths: dict[int, str], where: str) -> ExportError:
    """Name the step skl2onnx failed on, found in the traceback's frames."""
    step = _failing_step(exc.__traceback__, paths)
    reason = last_clause(exc)
    if step is not None:
        return ExportError(
            f"{where} cannot be exported to ONNX: step {paths[id(step)]} "
            f"({type(step).__name__}) uses what skl2onnx {SKL2ONNX_VERSION} does "
            f"not convert ({reason})."
        )
    return ExportError(
        f"{where} cannot be exported to ONNX: skl2onnx {SKL2ONNX_VERSION} failed "
        f"on the Pipeline ({reason})."
    )


def _failing_step(trace: TracebackType | None, paths: dict[int, str]) -> Any:
    # skl2onnx parses each step as ``model`` and converts it as an ``operator`` whose
    # ``raw_operator`` is the scikit-learn object: the innermost such step failed.
    found = None
    while trace is not None:
        local = trace.tb_frame.f_locals
        for candidate in (
            getattr(local.get("operator"), "raw_operator", None),
            local.get("model"),
        ):
            if candidate is not None and id(candidate) in paths:
                found = candidate
        trace = trace.tb_next
    return found


def _output_roles(model: Any, classifier: bool) -> dict[str, str]:
    names = [output.name for output in model.graph.output]
    if classifier:
        return {LABEL: names[0], PROBABILITIES: names[1]}
    return {PREDICTION: names[0]}

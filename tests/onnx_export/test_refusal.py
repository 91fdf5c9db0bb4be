"""A Pipeline ONNX cannot hold, or that would answer differently, is refused.

Each refusal is one sentence naming the step (or the difference), and the registered
version is left byte for byte as it was: no ``onnx/`` folder, the same metadata.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sklearn.kernel_ridge import KernelRidge
from sklearn.preprocessing import FunctionTransformer

from mlops_suite.errors import ExportError
from mlops_suite.onnx_export import check_parity, convert_pipeline, export_onnx, parity

Register = Any
Snapshot = Callable[[Path], dict[str, bytes]]


def _refused(registered: Any, snapshot: Snapshot) -> str:
    before = snapshot(registered.version_dir)
    with pytest.raises(ExportError) as caught:
        export_onnx(registered.registry_uri, registered.name, registered.test)
    assert snapshot(registered.version_dir) == before
    assert not (registered.version_dir / "onnx").exists()
    assert "onnx" not in registered.registry.metadata(
        registered.name, registered.version
    )
    message = str(caught.value)
    assert "\n" not in message and message.endswith(".")
    return message


def test_an_estimator_without_a_converter_is_refused_naming_the_step(
    register: Register, snapshot: Snapshot
) -> None:
    def kernel_ridge(pipeline: Any) -> Any:
        pipeline.steps[-1] = ("model", KernelRidge())
        return pipeline

    message = _refused(register("regression", edit=kernel_ridge), snapshot)
    assert "mixed v1 cannot be exported to ONNX" in message
    assert "step model (KernelRidge) has no converter" in message


def test_an_option_skl2onnx_lacks_is_refused_naming_the_step(
    register: Register, snapshot: Snapshot
) -> None:
    def infrequent_categories(pipeline: Any) -> Any:
        return pipeline.set_params(
            preprocess__categorical__one_hot__max_categories=2,
            preprocess__categorical__one_hot__handle_unknown="infrequent_if_exist",
        )

    message = _refused(register(edit=infrequent_categories), snapshot)
    assert "step preprocess/categorical/one_hot (OneHotEncoder)" in message
    assert "Infrequent categories" in message


def test_a_function_step_is_refused_naming_it(
    register: Register, snapshot: Snapshot
) -> None:
    def log_scale(pipeline: Any) -> Any:
        numeric = pipeline.named_steps["preprocess"].transformers[0][1]
        numeric.steps.insert(0, ("log", FunctionTransformer(_log1p_abs)))
        return pipeline

    message = _refused(register(edit=log_scale), snapshot)
    assert "step preprocess/numeric/log (FunctionTransformer of _log1p_abs)" in message


def test_an_unconverted_imputer_option_is_refused_naming_the_step(
    register: Register, snapshot: Snapshot
) -> None:
    def with_indicator(pipeline: Any) -> Any:
        return pipeline.set_params(preprocess__numeric__impute__add_indicator=True)

    message = _refused(register(edit=with_indicator), snapshot)
    assert "step preprocess/numeric/impute (SimpleImputer)" in message
    assert "add_indicator=True" in message


def test_an_export_that_answers_differently_is_refused(
    register: Register, snapshot: Snapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # float32 arithmetic moves probabilities by about 1e-7: held to 0 instead of
    # 1e-4, the same conversion no longer passes.
    monkeypatch.setattr(parity, "PROBABILITY_TOLERANCE", 0.0)
    message = _refused(register(), snapshot)
    assert message.startswith(
        "The ONNX model of mixed v1 does not answer as the Pipeline does on the 60 "
        "test rows: 0 label(s) differ and probabilities differ by up to"
    )


def test_parity_compares_with_the_pipeline_it_is_given(register: Register) -> None:
    first, other = register(), register(estimator="random_forest")
    converted = convert_pipeline(
        first.model.pipeline, first.model.metadata["features"], "mixed v1"
    )
    with pytest.raises(ExportError, match="label\\(s\\) differ"):
        check_parity(
            converted.model.SerializeToString(),
            other.model.pipeline,
            other.model.metadata,
            converted.outputs,
            other.test,
            "mixed v1",
        )


def test_no_test_rows_is_refused(register: Register, snapshot: Snapshot) -> None:
    registered = register()
    registered.test = registered.test.iloc[:0]
    message = _refused(registered, snapshot)
    assert "0 rows" in message


def _log1p_abs(values: Any) -> Any:
    import numpy as np

    return np.log1p(np.abs(values.astype(float)))

"""Every model the suite trains passes KServe's restricted-unpickler rule and answers
V1 and V2 requests as ``predict`` does; a model holding a function is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from kserve import InferInput, InferRequest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from mlops_suite.artifacts import CLASSIFICATION, REGRESSION
from mlops_suite.model_folder import save_model
from mlops_suite.serving.runtime import SklearnRuntimeModel
from mlops_suite.serving.unpickle_rule import allows, refused_global
from mlops_suite.training.estimators import estimator_names
from mlops_suite.training.train import train_model

CASES = [
    (task, name)
    for task in (CLASSIFICATION, REGRESSION)
    for name in estimator_names(task)
]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """Numeric, categorical and boolean features, each with missing values."""
    rng = np.random.default_rng(3)
    n = 160
    frame = pd.DataFrame(
        {
            "income": rng.normal(50.0, 12.0, n),
            "region": rng.choice(["north", "south", "east"], n).astype(object),
            "member": pd.array(rng.random(n) < 0.4, dtype=object),
            "visits": rng.poisson(3, n).astype(float),
        }
    )
    score = frame["income"] / 10 + frame["member"].astype(float) * 2
    frame["churned"] = np.where(score > score.median(), "yes", "no")
    frame["spend"] = score * 3 + rng.normal(0, 0.5, n)
    frame.loc[[3, 17], "income"] = np.nan
    frame.loc[[5, 40], "region"] = None
    frame.loc[[8, 61], "member"] = None
    return frame


def trained_folder(
    table: pd.DataFrame, task: str, estimator: str, folder: Path
) -> tuple[Path, pd.DataFrame]:
    label, other = (
        ("churned", "spend") if task == CLASSIFICATION else ("spend", "churned")
    )
    data = table.drop(columns=[other])
    save_model(train_model(data, label, task=task, estimator=estimator), folder)
    return folder, data.drop(columns=[label])


def v1_rows(features: pd.DataFrame) -> list[list[Any]]:
    return [
        [None if pd.isna(value) else value for value in row]
        for row in features.itertuples(index=False)
    ]


def v2_request(features: pd.DataFrame) -> InferRequest:
    inputs = []
    for name in features.columns:
        column = features[name]
        if pd.api.types.is_float_dtype(column):
            datatype, data = "FP64", [None if pd.isna(v) else float(v) for v in column]
        else:
            datatype, data = "BYTES", [None if pd.isna(v) else v for v in column]
        inputs.append(InferInput(name, [len(column)], datatype, data))
    return InferRequest("m", inputs, parameters={"content_type": "pd"})


@pytest.mark.parametrize(("task", "estimator"), CASES)
def test_every_estimator_passes_the_rule_and_answers_like_predict(
    table: pd.DataFrame, task: str, estimator: str, tmp_path: Path
) -> None:
    folder, features = trained_folder(table, task, estimator, tmp_path / "model")
    assert refused_global(folder / "model.joblib") is None

    pipeline = joblib.load(folder / "model.joblib")
    expected = pipeline.predict(features).tolist()
    served = SklearnRuntimeModel("m", folder)
    served.load()
    v1 = served.predict({"instances": v1_rows(features)})["predictions"]
    # Without a null, KServe's np.array(instances) turns every value into a string.
    complete = features.dropna()
    v1_text = served.predict({"instances": v1_rows(complete)})["predictions"]
    v2 = served.predict(v2_request(features)).outputs[0].data
    if task == REGRESSION:
        np.testing.assert_allclose(v1, expected, rtol=1e-9)
        np.testing.assert_allclose(v2, expected, rtol=1e-9)
        np.testing.assert_allclose(
            v1_text, pipeline.predict(complete).tolist(), rtol=1e-9
        )
    else:
        assert v1 == expected and list(v2) == expected
        assert v1_text == pipeline.predict(complete).tolist()


def test_a_function_reference_is_refused_and_named(tmp_path: Path) -> None:
    pipeline = Pipeline(
        [("to_array", FunctionTransformer(np.asarray)), ("scale", StandardScaler())]
    ).fit(np.array([[0.0], [1.0], [2.0]]))
    model_file = tmp_path / "model.joblib"
    joblib.dump(pipeline, model_file, compress=("zlib", 3))
    assert refused_global(model_file) == "numpy.asarray"


@pytest.mark.parametrize(
    ("module", "name", "allowed"),
    [
        ("sklearn.pipeline", "Pipeline", True),
        ("numpy.ma.core", "MaskedArray", True),
        ("numpy.core.multiarray", "_reconstruct", True),
        ("numpy._core.multiarray", "scalar", True),
        ("numpy.random._pickle", "__randomstate_ctor", True),
        ("sklearn.tree._tree", "__pyx_unpickle_Tree", True),
        ("builtins", "dict", True),
        ("collections", "OrderedDict", True),
        ("copyreg", "_reconstructor", True),
        ("_codecs", "encode", True),
        ("numpy", "asarray", False),
        ("builtins", "eval", False),
        ("builtins", "object", True),
        ("collections", "ChainMap", False),
        ("os", "system", False),
        ("mlops_suite.training.train", "train_model", False),
    ],
)
def test_the_rule_by_global(module: str, name: str, allowed: bool) -> None:
    import importlib

    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part, None)
    assert allows(module, name, obj) is allowed


def test_a_registered_version_on_an_object_store_is_checked_from_a_verified_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uuid

    import fsspec

    from mlops_suite.errors import ModelIntegrityError
    from mlops_suite.registry import ModelRegistry
    from mlops_suite.serving.unpickle_rule import registered_refusal

    class Old:
        pipeline = Pipeline(
            [("to_array", FunctionTransformer(np.asarray)), ("scale", StandardScaler())]
        ).fit(np.array([[0.0], [1.0], [2.0]]))
        metadata: dict[str, Any] = {}

    save_model(Old(), tmp_path / "old")
    root = f"rule-{uuid.uuid4().hex}"
    registry = ModelRegistry(f"memory://{root}")
    registry.register("old", tmp_path / "old", lineage={})
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    try:
        assert registered_refusal(registry, "old", 1) == "numpy.asarray"
        assert list(scratch.iterdir()) == []  # the copy is removed
        fsspec.filesystem("memory").pipe_file(f"/{root}/old/v1/model.joblib", b"x")
        with pytest.raises(ModelIntegrityError, match="sha256"):
            registered_refusal(registry, "old", 1)
    finally:
        fsspec.filesystem("memory").rm(f"/{root}", recursive=True)

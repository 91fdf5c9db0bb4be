"""Model folders for the serving tests, built per the serving contract on penguins.

Also the fake Kubernetes API server the deploy tests share (``fake`` and ``api``).

The good model is what training is meant to produce: a full Pipeline of stock
scikit-learn classes that picks columns by position, imputes ``np.nan`` and ``None``
alike, and is saved as ``model.joblib`` next to a ``metadata.json`` carrying its hash.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import joblib
import k8s_fake
import numpy as np
import pandas as pd
import pytest
import sklearn
from kubernetes import client as k8s
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlops_suite.artifacts import (
    CATEGORICAL,
    CLASSIFICATION,
    METADATA_FILE,
    MODEL_FILE,
    NUMERIC,
)
from mlops_suite.atomic import write_bytes, write_json

LABEL = "species"
# Training column order; positions below refer to it.
FEATURES = [
    ("island", CATEGORICAL),
    ("bill_length_mm", NUMERIC),
    ("bill_depth_mm", NUMERIC),
    ("flipper_length_mm", NUMERIC),
    ("body_mass_g", NUMERIC),
    ("sex", CATEGORICAL),
    ("year", NUMERIC),
]
FEATURE_NAMES = [name for name, _ in FEATURES]
NUMERIC_POSITIONS = [i for i, (_, kind) in enumerate(FEATURES) if kind == NUMERIC]
CATEGORICAL_POSITIONS = [
    i for i, (_, kind) in enumerate(FEATURES) if kind == CATEGORICAL
]

FolderWriter = Callable[[Path, Pipeline], Path]
PipelineBuilder = Callable[..., Pipeline]


def categorical_steps() -> Pipeline:
    """Impute NaN (DataFrames) and None (V1/V2 requests) alike, then one-hot."""
    return make_pipeline(
        SimpleImputer(missing_values=np.nan, strategy="most_frequent"),
        SimpleImputer(missing_values=None, strategy="most_frequent"),
        OneHotEncoder(handle_unknown="ignore"),
    )


def stock_pipeline(columns: tuple[list[Any], list[Any]] | None = None) -> Pipeline:
    """The contract's Pipeline; ``columns`` overrides (numeric, categorical) picks."""
    numeric, categorical = columns or (NUMERIC_POSITIONS, CATEGORICAL_POSITIONS)
    preprocess = ColumnTransformer(
        [
            (
                "num",
                make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                numeric,
            ),
            ("cat", categorical_steps(), categorical),
        ]
    )
    return Pipeline(
        [("preprocess", preprocess), ("classifier", LogisticRegression(max_iter=1000))]
    )


@pytest.fixture(scope="session")
def feature_names() -> list[str]:
    """The penguin feature columns in training order."""
    return list(FEATURE_NAMES)


@pytest.fixture(scope="session")
def build_pipeline() -> PipelineBuilder:
    """Return ``build(columns=None)``: the contract's unfitted Pipeline.

    ``columns`` is ``(numeric, categorical)`` column picks (positions or names) and
    defaults to the training positions; the categorical branch imputes NaN and None.
    """
    return stock_pipeline


@pytest.fixture(scope="session")
def penguin_frame(penguins: pd.DataFrame) -> pd.DataFrame:
    """Feature columns in training order plus the label, rows with a label only."""
    return penguins.loc[penguins[LABEL].notna(), [*FEATURE_NAMES, LABEL]].reset_index(
        drop=True
    )


@pytest.fixture(scope="session")
def sample_rows(penguin_frame: pd.DataFrame) -> pd.DataFrame:
    """Twenty rows of all three species, four of them with missing values."""
    incomplete = penguin_frame[penguin_frame[FEATURE_NAMES].isna().any(axis=1)]
    complete = penguin_frame.drop(incomplete.index).sample(16, random_state=3)
    rows = pd.concat([incomplete.head(4), complete])
    assert rows[LABEL].nunique() == 3 and rows[FEATURE_NAMES].isna().any().any()
    return rows.sample(frac=1.0, random_state=1)


def _metadata(model_bytes: bytes, frame: pd.DataFrame, **extra: Any) -> dict[str, Any]:
    classes = sorted(frame[LABEL].unique().tolist())
    return {
        "features": [{"name": name, "type": kind} for name, kind in FEATURES],
        "label": LABEL,
        "task": CLASSIFICATION,
        "classes": classes,
        "estimator": "logistic_regression",
        "hyperparameters": {"max_iter": 1000},
        "seed": 0,
        "sklearn_version": sklearn.__version__,
        "data_sha256": hashlib.sha256(
            pd.util.hash_pandas_object(frame).values.tobytes()
        ).hexdigest(),
        "model_sha256": hashlib.sha256(model_bytes).hexdigest(),
        **extra,
    }


@pytest.fixture(scope="session")
def write_model_folder(penguin_frame: pd.DataFrame) -> FolderWriter:
    """Return ``write(folder, pipeline) -> folder``: fit on penguins, save per contract.

    The pipeline is fitted on the feature columns as a DataFrame, dumped with joblib
    to ``model.joblib`` and described by ``metadata.json`` (with its sha256).
    """

    def write(folder: Path, pipeline: Pipeline) -> Path:
        pipeline.fit(penguin_frame[FEATURE_NAMES], penguin_frame[LABEL])
        buffer = io.BytesIO()
        joblib.dump(pipeline, buffer)
        model_bytes = buffer.getvalue()
        write_bytes(folder / MODEL_FILE, model_bytes)
        write_json(folder / METADATA_FILE, _metadata(model_bytes, penguin_frame))
        return folder

    return write


@pytest.fixture(scope="session")
def good_model_dir(
    tmp_path_factory: pytest.TempPathFactory, write_model_folder: FolderWriter
) -> Path:
    """A model folder that follows the serving contract."""
    return write_model_folder(
        tmp_path_factory.mktemp("good") / "model", stock_pipeline()
    )


@pytest.fixture(scope="session")
def expected_predictions(good_model_dir: Path, sample_rows: pd.DataFrame) -> list[str]:
    """What the good model predicts in-process for the sample rows."""
    model = joblib.load(good_model_dir / MODEL_FILE)
    return model.predict(sample_rows[FEATURE_NAMES]).tolist()


@pytest.fixture
def fake() -> Iterator[Any]:
    """A fake Kubernetes API server serving InferenceServices (see k8s_fake.py)."""
    with k8s_fake.FakeKube() as server:
        yield server


@pytest.fixture
def api(fake: Any) -> k8s.CustomObjectsApi:
    """The real Kubernetes client, talking to :func:`fake`."""
    return fake.client()

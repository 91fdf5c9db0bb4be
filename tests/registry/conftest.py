"""Model folders and registries for the registry tests.

The folders follow the serving contract (``model.joblib`` + ``metadata.json``) but are
built here with a tiny scikit-learn pipeline, independent of the training stage.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import fsspec
import joblib
import numpy as np
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mlops_suite.artifacts import METADATA_FILE, MODEL_FILE

_X = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1], [0.1, 0.8], [0.8, 0.3]])
_Y = np.array(["a", "b", "a", "b", "a", "b"])


@pytest.fixture
def probe_rows() -> np.ndarray:
    """Rows to compare predictions of a registered model with the original."""
    return np.array([[0.3, 0.7], [0.6, 0.4], [0.5, 0.5]])


@pytest.fixture
def make_model_folder(tmp_path: Path) -> Callable[..., Path]:
    """Build a model folder; a different ``c`` gives a model with different bytes."""
    made = 0

    def make(c: float = 1.0) -> Path:
        nonlocal made
        made += 1
        folder = tmp_path / f"model-{made}"
        folder.mkdir()
        pipeline = Pipeline(
            [("scale", StandardScaler()), ("model", LogisticRegression(C=c))]
        ).fit(_X, _Y)
        joblib.dump(pipeline, folder / MODEL_FILE)
        metadata = {
            "features": [
                {"name": "x1", "type": "numeric"},
                {"name": "x2", "type": "numeric"},
            ],
            "label": "y",
            "task": "classification",
            "classes": ["a", "b"],
            "estimator": "logistic_regression",
            "hyperparameters": {"C": c},
            "seed": 0,
            "sklearn_version": sklearn.__version__,
            "data_sha256": hashlib.sha256(_X.tobytes()).hexdigest(),
            "model_sha256": hashlib.sha256(
                (folder / MODEL_FILE).read_bytes()
            ).hexdigest(),
        }
        (folder / METADATA_FILE).write_text(json.dumps(metadata), encoding="utf-8")
        return folder

    return make


@pytest.fixture
def memory_registry_uri() -> Iterator[str]:
    """A fresh ``memory://`` registry, removed afterwards (memory is process-wide).

    For the registry's own logic (aliases, history, companion files) on an fsspec
    store; what real object stores do is tested against real servers (tests/stores).
    """
    root = f"registry-{uuid.uuid4().hex}"
    yield f"memory://{root}"
    fs = fsspec.filesystem("memory")
    if fs.exists(f"/{root}"):
        fs.rm(f"/{root}", recursive=True)

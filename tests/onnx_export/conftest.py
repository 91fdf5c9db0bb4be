"""A table with every feature kind and missing values, and models registered from it.

``register`` trains with the suite's own training function (or takes a Pipeline built
by the test), saves the model folder and registers it in a fresh local registry, so
each test exports a real registry version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_suite.model_folder import save_model
from mlops_suite.registry import ModelRegistry
from mlops_suite.training.train import TrainedModel, to_v1_instances, train_model

MODEL_NAME = "mixed"


@pytest.fixture(scope="session")
def mixed_table() -> pd.DataFrame:
    """Numeric, categorical and boolean features, each with missing values.

    ``tier`` (classification, three string classes) and ``spend`` (regression)
    depend on the features, so every estimator learns something.
    """
    rng = np.random.default_rng(3)
    n = 260
    income = rng.normal(50.0, 12.0, n)
    visits = rng.poisson(3, n).astype(float)
    region = rng.choice(["north", "south", "east", "west"], n).astype(object)
    member = pd.array(rng.random(n) < 0.4, dtype="boolean")
    score = income / 10 + np.asarray(member, dtype=float) * 2 + (region == "north")
    frame = pd.DataFrame(
        {
            "income": income,
            "visits": visits,
            "region": region,
            "member": member,
            "tier": np.where(
                score > 7.0, "gold", np.where(score > 5.5, "silver", "bronze")
            ),
            "spend": score * 30 + rng.normal(0, 5, n),
        }
    )
    frame.loc[[3, 17, 42, 200], "income"] = np.nan
    frame.loc[[8, 230], "visits"] = np.nan
    frame.loc[[5, 99, 210], "region"] = None
    frame.loc[[11, 77, 220], "member"] = pd.NA
    return frame


@dataclass
class Registered:
    """A model registered for a test, and the rows to check parity on."""

    name: str
    registry_uri: str
    registry: ModelRegistry
    version: int
    version_dir: Path
    test: pd.DataFrame
    model: TrainedModel


Register = Callable[..., Registered]


@pytest.fixture
def register(tmp_path: Path, mixed_table: pd.DataFrame) -> Register:
    """Train (or take) a model on the first 200 rows and register it."""

    def make(
        task: str = "classification",
        estimator: str | None = None,
        edit: Callable[[Any], Any] | None = None,
    ) -> Registered:
        label, other = (
            ("tier", "spend") if task == "classification" else ("spend", "tier")
        )
        table = mixed_table.drop(columns=[other])
        train, test = table.iloc[:200], table.iloc[200:]
        model = train_model(train, label, task=task, estimator=estimator, seed=0)
        if edit is not None:
            pipeline = edit(model.pipeline)
            features = [f["name"] for f in model.metadata["features"]]
            rows = to_v1_instances(train, model.metadata["features"])
            X = pd.DataFrame(rows, columns=features, dtype=object)
            pipeline.fit(X, train[label].to_numpy())
            model = TrainedModel(pipeline=pipeline, metadata=model.metadata)
        folder = save_model(model, tmp_path / "model")
        uri = str(tmp_path / "registry")
        registry = ModelRegistry(uri)
        registration = registry.register(MODEL_NAME, folder, lineage={})
        return Registered(
            name=MODEL_NAME,
            registry_uri=uri,
            registry=registry,
            version=registration.version,
            version_dir=Path(registration.uri),
            test=test.reset_index(drop=True),
            model=model,
        )

    return make


@pytest.fixture
def snapshot() -> Callable[[Path], dict[str, bytes]]:
    """Every file under a folder, by relative path: what "unchanged" compares."""

    def take(folder: Path) -> dict[str, bytes]:
        return {
            str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob("*"))
            if path.is_file()
        }

    return take

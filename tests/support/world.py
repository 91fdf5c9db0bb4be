"""A synthetic binary world whose truth is known, for performance estimation tests.

``make_world`` draws rows whose label follows a fixed rule; ``fit_world_model`` trains
the suite's default classifier on it and records what registration would (the
performance reference, the calibrator, the training profile).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


def make_world(
    rows: int,
    seed: int,
    *,
    joint: float = 0.0,
    ignored_shift: float = 0.0,
    x2_weight: float = -1.5,
) -> pd.DataFrame:
    """Rows of a binary world whose truth is known: ``P(yes) = sigmoid(2 x1 - 1.5 x2)``.

    ``joint`` correlates ``x2`` with ``x1`` while each keeps its N(0, 1) marginal: the
    rows crowd towards the decision boundary, so accuracy falls although no single
    feature drifts. ``ignored_shift`` moves ``noise``, which the label never depends
    on, by that many standard deviations. ``x2_weight`` changes the rule itself (a
    concept change no feature's distribution shows).
    """
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=rows)
    x2 = joint * x1 + np.sqrt(1 - joint**2) * rng.normal(size=rows)
    noise = rng.normal(size=rows) + ignored_shift
    chance = 1 / (1 + np.exp(-(2 * x1 + x2_weight * x2)))
    label = np.where(rng.random(rows) < chance, "yes", "no")
    return pd.DataFrame({"x1": x1, "x2": x2, "noise": noise, "label": label})


@dataclass(frozen=True)
class WorldModel:
    """A model of :func:`make_world`, with what registration records for it."""

    trained: Any
    reference: Any
    calibrator: Any
    statistics: dict[str, Any]

    def serve(self, rows: pd.DataFrame, start: int = 0) -> pd.DataFrame:
        """Rows as the payload sink logs them: ids, features, prediction, proba_*."""
        from mlops_suite.training.train import to_v1_instances

        features = self.trained.metadata["features"]
        instances = np.array(to_v1_instances(rows, features), dtype=object)
        proba = self.trained.pipeline.predict_proba(instances)
        logged = rows[[f["name"] for f in features]].copy()
        logged.insert(0, "request_id", [f"r{start + i}" for i in range(len(rows))])
        logged["prediction"] = self.trained.pipeline.predict(instances)
        for k, value in enumerate(self.trained.metadata["classes"]):
            logged[f"proba_{value}"] = proba[:, k]
        return logged.reset_index(drop=True)


def fit_world_model(x2_weight: float = -1.5) -> WorldModel:
    """A logistic regression trained on the world, its reference and calibrator.

    Args:
        x2_weight: The rule of the world it learns (see :func:`make_world`).
    """
    from mlops_suite.data.statistics import compute_statistics
    from mlops_suite.monitoring.performance_reference import fit_reference
    from mlops_suite.training.train import train_model

    train = make_world(4000, 1, x2_weight=x2_weight)
    trained = train_model(train, "label")
    reference, calibrator = fit_reference(
        trained.pipeline, trained.metadata, make_world(3000, 2, x2_weight=x2_weight)
    )
    return WorldModel(
        trained=trained,
        reference=reference,
        calibrator=calibrator,
        statistics=compute_statistics(train.drop(columns="label")),
    )


def register_world_model(
    registry_uri: str,
    folder: Any,
    world: WorldModel,
    *,
    name: str = "world",
    explained: bool = True,
    x2_weight: float = -1.5,
) -> int:
    """Register a world model as registration does: profile, importance, reference,
    calibrator; it becomes champion.

    Args:
        registry_uri: The registry.
        folder: An empty folder to save the model folder in first.
        world: The model.
        name: The model name.
        explained: Record its permutation importance (``explanation``).
        x2_weight: The rule of the held-out rows its importance is measured on.

    Returns:
        The registered version.
    """
    from mlops_suite.artifacts import CALIBRATION_FILE
    from mlops_suite.atomic import json_bytes
    from mlops_suite.evaluation.importance import explain
    from mlops_suite.model_folder import save_model
    from mlops_suite.monitoring.performance_reference import REFERENCE_KEY
    from mlops_suite.registry import ModelRegistry

    save_model(world.trained, folder)
    held_out = make_world(3000, 2, x2_weight=x2_weight)
    explanation = (
        explain(world.trained.pipeline, world.trained.metadata, held_out)
        if explained
        else None
    )
    accuracy = world.reference.metrics["accuracy"].mean
    registration = ModelRegistry(registry_uri).register(
        name,
        str(folder),
        lineage={"metrics": {"accuracy": accuracy}, "pipeline_run_id": "run-0"},
        statistics=world.statistics,
        explanation=explanation,
        files={CALIBRATION_FILE: json_bytes(world.calibrator.to_dict())},
        extra_metadata={REFERENCE_KEY: world.reference.to_dict()},
    )
    return registration.version

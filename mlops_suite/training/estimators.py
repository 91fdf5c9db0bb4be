"""The estimators a model can be trained with, their defaults and search spaces.

Every estimator is a stock scikit-learn class, so a pickled Pipeline loads in KServe's
sklearn runtime and Vertex AI's prebuilt container without this package. An estimator
is chosen by name and task; its hyperparameters are checked by name here, before any
fitting, so a typo fails with the list of names that would have worked.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge

from mlops_suite.artifacts import CLASSIFICATION, REGRESSION
from mlops_suite.errors import TrainingError
from mlops_suite.tasks import check_task

# Set from the pipeline's seed, never by the user: a run is reproducible from its seed.
_SEEDED_PARAM = "random_state"


@dataclass(frozen=True)
class EstimatorSpec:
    """How to build one named estimator.

    Attributes:
        classifier: The scikit-learn class for classification, or None.
        regressor: The scikit-learn class for regression, or None.
        defaults: Hyperparameters used unless the caller overrides them.
        search_space: Values tried by tuning, one list per hyperparameter; the grid is
            their cartesian product (3 to 6 combinations).
    """

    classifier: type[BaseEstimator] | None
    regressor: type[BaseEstimator] | None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    search_space: Mapping[str, Sequence[Any]] = field(default_factory=dict)

    def estimator_class(self, task: str) -> type[BaseEstimator] | None:
        """Returns the class for ``task``, or None when the estimator lacks one."""
        return self.classifier if task == CLASSIFICATION else self.regressor


ESTIMATORS: dict[str, EstimatorSpec] = {
    "logistic_regression": EstimatorSpec(
        classifier=LogisticRegression,
        regressor=None,
        # lbfgs needs more than the default 100 iterations on unscaled one-hot columns.
        defaults={"C": 1.0, "max_iter": 1000},
        search_space={"C": [0.01, 0.1, 1.0, 10.0]},
    ),
    "ridge": EstimatorSpec(
        classifier=None,
        regressor=Ridge,
        defaults={"alpha": 1.0},
        search_space={"alpha": [0.1, 1.0, 10.0, 100.0]},
    ),
    "random_forest": EstimatorSpec(
        classifier=RandomForestClassifier,
        regressor=RandomForestRegressor,
        # One job: trees are built in a fixed order and small machines are not swamped.
        defaults={
            "n_estimators": 100,
            "max_depth": None,
            "min_samples_leaf": 1,
            "n_jobs": 1,
        },
        search_space={"max_depth": [None, 8], "min_samples_leaf": [1, 4]},
    ),
    "gradient_boosting": EstimatorSpec(
        classifier=GradientBoostingClassifier,
        regressor=GradientBoostingRegressor,
        defaults={"n_estimators": 100, "learning_rate": 0.1, "max_depth": 3},
        search_space={"learning_rate": [0.05, 0.1], "max_depth": [2, 3]},
    ),
    "hist_gradient_boosting": EstimatorSpec(
        classifier=HistGradientBoostingClassifier,
        regressor=HistGradientBoostingRegressor,
        defaults={"max_iter": 100, "learning_rate": 0.1, "max_leaf_nodes": 31},
        search_space={"learning_rate": [0.05, 0.1], "max_leaf_nodes": [15, 31]},
    ),
}

# Linear models: small, fast, calibrated, and ~99% accurate on penguins (R² ~0.87 on
# body mass); the tree ensembles are one name away when the signal is non-linear.
DEFAULT_ESTIMATORS: dict[str, str] = {
    CLASSIFICATION: "logistic_regression",
    REGRESSION: "ridge",
}


def estimator_names(task: str) -> list[str]:
    """Lists the estimators that support ``task``, in a stable order."""
    check_task(task)
    return [
        name
        for name, spec in ESTIMATORS.items()
        if spec.estimator_class(task) is not None
    ]


def default_estimator(task: str) -> str:
    """Returns the estimator used for ``task`` when none is named."""
    return DEFAULT_ESTIMATORS[check_task(task)]


def _spec(name: str | None, task: str) -> tuple[str, EstimatorSpec]:
    resolved = name or default_estimator(task)
    allowed = estimator_names(task)
    if resolved not in ESTIMATORS:
        raise TrainingError(
            f"Estimator {resolved!r} is unknown; estimators for {task} are "
            f"{', '.join(allowed)}."
        )
    if resolved not in allowed:
        raise TrainingError(
            f"Estimator {resolved!r} does not support {task}; estimators for {task} "
            f"are {', '.join(allowed)}."
        )
    return resolved, ESTIMATORS[resolved]


def allowed_hyperparameters(name: str | None, task: str) -> list[str]:
    """Lists the hyperparameters an estimator accepts (``random_state`` excluded).

    Args:
        name: The estimator's name; None for the task's default.
        task: ``classification`` or ``regression``.

    Returns:
        The names, sorted.
    """
    resolved, spec = _spec(name, task)
    cls = spec.estimator_class(task)
    assert cls is not None  # _spec only returns estimators supporting the task
    return sorted(key for key in cls().get_params() if key != _SEEDED_PARAM)


def resolve_hyperparameters(
    name: str | None, task: str, params: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Merges ``params`` over an estimator's defaults, checking every name.

    Args:
        name: The estimator's name; None for the task's default.
        task: ``classification`` or ``regression``.
        params: Hyperparameters that override the defaults.

    Returns:
        The complete hyperparameters, keys sorted, as recorded in the model metadata.

    Raises:
        TrainingError: The estimator is unknown for the task, or a hyperparameter is
            not one it accepts.
    """
    resolved, spec = _spec(name, task)
    allowed = allowed_hyperparameters(resolved, task)
    for key in params or {}:
        if key == _SEEDED_PARAM:
            raise TrainingError(
                f"Hyperparameter {key!r} of {resolved} is set from the seed; pass "
                "the seed instead."
            )
        if key not in allowed:
            raise TrainingError(
                f"Hyperparameter {key!r} is unknown for {resolved}; allowed are "
                f"{', '.join(allowed)}."
            )
    merged = {**spec.defaults, **(params or {})}
    return {key: merged[key] for key in sorted(merged)}


def make_estimator(
    name: str | None, task: str, params: Mapping[str, Any] | None, seed: int
) -> BaseEstimator:
    """Builds an unfitted estimator with its hyperparameters and seed.

    Args:
        name: The estimator's name; None for the task's default.
        task: ``classification`` or ``regression``.
        params: Hyperparameters that override the defaults.
        seed: Becomes ``random_state`` (every estimator here has one).

    Returns:
        The scikit-learn estimator.

    Raises:
        TrainingError: Unknown estimator or hyperparameter, or a negative seed.
    """
    resolved, spec = _spec(name, task)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise TrainingError(
            f"Seed {seed!r} is invalid; expected an integer from 0 to 2**32 - 1."
        )
    hyperparameters = resolve_hyperparameters(resolved, task, params)
    cls = spec.estimator_class(task)
    assert cls is not None
    estimator = cls(**hyperparameters)
    if _SEEDED_PARAM in estimator.get_params():
        estimator.set_params(**{_SEEDED_PARAM: seed})
    return estimator


def search_space_grid(
    name: str | None, task: str, overrides: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Expands an estimator's search space into complete hyperparameter sets.

    Args:
        name: The estimator's name; None for the task's default.
        task: ``classification`` or ``regression``.
        overrides: Hyperparameters fixed in every combination; a fixed name is no
            longer searched.

    Returns:
        One dict per combination (defaults, then the combination, then the
        overrides), without duplicates, in a stable order.

    Raises:
        TrainingError: Unknown estimator or hyperparameter.
    """
    resolved, spec = _spec(name, task)
    fixed = dict(overrides or {})
    resolve_hyperparameters(resolved, task, fixed)
    searched = {k: list(v) for k, v in spec.search_space.items() if k not in fixed}
    grid: list[dict[str, Any]] = []
    seen: set[str] = set()
    for values in itertools.product(*searched.values()):
        combination = dict(zip(searched, values, strict=True)) | fixed
        params = resolve_hyperparameters(resolved, task, combination)
        key = json.dumps(params, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            grid.append(params)
    return grid

"""Estimators by name and task: classes, seeds, defaults, search spaces, errors."""

from __future__ import annotations

import pytest
from sklearn.base import is_classifier, is_regressor

from mlops_suite.artifacts import CLASSIFICATION, REGRESSION, TASKS
from mlops_suite.errors import TrainingError
from mlops_suite.training.estimators import (
    ESTIMATORS,
    allowed_hyperparameters,
    default_estimator,
    estimator_names,
    make_estimator,
    resolve_hyperparameters,
    search_space_grid,
)


@pytest.mark.parametrize("task", TASKS)
def test_every_estimator_matches_its_task_and_takes_the_seed(task: str) -> None:
    for name in estimator_names(task):
        estimator = make_estimator(name, task, None, seed=42)
        check = is_classifier if task == CLASSIFICATION else is_regressor
        assert check(estimator), name
        assert estimator.get_params()["random_state"] == 42, name


def test_both_task_estimators_are_listed_for_both_tasks() -> None:
    both = {"random_forest", "gradient_boosting", "hist_gradient_boosting"}
    assert both | {"logistic_regression"} == set(estimator_names(CLASSIFICATION))
    assert both | {"ridge"} == set(estimator_names(REGRESSION))


def test_defaults_per_task() -> None:
    assert default_estimator(CLASSIFICATION) == "logistic_regression"
    assert default_estimator(REGRESSION) == "ridge"
    assert make_estimator(None, REGRESSION, None, 0).__class__.__name__ == "Ridge"


def test_user_params_override_defaults_and_are_recorded_sorted() -> None:
    params = resolve_hyperparameters("random_forest", CLASSIFICATION, {"max_depth": 3})
    assert params["max_depth"] == 3
    assert params["n_estimators"] == 100
    assert list(params) == sorted(params)
    estimator = make_estimator("random_forest", CLASSIFICATION, {"max_depth": 3}, 0)
    assert estimator.get_params()["max_depth"] == 3


def test_unknown_estimator_names_the_allowed_ones() -> None:
    with pytest.raises(TrainingError, match="'xgboost' is unknown") as info:
        make_estimator("xgboost", CLASSIFICATION, None, 0)
    assert "logistic_regression" in str(info.value)
    assert "random_forest" in str(info.value)


def test_estimator_of_the_wrong_task_is_refused() -> None:
    with pytest.raises(TrainingError, match="does not support regression") as info:
        make_estimator("logistic_regression", REGRESSION, None, 0)
    assert "ridge" in str(info.value)


def test_unknown_hyperparameter_lists_the_allowed_ones() -> None:
    with pytest.raises(TrainingError, match="'max_dpeth' is unknown") as info:
        make_estimator("random_forest", REGRESSION, {"max_dpeth": 3}, 0)
    assert "max_depth" in str(info.value)
    assert "min_samples_leaf" in str(info.value)


def test_random_state_comes_from_the_seed_only() -> None:
    assert "random_state" not in allowed_hyperparameters("ridge", REGRESSION)
    with pytest.raises(TrainingError, match="set from the seed"):
        make_estimator("ridge", REGRESSION, {"random_state": 3}, 0)
    with pytest.raises(TrainingError, match="Seed -1 is invalid"):
        make_estimator("ridge", REGRESSION, None, -1)


def test_unknown_task_is_refused() -> None:
    with pytest.raises(TrainingError, match="Task 'ranking' is unknown"):
        make_estimator("ridge", "ranking", None, 0)


@pytest.mark.parametrize("task", TASKS)
def test_search_spaces_are_small_complete_and_distinct(task: str) -> None:
    for name in estimator_names(task):
        grid = search_space_grid(name, task)
        assert 3 <= len(grid) <= 6, name
        assert len({tuple(sorted(p.items(), key=str)) for p in grid}) == len(grid)
        for params in grid:
            assert set(ESTIMATORS[name].defaults) <= set(params)
            make_estimator(name, task, params, 0)  # every combination is valid


def test_fixed_overrides_stop_searching_that_dimension() -> None:
    grid = search_space_grid("random_forest", CLASSIFICATION, {"max_depth": 5})
    assert len(grid) == 2
    assert {p["max_depth"] for p in grid} == {5}
    assert {p["min_samples_leaf"] for p in grid} == {1, 4}

"""Hyperparameter trials: the grid, a trial's score, and picking the winner."""

from __future__ import annotations

import itertools
import json

import pandas as pd
import pytest

from mlops_suite.errors import TrainingError
from mlops_suite.tuning import (
    TrialResult,
    render_trials_markdown,
    run_trial,
    select_best,
    trial_grid,
    trial_records,
)


def test_grid_defaults_to_the_tasks_estimator() -> None:
    grid = trial_grid(None, "classification")
    assert [p["C"] for p in grid] == [0.01, 0.1, 1.0, 10.0]
    assert all(p["max_iter"] == 1000 for p in grid)
    assert trial_grid("", "regression") == trial_grid("ridge", "regression")


def test_grid_overrides_are_fixed_and_checked() -> None:
    grid = trial_grid("gradient_boosting", "regression", {"n_estimators": 50})
    assert len(grid) == 4
    assert {p["n_estimators"] for p in grid} == {50}
    with pytest.raises(TrainingError, match="'n_trees' is unknown"):
        trial_grid("gradient_boosting", "regression", {"n_trees": 50})


def test_grid_trials_are_json_for_parallel_for() -> None:
    for params in trial_grid("random_forest", "classification"):
        assert json.loads(json.dumps(params)) == params


def test_classification_trial_scores_validation_roc_auc(
    penguin_splits: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    train, validation = penguin_splits
    params = {"C": 0.01}
    result = run_trial(
        train,
        validation,
        "species",
        task="classification",
        estimator="logistic_regression",
        params=params,
        seed=0,
    )
    assert result.metric == "roc_auc"
    assert 0.9 < result.score <= 1.0
    assert result.params == {"C": 0.01, "max_iter": 1000}
    again = run_trial(
        train, validation, "species", task="", estimator="", params=params, seed=0
    )
    assert again == result  # inferred task and default estimator give the same


def test_regression_trial_scores_negative_rmse(penguins: pd.DataFrame) -> None:
    rows = penguins.dropna(subset=["body_mass_g"]).sample(frac=1.0, random_state=0)
    result = run_trial(
        rows.iloc[:250],
        rows.iloc[250:],
        "body_mass_g",
        task="regression",
        estimator="ridge",
        params={"alpha": 10.0},
        seed=0,
    )
    assert result.metric == "neg_rmse"
    assert -600.0 < result.score < -150.0  # grams; body mass spreads ~800 g


def test_single_class_validation_cannot_rank_a_trial(
    mixed_frame: pd.DataFrame,
) -> None:
    validation = mixed_frame[mixed_frame["churned"] == 1.0]
    with pytest.raises(TrainingError, match="cannot define roc_auc"):
        run_trial(
            mixed_frame,
            validation,
            "churned",
            task=None,
            estimator=None,
            params={},
            seed=0,
        )


def test_best_trial_wins_and_ties_do_not_depend_on_order() -> None:
    trials = [
        TrialResult({"C": 1.0}, 0.95, "roc_auc"),
        TrialResult({"C": 10.0}, 0.97, "roc_auc"),
        TrialResult({"C": 0.1}, 0.97, "roc_auc"),
        TrialResult({"C": 0.01}, 0.90, "roc_auc"),
    ]
    winners = {
        json.dumps(select_best(list(p)).params) for p in itertools.permutations(trials)
    }
    assert winners == {json.dumps({"C": 0.1})}


def test_real_trials_pick_the_best_score_reproducibly(
    penguin_splits: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    train, validation = penguin_splits

    def trial(params: dict) -> TrialResult:
        return run_trial(
            train,
            validation,
            "species",
            task="classification",
            estimator="random_forest",
            params=params,
            seed=0,
        )

    trials = [trial(params) for params in trial_grid("random_forest", "classification")]
    best = select_best(trials)
    assert best.score == max(t.score for t in trials)
    assert select_best(trials[::-1]) == best
    assert trial(best.params) == best  # same data, params and seed: same score


def test_select_best_refuses_nothing_or_mixed_metrics() -> None:
    with pytest.raises(TrainingError, match="No hyperparameter trial"):
        select_best([])
    with pytest.raises(TrainingError, match="2 different metrics"):
        select_best(
            [TrialResult({}, 1.0, "roc_auc"), TrialResult({}, -3.0, "neg_rmse")]
        )


def test_trials_markdown_lists_best_first() -> None:
    trials = [
        TrialResult({"alpha": 1.0}, -310.5, "neg_rmse"),
        TrialResult({"alpha": 10.0}, -300.25, "neg_rmse"),
    ]
    text = render_trials_markdown(trials, select_best(trials))
    assert "Best neg_rmse: **-300.2500**" in text
    rows = [line for line in text.splitlines() if line.startswith("| ")][1:]
    assert rows[0].startswith("| **1** | -300.2500 | 10.0")
    assert rows[1].startswith("| 2 | -310.5000 | 1.0")


def test_trial_records_trace_the_chosen_parameters_to_their_trial() -> None:
    trials = [
        TrialResult({"alpha": 1.0}, -310.5, "neg_rmse"),
        TrialResult({"alpha": 10.0}, -300.25, "neg_rmse"),
        TrialResult({"alpha": 0.1}, -320.0, "neg_rmse"),
    ]
    records = trial_records(trials, select_best(trials))
    assert json.loads(json.dumps(records)) == records  # JSON for the lineage
    assert [r["rank"] for r in records] == [1, 2, 3]
    assert [r["params"] for r in records] == [
        {"alpha": 10.0},
        {"alpha": 1.0},
        {"alpha": 0.1},
    ]
    assert [r["selected"] for r in records] == [True, False, False]
    assert records[0] == {
        "rank": 1,
        "params": {"alpha": 10.0},
        "metric": "neg_rmse",
        "score": -300.25,
        "selected": True,
    }

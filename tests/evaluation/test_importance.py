"""Permutation importance per original column, scored with the primary metric."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlops_suite.errors import DataError
from mlops_suite.evaluation.importance import explain
from mlops_suite.evaluation.metrics import evaluate
from mlops_suite.explanation import ranked_importance
from mlops_suite.training.train import train_model


@pytest.fixture(scope="module")
def signal_and_noise() -> pd.DataFrame:
    """Two numbers and a colour that drive the labels, and a column of pure noise."""
    rng = np.random.default_rng(5)
    n = 600
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], n)
    effect = pd.Series(color).map({"red": 1.5, "green": 0.0, "blue": -1.5})
    logit = 1.5 * x1 - 1.0 * x2 + effect.to_numpy() + rng.normal(0, 0.7, n)
    return pd.DataFrame(
        {
            "x1": x1,
            "x2": x2,
            "color": color,
            "noise": rng.normal(size=n),
            "churned": np.where(logit > 0, "yes", "no"),
            "spend": 3 * x1 - 2 * x2 + 2 * effect.to_numpy() + rng.normal(0, 1, n),
        }
    )


@pytest.mark.parametrize(
    ("label", "estimator", "metric"),
    [
        ("churned", "logistic_regression", "roc_auc"),
        ("churned", "random_forest", "roc_auc"),
        ("spend", "ridge", "neg_rmse"),
    ],
)
def test_a_column_of_pure_noise_comes_last_near_zero(
    signal_and_noise: pd.DataFrame, label: str, estimator: str, metric: str
) -> None:
    other = "spend" if label == "churned" else "churned"
    frame = signal_and_noise.drop(columns=other)
    trained = train_model(frame.iloc[:400], label, estimator=estimator, seed=0)

    explanation = explain(trained.pipeline, trained.metadata, frame.iloc[400:])

    assert explanation is not None
    assert explanation["metric"] == metric
    assert explanation["n_repeats"] == 5 and explanation["n_rows"] == 200
    ranking = ranked_importance(explanation)
    # One entry per original column: the one-hot encoded colour counts once.
    assert sorted(name for name, _, _ in ranking) == ["color", "noise", "x1", "x2"]
    assert ranking[-1][0] == "noise"
    # Near zero: within 2% of the top column's importance, either way.
    assert abs(ranking[-1][1]) < 0.02 * ranking[0][1]
    assert all(std >= 0 for _, _, std in ranking)


def test_the_same_seed_gives_the_same_numbers(signal_and_noise: pd.DataFrame) -> None:
    frame = signal_and_noise.drop(columns="spend")
    trained = train_model(frame.iloc[:400], "churned", seed=0)
    test = frame.iloc[400:]

    first = explain(trained.pipeline, trained.metadata, test, seed=3, n_repeats=2)
    again = explain(trained.pipeline, trained.metadata, test, seed=3, n_repeats=2)
    other = explain(trained.pipeline, trained.metadata, test, seed=4, n_repeats=2)

    assert first == again
    assert first != other
    assert json.loads(json.dumps(first)) == first  # plain JSON, ready for metadata


def test_it_rides_along_with_the_evaluation(signal_and_noise: pd.DataFrame) -> None:
    frame = signal_and_noise.drop(columns="spend")
    trained = train_model(frame.iloc[:400], "churned", seed=0)
    result = evaluate(trained.pipeline, trained.metadata, frame.iloc[400:])
    result.explanation = explain(trained.pipeline, trained.metadata, frame.iloc[400:])

    payload = result.to_dict()

    assert set(payload["explanation"]["permutation_importance"]["x1"]) == {
        "mean",
        "std",
    }


def test_rows_holding_one_class_have_no_explanation(
    signal_and_noise: pd.DataFrame,
) -> None:
    frame = signal_and_noise.drop(columns="spend")
    trained = train_model(frame.iloc[:400], "churned", seed=0)
    one_class = frame.iloc[400:][lambda df: df["churned"] == "yes"]

    assert explain(trained.pipeline, trained.metadata, one_class) is None


def test_bad_input_is_refused_in_one_sentence(signal_and_noise: pd.DataFrame) -> None:
    frame = signal_and_noise.drop(columns="spend")
    trained = train_model(frame.iloc[:400], "churned", seed=0)
    test = frame.iloc[400:]

    with pytest.raises(DataError, match="expected at least 1 shuffle"):
        explain(trained.pipeline, trained.metadata, test, n_repeats=0)
    with pytest.raises(DataError, match="'churned' is not in the evaluation data"):
        explain(trained.pipeline, trained.metadata, test.drop(columns="churned"))
    unseen = test.assign(churned="maybe")
    with pytest.raises(DataError, match="1 class\\(es\\) the model never saw"):
        explain(trained.pipeline, trained.metadata, unseen)

"""Hyperparameter trials: propose a small grid, score each on validation, keep the best.

Tuning is a stage of its own, after training and evaluation: a trial trains a model
and scores it with the evaluation stage's metrics, so it depends on both and neither
depends on it.

Each trial is independent (the pipeline fans them out with ``dsl.ParallelFor``), so a
trial carries everything needed to compare it with the others: its parameters, the
metric's name and a score where higher is always better.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from mlops_suite.errors import TrainingError
from mlops_suite.evaluation.metrics import evaluate
from mlops_suite.tasks import check_task, primary_metric
from mlops_suite.training.estimators import search_space_grid
from mlops_suite.training.train import train_model

# Scores equal to this many decimals are a tie: float noise must not pick the winner.
_SCORE_DECIMALS = 12


@dataclass(frozen=True)
class TrialResult:
    """One trial's outcome.

    Attributes:
        params: The complete hyperparameters the trial fitted with.
        score: The validation score, oriented so that higher is better.
        metric: The score's name, ``neg_`` prefixed when the metric was negated
            (e.g. ``roc_auc``, ``neg_rmse``).
    """

    params: dict[str, Any]
    score: float
    metric: str


def trial_grid(
    estimator: str | None, task: str, overrides: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Lists the hyperparameter combinations to try (3 to 6 per estimator).

    Args:
        estimator: The estimator's name; None or empty for the task's default.
        task: ``classification`` or ``regression``.
        overrides: Hyperparameters fixed in every combination; a fixed name is no
            longer searched.

    Returns:
        Complete hyperparameter dicts, without duplicates, in a stable order.

    Raises:
        TrainingError: Unknown task, estimator or hyperparameter.
    """
    return search_space_grid(estimator or None, check_task(task), overrides)


def run_trial(
    train_df: pd.DataFrame,
    validation_df: pd.DataFrame,
    label: str,
    *,
    task: str | None,
    estimator: str | None,
    params: Mapping[str, Any],
    seed: int,
    schema: Mapping[str, Any] | None = None,
) -> TrialResult:
    """Fits one combination on the train split and scores it on validation.

    Args:
        train_df: Rows to fit on.
        validation_df: Rows to score on.
        label: The label column.
        task: ``classification`` or ``regression``; None or empty to infer it.
        estimator: The estimator's name; None or empty for the task's default.
        params: This trial's hyperparameters.
        seed: The estimator's ``random_state``.
        schema: A parsed ``schema.json`` fixing each feature's kind.

    Returns:
        The trial's parameters and its validation score (ROC AUC, or negative RMSE).

    Raises:
        TrainingError: The model cannot be trained, or the validation split cannot
            define the metric (e.g. a single class).
    """
    trained = train_model(
        train_df,
        label,
        task=task or None,
        estimator=estimator or None,
        params=params,
        seed=seed,
        schema=schema,
    )
    resolved_task = trained.metadata["task"]
    evaluation = evaluate(trained.pipeline, trained.metadata, validation_df)
    name, higher_is_better = primary_metric(resolved_task)
    value = evaluation.metrics.get(name)
    if value is None:
        raise TrainingError(
            f"The validation split ({evaluation.n_rows} rows) cannot define {name} "
            "(does it hold a single class?); enlarge it or change the seed."
        )
    return TrialResult(
        params=dict(trained.metadata["hyperparameters"]),
        score=float(value) if higher_is_better else -float(value),
        metric=name if higher_is_better else f"neg_{name}",
    )


def _rank_key(trial: TrialResult) -> tuple[float, str]:
    # Best score first; among ties the smallest canonical JSON of the parameters, so
    # the order in which parallel trials come back never changes the winner.
    return (
        -round(trial.score, _SCORE_DECIMALS),
        json.dumps(trial.params, sort_keys=True, default=str),
    )


def rank_trials(trials: Sequence[TrialResult]) -> list[TrialResult]:
    """Orders trials best first, ties broken by their parameters' canonical JSON."""
    return sorted(trials, key=_rank_key)


def select_best(trials: Sequence[TrialResult]) -> TrialResult:
    """Picks the trial with the highest score.

    Args:
        trials: Results of trials scored with the same metric.

    Returns:
        The best trial; ties go to the smallest canonical JSON of the parameters.

    Raises:
        TrainingError: No trials, or trials scored with different metrics.
    """
    if not trials:
        raise TrainingError("No hyperparameter trial finished; expected at least one.")
    metrics = sorted({trial.metric for trial in trials})
    if len(metrics) > 1:
        raise TrainingError(
            f"Trials were scored with {len(metrics)} different metrics "
            f"({', '.join(metrics)}); expected one."
        )
    return rank_trials(trials)[0]


def trial_records(
    trials: Sequence[TrialResult], best: TrialResult
) -> list[dict[str, Any]]:
    """Every trial as the lineage records it, best first.

    Args:
        trials: All trial results.
        best: The selected trial.

    Returns:
        ``{"rank", "params", "metric", "score", "selected"}`` per trial, so a
        registered version can be traced to the trial that chose its parameters.
    """
    return [
        {
            "rank": rank,
            "params": dict(trial.params),
            "metric": trial.metric,
            "score": trial.score,
            "selected": trial == best,
        }
        for rank, trial in enumerate(rank_trials(trials), start=1)
    ]


def render_trials_markdown(trials: Sequence[TrialResult], best: TrialResult) -> str:
    """Renders every trial as a Markdown table, best first, the winner marked.

    Args:
        trials: All trial results.
        best: The selected trial.

    Returns:
        Markdown text.
    """
    ranked = rank_trials(trials)
    metric = best.metric
    names = sorted({key for trial in ranked for key in trial.params})
    lines = [
        f"# Hyperparameter trials ({len(ranked)})",
        "",
        f"Best {metric}: **{best.score:.4f}** with "
        f"`{json.dumps(best.params, sort_keys=True, default=str)}`.",
        "",
        "| rank | " + " | ".join([metric, *names]) + " |",
        "|" + "---|" * (len(names) + 2),
    ]
    for rank, trial in enumerate(ranked, start=1):
        marker = f"**{rank}**" if trial == best else str(rank)
        cells = [json.dumps(trial.params.get(name), default=str) for name in names]
        lines.append(f"| {marker} | {trial.score:.4f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

"""Training components: hyperparameter trials and the final fit.

Trials fan out with ``dsl.ParallelFor`` over :func:`propose_trials`'s list and fan in
with ``dsl.Collected`` into :func:`select_best_trial`; the winner's parameters feed
:func:`train_model`. Bodies only move artifacts in and out of
:mod:`mlops_suite.training`.
"""

from typing import List

from kfp.dsl import (
    Artifact,
    Dataset,
    Input,
    Markdown,
    Metrics,
    Model,
    Output,
    OutputPath,
)


def propose_trials(estimator: str, task: str, params_json: str) -> List[str]:
    """Lists the hyperparameter combinations to try.

    Args:
        estimator: The estimator's name (e.g. ``random_forest``); empty for the task's
            default.
        task: ``classification`` or ``regression``.
        params_json: Fixed hyperparameters as a JSON object; they override every
            combination of the search space.

    Returns:
        One JSON object of hyperparameters per trial.
    """
    import json

    from mlops_suite.components.step import failing_clearly
    from mlops_suite.tuning import trial_grid

    with failing_clearly("propose_trials"):
        grid = trial_grid(estimator or None, task, json.loads(params_json or "{}"))
    return [json.dumps(params, sort_keys=True) for params in grid]


def run_trial(
    train: Input[Dataset],
    validation: Input[Dataset],
    schema: Input[Artifact],
    label: str,
    task: str,
    estimator: str,
    trial_params: str,
    seed: int,
    trial: Output[Metrics],
) -> str:
    """Fits one hyperparameter combination and scores it on the validation split.

    Args:
        train: Rows to fit on.
        validation: Rows to score on.
        schema: The validated schema (column types).
        label: The label column.
        task: ``classification`` or ``regression``.
        estimator: The estimator's name; empty for the task's default.
        trial_params: This trial's hyperparameters as a JSON object.
        seed: The random seed.
        trial: The trial's validation score.

    Returns:
        The trial as JSON: parameters, metric name and score (higher is better).
    """
    import json

    from mlops_suite.artifacts import DATASET_FILE, SCHEMA_FILE
    from mlops_suite.components.step import failing_clearly, read_json
    from mlops_suite.data.ingest import read_dataset
    from mlops_suite.tuning import run_trial as fit_and_score

    with failing_clearly("run_trial"):
        result = fit_and_score(
            read_dataset(f"{train.path}/{DATASET_FILE}"),
            read_dataset(f"{validation.path}/{DATASET_FILE}"),
            label,
            task=task,
            estimator=estimator or None,
            params=json.loads(trial_params),
            seed=seed,
            schema=read_json(schema.path, SCHEMA_FILE),
        )
    trial.log_metric(result.metric, result.score)
    trial.metadata["params"] = trial_params
    return json.dumps(
        {"params": result.params, "metric": result.metric, "score": result.score},
        sort_keys=True,
    )


def select_best_trial(
    trials: List[str],
    report: Output[Markdown],
    ranked_trials: OutputPath(str),  # type: ignore[valid-type]
) -> str:
    """Picks the trial with the best validation score.

    Args:
        trials: Every trial's JSON result, collected from the parallel trials.
        report: A table of every trial's parameters and score, best first.
        ranked_trials: Every trial (rank, parameters, metric, score, whether it was
            selected) as a JSON list, best first; registration records it.

    Returns:
        The best trial's hyperparameters as a JSON object.
    """
    import json

    from mlops_suite.components.step import failing_clearly, write_text
    from mlops_suite.tuning import (
        TrialResult,
        render_trials_markdown,
        select_best,
        trial_records,
    )

    with failing_clearly("select_best_trial"):
        results = [TrialResult(**json.loads(item)) for item in trials]
        best = select_best(results)
    write_text(report.path, render_trials_markdown(results, best))
    write_text(ranked_trials, json.dumps(trial_records(results, best), sort_keys=True))
    return json.dumps(best.params, sort_keys=True)


def train_model(
    train: Input[Dataset],
    schema: Input[Artifact],
    label: str,
    task: str,
    estimator: str,
    params_json: str,
    seed: int,
    model: Output[Model],
) -> None:
    """Fits the scikit-learn Pipeline (preprocessing and estimator) on the train split.

    Args:
        train: Rows to fit on.
        schema: The validated schema, which fixes each feature's type.
        label: The label column.
        task: ``classification`` or ``regression``.
        estimator: The estimator's name; empty for the task's default.
        params_json: Hyperparameters as a JSON object (the best trial's when tuned).
        seed: The random seed; the same data, parameters and seed give a
            byte-identical ``model.joblib``.
        model: A folder with exactly one ``model.joblib`` and ``metadata.json``, the
            layout KServe's sklearn runtime and Vertex AI's prebuilt container load.
    """
    import json

    from mlops_suite.artifacts import DATASET_FILE, SCHEMA_FILE
    from mlops_suite.components.step import failing_clearly, read_json
    from mlops_suite.data.ingest import read_dataset
    from mlops_suite.model_folder import save_model
    from mlops_suite.training.train import train_model as fit

    with failing_clearly("train_model"):
        trained = fit(
            read_dataset(f"{train.path}/{DATASET_FILE}"),
            label,
            task=task,
            estimator=estimator or None,
            params=json.loads(params_json or "{}"),
            seed=seed,
            schema=read_json(schema.path, SCHEMA_FILE),
            data_sha256=str(train.metadata.get("source_sha256", "")),
        )
        save_model(trained, model.path)
    model.metadata.update(
        {
            "framework": "sklearn",
            "estimator": trained.metadata["estimator"],
            "model_sha256": trained.metadata["model_sha256"],
            "data_sha256": trained.metadata["data_sha256"],
        }
    )

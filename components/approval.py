"""Approval components: infra validation in the serving runtime, then the gate."""

from kfp.dsl import Artifact, Dataset, Input, Model, Output, OutputPath


def approve_model(
    model: Input[Model],
    test: Input[Dataset],
    evaluation: Input[Artifact],
    registry_uri: str,
    model_name: str,
    thresholds_json: str,
    max_regression: float,
    blessing: Output[Artifact],
    reason: OutputPath(str),  # type: ignore[valid-type]
) -> bool:
    """Decides whether the candidate may replace the current champion.

    The candidate must meet every absolute threshold and must not be worse than the
    champion by more than ``max_regression``, with the champion re-scored on this same
    test split so the comparison is fair. With no champion, the thresholds alone
    decide.

    Args:
        model: The candidate model folder.
        test: The held-out rows the candidate was evaluated on.
        evaluation: The candidate's evaluation (``evaluation.json``).
        registry_uri: The model registry (a path or fsspec URI).
        model_name: The registered model's name.
        thresholds_json: Absolute bounds as a JSON object, e.g.
            ``{"min_roc_auc": 0.8}`` or ``{"max_rmse": 500}``.
        max_regression: The tolerated relative drop of the primary metric against the
            champion (0.01 = 1%).
        blessing: The decision, its reason and every check (``blessing.json``).
        reason: One sentence that says why.

    Returns:
        True when approved. (A single return value: ``dsl.If`` on a task's default
        output is what every runner, ``kfp.local`` included, evaluates.)
    """
    import json

    from mlops_suite.approval import Thresholds, decide
    from mlops_suite.artifacts import BLESSING_FILE, DATASET_FILE, EVALUATION_FILE
    from mlops_suite.components.step import failing_clearly, read_json, write_json
    from mlops_suite.data.ingest import read_dataset
    from mlops_suite.evaluation.metrics import evaluate
    from mlops_suite.registry import ModelRegistry
    from mlops_suite.training.train import load_model

    with failing_clearly("approve_model"):
        candidate = read_json(evaluation.path, EVALUATION_FILE)
        task = load_model(model.path).metadata["task"]
        thresholds = Thresholds.from_dict(
            {**json.loads(thresholds_json or "{}"), "max_regression": max_regression}
        )
        registry = ModelRegistry(registry_uri)
        champion = registry.champion(model_name)
        champion_metrics = None
        if champion is not None:
            champion_dir = registry.fetch(model_name, champion.version)
            rescored = load_model(champion_dir)
            champion_metrics = evaluate(
                rescored.pipeline,
                rescored.metadata,
                read_dataset(f"{test.path}/{DATASET_FILE}"),
            ).to_dict()["metrics"]
        decision = decide(
            task,
            candidate["metrics"],
            thresholds=thresholds,
            champion_metrics=champion_metrics,
            champion_version=champion.version if champion else None,
        )
    write_json(blessing.path, BLESSING_FILE, decision.to_dict())
    blessing.metadata.update({"approved": decision.approved, "reason": decision.reason})
    with open(reason, "w", encoding="utf-8") as handle:
        handle.write(decision.reason)
    print(decision.reason)
    return decision.approved

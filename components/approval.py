"""Approval components: infra validation in the serving runtime, then the gate."""

from kfp.dsl import Artifact, Dataset, Input, Model, Output, OutputPath


def infra_validate_model(
    model: Input[Model],
    test: Input[Dataset],
    model_name: str,
    max_rows: int,
    blessing: Output[Artifact],
) -> bool:
    """Serves the candidate in the KServe sklearn runtime and checks its answers.

    Starts the kserve ModelServer on 127.0.0.1 with the model loaded exactly as
    KServe's stock sklearn runtime loads it (one model file, ``joblib.load``, the
    runtime's request decoding), sends V1 and V2 requests built from test rows, and
    requires the answers to equal the predictions made in process.

    Args:
        model: The candidate model folder.
        test: Held-out rows to build the requests from.
        model_name: The name the model is served under.
        max_rows: How many test rows to send.
        blessing: Every check and its outcome (``blessing.json``).

    Returns:
        True when the model loads and answers correctly in the serving runtime.
    """
    from mlops_suite.artifacts import BLESSING_FILE, DATASET_FILE
    from mlops_suite.components.step import failing_clearly, write_json
    from mlops_suite.data.ingest import read_dataset
    from mlops_suite.serving.infra_validation import infra_validate

    with failing_clearly("infra_validate_model"):
        result = infra_validate(
            model.path,
            read_dataset(f"{test.path}/{DATASET_FILE}"),
            model_name=model_name,
            max_rows=max_rows,
        )
    write_json(blessing.path, BLESSING_FILE, result.to_dict())
    blessing.metadata.update({"blessed": result.blessed, "reason": result.reason})
    print(result.reason)
    return result.blessed


def approve_model(
    model: Input[Model],
    test: Input[Dataset],
    evaluation: Input[Artifact],
    infra_blessing: Input[Artifact],
    registry_uri: str,
    model_name: str,
    thresholds_json: str,
    max_regression: float,
    blessing: Output[Artifact],
    reason: OutputPath(str),  # type: ignore[valid-type]
    pipeline_run_id: str = "",
) -> bool:
    """Decides whether the candidate may replace the current champion.

    The candidate must have passed infra validation, meet every absolute threshold,
    and not be worse than the champion by more than ``max_regression``, with the
    champion re-scored on this same test split so the comparison is fair. With no
    champion, the thresholds alone decide.

    Args:
        model: The candidate model folder.
        test: The held-out rows the candidate was evaluated on.
        evaluation: The candidate's evaluation (``evaluation.json``).
        infra_blessing: The infra validation's outcome (``blessing.json``).
        registry_uri: The model registry (a path or fsspec URI).
        model_name: The registered model's name.
        thresholds_json: Absolute bounds as a JSON object, e.g.
            ``{"min_roc_auc": 0.8}`` or ``{"max_rmse": 500}``.
        max_regression: The tolerated relative drop of the primary metric against the
            champion (0.01 = 1%).
        blessing: The decision, its reason and every check (``blessing.json``).
        reason: One sentence that says why.
        pipeline_run_id: This run; when given, the decision (approved, rejected,
            or unchanged when the candidate is identical to the champion) and its
            reason are recorded in the registry under ``runs/<run id>/``, where the
            run's exit step reads them. Empty to record nothing.

    Returns:
        True when approved. (A single return value: ``dsl.If`` on a task's default
        output is what every runner, ``kfp.local`` included, evaluates.)
    """
    from mlops_suite.approval import approve
    from mlops_suite.artifacts import (
        BLESSING_FILE,
        DATASET_FILE,
        EVALUATION_FILE,
        METADATA_FILE,
    )
    from mlops_suite.components.step import failing_clearly, read_json, write_json
    from mlops_suite.data.ingest import read_dataset

    with failing_clearly("approve_model"):
        candidate = read_json(model.path, METADATA_FILE)
        decision = approve(
            candidate["task"],
            read_json(evaluation.path, EVALUATION_FILE)["metrics"],
            read_dataset(f"{test.path}/{DATASET_FILE}"),
            registry_uri=registry_uri,
            model_name=model_name,
            thresholds=thresholds_json,
            max_regression=max_regression,
            infra=read_json(infra_blessing.path, BLESSING_FILE),
            pipeline_run_id=pipeline_run_id,
            candidate_sha256=candidate.get("model_sha256"),
        )
    write_json(blessing.path, BLESSING_FILE, decision.to_dict())
    blessing.metadata.update({"approved": decision.approved, "reason": decision.reason})
    with open(reason, "w", encoding="utf-8") as handle:
        handle.write(decision.reason)
    print(decision.reason)
    return decision.approved

"""Registry component: record an approved model as an immutable version with lineage."""

from typing import NamedTuple

from kfp.dsl import Artifact, Input, Markdown, Metrics, Model, Output

# Spelled out in each signature: KFP ships only a component's own source to the step,
# so a return type defined beside it would not exist there.


def register_model(
    model: Input[Model],
    blessing: Input[Artifact],
    evaluation: Input[Artifact],
    schema: Input[Artifact],
    statistics: Input[Artifact],
    registry_uri: str,
    model_name: str,
    component_image: str,
    pipeline_run_id: str,
    registration: Output[Metrics],
    model_card: Output[Markdown],
    approval: str = "auto",
    trials_json: str = "[]",
    intended_use: str = "",
) -> NamedTuple(  # type: ignore[valid-type]
    "Registered", [("version", int), ("new_version", bool)]
):
    """Adds the approved model to the registry: the champion, or a pending challenger.

    Writes ``<registry>/<model_name>/v<N>/model.joblib``, ``calibration.json`` (a
    classifier's, for performance estimation), ``metadata.json`` with the lineage
    (data and schema hashes, hyperparameters, metrics overall and per slice, approval
    reason and checks, every tuning trial, intended use, library versions, git
    commit, component image, pipeline run, time), the permutation importance
    (``explanation``) and the performance reference, and ``model_card.md``; then,
    with ``auto`` approval, points ``champion.json`` at it atomically; with
    ``manual`` approval it becomes the ``challenger`` (status pending) and waits for
    ``mlops registry approve``. Each change is recorded in the registry's history
    with the pipeline run as its actor. A model byte-identical to the champion adds
    no version.

    Args:
        model: The approved model folder.
        blessing: The approval decision; registration refuses a model without one.
        evaluation: The model's evaluation, recorded in the lineage, with its
            performance reference and calibrator.
        schema: The schema the training data was validated against.
        statistics: The training data's profile, the reference for monitoring.
        registry_uri: The model registry (a path or fsspec URI).
        model_name: The registered model's name.
        component_image: The image the components ran in.
        pipeline_run_id: The run that produced the model.
        registration: The registered version, whether it is new, and its status.
        model_card: The version's model card (the champion's when no version was
            added).
        approval: ``auto`` (the gate's approval promotes) or ``manual`` (a person
            approves).
        trials_json: Every hyperparameter trial of the run as a JSON list, best
            first; ``[]`` when the run did not tune.
        intended_use: What the model is for, shown in the model card; empty when
            not given.

    Returns:
        ``version``: the champion's version after registration, or the pending
        challenger's; ``new_version``: whether this run added it (False for a model
        byte-identical to the champion).
    """
    import json
    import os
    from collections import namedtuple

    from mlops_suite.artifacts import (
        BLESSING_FILE,
        CALIBRATION_FILE,
        EVALUATION_FILE,
        SCHEMA_FILE,
        STATISTICS_FILE,
    )
    from mlops_suite.components.step import failing_clearly, read_json, write_text
    from mlops_suite.model_card import build_model_card
    from mlops_suite.monitoring.performance_reference import REFERENCE_KEY
    from mlops_suite.registration import register_approved
    from mlops_suite.registry import ModelRegistry

    with failing_clearly("register_model"):
        evaluated = read_json(evaluation.path, EVALUATION_FILE)
        calibrated = os.path.isfile(os.path.join(evaluation.path, CALIBRATION_FILE))
        result = register_approved(
            registry_uri,
            model_name,
            model.path,
            decision=read_json(blessing.path, BLESSING_FILE),
            metrics=evaluated["metrics"],
            schema=read_json(schema.path, SCHEMA_FILE),
            statistics=read_json(statistics.path, STATISTICS_FILE),
            component_image=component_image,
            pipeline_run_id=pipeline_run_id,
            approval=approval,
            evaluation=evaluated,
            trials=json.loads(trials_json or "[]"),
            intended_use=intended_use,
            performance_reference=evaluated.get(REFERENCE_KEY),
            calibration=(
                read_json(evaluation.path, CALIBRATION_FILE) if calibrated else None
            ),
        )
        registered = ModelRegistry(registry_uri).metadata(model_name, result.version)
    write_text(model_card.path, build_model_card(registered, model_name=model_name))
    registration.log_metric("version", result.version)
    registration.log_metric("new_version", 1.0 if result.created else 0.0)
    registration.metadata.update(
        {"uri": result.uri, "model_name": model_name, "status": result.status}
    )
    print(
        f"registered {model_name} v{result.version} ({result.status})"
        if result.created
        else f"{model_name} is identical to champion v{result.version}: no new version"
    )
    Registered = namedtuple("Registered", ["version", "new_version"])
    return Registered(result.version, result.created)


def skip_registration() -> NamedTuple(  # type: ignore[valid-type]
    "Registered", [("version", int), ("new_version", bool)]
):
    """Stands in for registration when the candidate was not approved.

    Returns:
        ``version`` 0 and ``new_version`` False: nothing was registered.
    """
    from collections import namedtuple

    Registered = namedtuple("Registered", ["version", "new_version"])
    return Registered(0, False)

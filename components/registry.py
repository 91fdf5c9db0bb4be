"""Registry component: record an approved model as an immutable version with lineage."""

from typing import NamedTuple

from kfp.dsl import Artifact, Input, Metrics, Model, Output

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
    approval: str = "auto",
) -> NamedTuple(  # type: ignore[valid-type]
    "Registered", [("version", int), ("new_version", bool)]
):
    """Adds the approved model to the registry: the champion, or a pending challenger.

    Writes ``<registry>/<model_name>/v<N>/model.joblib`` and ``metadata.json`` with
    the lineage (data and schema hashes, hyperparameters, metrics, approval reason,
    package version, git commit, component image, pipeline run, time), then, with
    ``auto`` approval, points ``champion.json`` at it atomically; with ``manual``
    approval it becomes the ``challenger`` (status pending) and waits for
    ``mlops registry approve``. Each change is recorded in the registry's history
    with the pipeline run as its actor. A model byte-identical to the champion adds
    no version.

    Args:
        model: The approved model folder.
        blessing: The approval decision; registration refuses a model without one.
        evaluation: The model's evaluation, recorded in the lineage.
        schema: The schema the training data was validated against.
        statistics: The training data's profile, the reference for monitoring.
        registry_uri: The model registry (a path or fsspec URI).
        model_name: The registered model's name.
        component_image: The image the components ran in.
        pipeline_run_id: The run that produced the model.
        registration: The registered version, whether it is new, and its status.
        approval: ``auto`` (the gate's approval promotes) or ``manual`` (a person
            approves).

    Returns:
        ``version``: the champion's version after registration, or the pending
        challenger's; ``new_version``: whether this run added it (False for a model
        byte-identical to the champion).
    """
    from collections import namedtuple

    from mlops_suite.artifacts import (
        BLESSING_FILE,
        EVALUATION_FILE,
        SCHEMA_FILE,
        STATISTICS_FILE,
    )
    from mlops_suite.components.step import failing_clearly, read_json
    from mlops_suite.registration import register_approved

    with failing_clearly("register_model"):
        result = register_approved(
            registry_uri,
            model_name,
            model.path,
            decision=read_json(blessing.path, BLESSING_FILE),
            metrics=read_json(evaluation.path, EVALUATION_FILE)["metrics"],
            schema=read_json(schema.path, SCHEMA_FILE),
            statistics=read_json(statistics.path, STATISTICS_FILE),
            component_image=component_image,
            pipeline_run_id=pipeline_run_id,
            approval=approval,
        )
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

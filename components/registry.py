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
) -> NamedTuple(  # type: ignore[valid-type]
    "Registered", [("version", int), ("new_version", bool)]
):
    """Adds the approved model to the registry and makes it the champion.

    Writes ``<registry>/<model_name>/v<N>/model.joblib``, ``calibration.json`` (a
    classifier's, for performance estimation) and ``metadata.json`` with the
    performance reference and the lineage (data and schema hashes, hyperparameters,
    metrics, approval reason, package version, git commit, component image, pipeline
    run, time), then points ``champion.json`` at it atomically. A model
    byte-identical to the champion adds no version.

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
        registration: The registered version and whether it is new.

    Returns:
        ``version``: the champion's version after registration; ``new_version``:
        whether this run added it (False for a model byte-identical to the champion).
    """
    import os
    from collections import namedtuple

    from mlops_suite.artifacts import (
        BLESSING_FILE,
        CALIBRATION_FILE,
        EVALUATION_FILE,
        SCHEMA_FILE,
        STATISTICS_FILE,
    )
    from mlops_suite.components.step import failing_clearly, read_json
    from mlops_suite.monitoring.performance_reference import REFERENCE_KEY
    from mlops_suite.registration import register_approved

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
            performance_reference=evaluated.get(REFERENCE_KEY),
            calibration=(
                read_json(evaluation.path, CALIBRATION_FILE) if calibrated else None
            ),
        )
    registration.log_metric("version", result.version)
    registration.log_metric("new_version", 1.0 if result.created else 0.0)
    registration.metadata.update({"uri": result.uri, "model_name": model_name})
    print(
        f"registered {model_name} v{result.version}"
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

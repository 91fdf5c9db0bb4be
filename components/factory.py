"""Turn the component functions into KFP components that run in one image.

The image is a compile-time choice: :func:`build_components` takes it as an argument
(from ``mlops compile --image`` or a pipeline factory) and nothing reads it from the
environment at import time, where it would be baked into the YAML silently.

The components are KFP *lightweight* Python components whose ``base_image`` is the
suite's image, which has this package installed; their bodies import it. (A
``target_image`` "containerized" component would be refused by
``kfp.local.SubprocessRunner``, the embedded default runner.)
"""

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from kfp import dsl

from mlops_suite import __version__
from mlops_suite.components import (
    approval,
    data,
    deployment,
    evaluation,
    export,
    monitoring,
    notification,
    registry,
    scoring,
    training,
)

# The suite's published component image; `make image` builds it with this tag.
DEFAULT_IMAGE = f"ghcr.io/kfp-mlops-suite/components:{__version__}"


def use_given_params(
    params_json: str,
    ranked_trials: dsl.OutputPath(str),  # type: ignore[valid-type]
) -> str:
    """Passes the given hyperparameters through when no trials run.

    Args:
        params_json: Hyperparameters as a JSON object.
        ranked_trials: An empty JSON list: no trial chose the parameters.

    Returns:
        The same JSON object.
    """
    with open(ranked_trials, "w", encoding="utf-8") as handle:
        handle.write("[]")
    return params_json


@dataclass(frozen=True)
class Components:
    """Every component of the suite, built for one image."""

    image: str
    ingest_data: Any
    profile_data: Any
    validate_data: Any
    split_data: Any
    propose_trials: Any
    run_trial: Any
    select_best_trial: Any
    use_given_params: Any
    train_model: Any
    evaluate_model: Any
    infra_validate_model: Any
    approve_model: Any
    register_model: Any
    skip_registration: Any
    export_onnx: Any
    deploy_model: Any
    detect_drift: Any
    roll_back_champion: Any
    batch_predict: Any
    notify: Any


@lru_cache(maxsize=8)
def build_components(image: str = DEFAULT_IMAGE) -> Components:
    """Builds every component to run in ``image``.

    Args:
        image: The container image holding this package, e.g.
            ``ghcr.io/kfp-mlops-suite/components:0.1.0``.

    Returns:
        The components, ready to compose into pipelines.
    """

    def component(func: Any) -> Any:
        return dsl.component(func, base_image=image, install_kfp_package=False)

    return Components(
        image=image,
        ingest_data=component(data.ingest_data),
        profile_data=component(data.profile_data),
        validate_data=component(data.validate_data),
        split_data=component(data.split_data),
        propose_trials=component(training.propose_trials),
        run_trial=component(training.run_trial),
        select_best_trial=component(training.select_best_trial),
        use_given_params=component(use_given_params),
        train_model=component(training.train_model),
        evaluate_model=component(evaluation.evaluate_model),
        infra_validate_model=component(approval.infra_validate_model),
        approve_model=component(approval.approve_model),
        register_model=component(registry.register_model),
        skip_registration=component(registry.skip_registration),
        export_onnx=component(export.export_onnx),
        deploy_model=component(deployment.deploy_model),
        detect_drift=component(monitoring.detect_drift),
        roll_back_champion=component(monitoring.roll_back_champion),
        batch_predict=component(scoring.batch_predict),
        notify=component(notification.notify),
    )

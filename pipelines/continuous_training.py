"""The continuous-training pipeline: monitor, and retrain and redeploy when data moves.

```
detect_drift (latest window vs the champion's training profile; decay with labels)
  └─ dsl.If(retrain) ─ training pipeline (nested): ... approve against the champion
                       ─ register ─ (deploy) canary ─ promote
```

Each run leaves its decision and the reason in the ``decision`` (Markdown) and
``report`` (HTML) artifacts of ``detect_drift``, and, when it retrained, the approval
reason of the nested training run.
"""

from functools import lru_cache, partial
from typing import Any, NamedTuple

from kfp import dsl

from mlops_suite.components.factory import DEFAULT_IMAGE, build_components
from mlops_suite.pipelines.platform import PORTABLE, on_target
from mlops_suite.pipelines.training import DEFAULT_THRESHOLDS, build_training_pipeline

PIPELINE_NAME = "mlops-continuous-training"


class MonitoringOutputs(NamedTuple):
    """What a continuous-training run returns: whether it retrained, and why."""

    retrain: bool
    reason: str


@lru_cache(maxsize=8)
def build_continuous_training_pipeline(
    image: str = DEFAULT_IMAGE, target: str = PORTABLE
) -> Any:
    """Builds the continuous-training pipeline with every step running in ``image``.

    Args:
        image: The component image (a compile-time setting).
        target: ``portable`` or ``kfp`` (see :mod:`mlops_suite.pipelines.platform`).

    Returns:
        The KFP pipeline.
    """
    c = build_components(image)
    training = build_training_pipeline(image, target)
    place = partial(on_target, target)

    @dsl.pipeline(
        name=PIPELINE_NAME,
        description=(
            "Check the latest window of served data for drift (and decay, with "
            "labels) against the champion; when it moved, retrain, approve against "
            "the champion, register and redeploy."
        ),
    )
    def continuous_training(
        current_uri: str,
        training_data_uri: str,
        label: str,
        model_name: str,
        registry_uri: str,
        drift_thresholds_json: str = "",
        labels_uri: str = "",
        label_column: str = "label",
        force: bool = False,
        task: str = "",
        estimator: str = "",
        params_json: str = "{}",
        tune: bool = False,
        seed: int = 0,
        thresholds_json: str = DEFAULT_THRESHOLDS,
        max_regression: float = 0.01,
        deploy: bool = False,
        serving_namespace: str = "kubeflow",
        serving_mode: str = "raw",
        storage_uri: str = "",
        canary_traffic_percent: int = 10,
    ) -> MonitoringOutputs:
        """Retrains, approves, registers and redeploys when the data has moved.

        Args:
            current_uri: The latest window of served data (Parquet batches of the
                payload sink, a Parquet or CSV file).
            training_data_uri: Labelled data to retrain on.
            label: The column to predict.
            model_name: The registered model's name.
            registry_uri: The model registry.
            drift_thresholds_json: Drift thresholds as JSON; empty for defaults.
            labels_uri: Ground truth for logged predictions, for the decay check.
            label_column: The column of labels_uri holding the truth.
            force: Retrain whatever the data says.
            task: classification or regression; empty to infer it.
            estimator: The estimator's name; empty for the task's default.
            params_json: Hyperparameters as a JSON object.
            tune: Run hyperparameter trials.
            seed: Random seed.
            thresholds_json: Absolute approval bounds as a JSON object.
            max_regression: Tolerated relative drop against the champion.
            deploy: Serve an approved new version with KServe.
            serving_namespace: The namespace of the InferenceService.
            serving_mode: raw or serverless (canary rollout, then promotion).
            storage_uri: The registry as the cluster reads it; empty for
                registry_uri.
            canary_traffic_percent: A new version's traffic share until promoted.
        """
        monitored = place(
            c.detect_drift(
                current_uri=current_uri,
                registry_uri=registry_uri,
                model_name=model_name,
                thresholds_json=drift_thresholds_json,
                labels_uri=labels_uri,
                label_column=label_column,
                force=force,
            )
        )
        monitored.set_caching_options(False)
        with dsl.If(monitored.outputs["Output"] == True, name="retrain"):  # noqa: E712
            training(
                data_uri=training_data_uri,
                label=label,
                model_name=model_name,
                registry_uri=registry_uri,
                task=task,
                estimator=estimator,
                params_json=params_json,
                tune=tune,
                seed=seed,
                thresholds_json=thresholds_json,
                max_regression=max_regression,
                deploy=deploy,
                serving_namespace=serving_namespace,
                serving_mode=serving_mode,
                storage_uri=storage_uri,
                canary_traffic_percent=canary_traffic_percent,
            )
        return MonitoringOutputs(
            retrain=monitored.outputs["Output"], reason=monitored.outputs["reason"]
        )

    return continuous_training

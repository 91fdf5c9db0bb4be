"""The continuous-training pipeline: monitor, and retrain and redeploy when data moves.

```
detect_drift (the champion's performance, estimated or realized, then drift of the
              features it relies on)
  └─ dsl.If(retrain) ─ training pipeline (nested): ... approve against the champion
                       ─ register ─ (deploy) canary ─ promote
roll_back_champion (performance fell, candidate refused, labels: the previous
                    champion returns if it scores better on the labelled window)
```

Each run leaves its decision, the signal that decided and the reason in the
``decision`` (Markdown) and ``report`` (HTML) artifacts of ``detect_drift``, and, when
it retrained, the approval reason of the nested training run.

The published pipeline (:func:`build_continuous_training_pipeline`) runs these steps
(:func:`build_continuous_training_steps`) inside a ``dsl.ExitHandler`` whose ``notify``
step tells the ``notify_url`` webhook how the run ended; it nests the training steps,
so a retraining run sends one message.
"""

from functools import lru_cache, partial
from typing import Any, NamedTuple

from kfp import dsl

from mlops_suite.components.factory import DEFAULT_IMAGE, build_components
from mlops_suite.pipelines.notifying import with_notification
from mlops_suite.pipelines.platform import PORTABLE, on_target
from mlops_suite.pipelines.training import DEFAULT_THRESHOLDS, build_training_steps

PIPELINE_NAME = "mlops-continuous-training"
STEPS_NAME = f"{PIPELINE_NAME}-steps"
DESCRIPTION = (
    "Judge the champion on the latest window of served data: its performance "
    "(estimated, or realized with labels), then drift of the features it relies on; "
    "when it fell or moved, retrain, approve against the champion, register and "
    "redeploy, or roll back."
)


class MonitoringOutputs(NamedTuple):
    """What a continuous-training run returns: whether it retrained, why, and what.

    ``version`` is the champion's version after a retraining run, or with manual
    approval the pending challenger's (0 when it did not retrain or the candidate was
    not approved), and ``new_version`` whether the run added it. ``rolled_back`` says
    whether the previous champion became champion again, and ``rollback`` why or
    why not.
    """

    retrain: bool
    reason: str
    version: int
    new_version: bool
    rolled_back: bool
    rollback: str


@lru_cache(maxsize=8)
def build_continuous_training_pipeline(
    image: str = DEFAULT_IMAGE, target: str = PORTABLE
) -> Any:
    """Builds the continuous-training pipeline: its steps, then the ``notify`` step.

    It takes the parameters of :func:`build_continuous_training_steps` plus
    ``notify_url``, and returns nothing (KFP takes no outputs from inside an
    ``ExitHandler``).

    Args:
        image: The component image (a compile-time setting).
        target: ``portable`` or ``kfp`` (see :mod:`mlops_suite.pipelines.platform`).

    Returns:
        The KFP pipeline, ready to compile.
    """
    return with_notification(
        build_continuous_training_steps(image, target),
        name=PIPELINE_NAME,
        description=f"{DESCRIPTION} Tell a webhook how the run ended.",
        components=build_components(image),
        place=partial(on_target, target),
    )


@lru_cache(maxsize=8)
def build_continuous_training_steps(
    image: str = DEFAULT_IMAGE, target: str = PORTABLE
) -> Any:
    """Builds the continuous-training steps, with every step running in ``image``.

    ``mlops run continuous-training`` runs them with ``kfp.local`` and reads their
    outputs.

    Args:
        image: The component image (a compile-time setting).
        target: ``portable`` or ``kfp`` (see :mod:`mlops_suite.pipelines.platform`).

    Returns:
        The KFP pipeline, whose outputs are :class:`MonitoringOutputs`.
    """
    c = build_components(image)
    training = build_training_steps(image, target)
    place = partial(on_target, target)

    @dsl.pipeline(name=STEPS_NAME, description=DESCRIPTION)
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
        ignore_features: str = "",
        performance_thresholds_json: str = "",
        task: str = "",
        schema_uri: str = "",
        estimator: str = "",
        params_json: str = "{}",
        tune: bool = False,
        seed: int = 0,
        test_fraction: float = 0.2,
        validation_fraction: float = 0.2,
        slice_column: str = "",
        intended_use: str = "",
        thresholds_json: str = DEFAULT_THRESHOLDS,
        max_regression: float = 0.01,
        unseen_tolerance: float = -1.0,
        export_onnx: bool = False,
        deploy: bool = False,
        serving_namespace: str = "kubeflow",
        serving_mode: str = "raw",
        storage_uri: str = "",
        canary_traffic_percent: int = 10,
        serving_service_account: str = "kfp-mlops-model-storage",
        deploy_timeout_s: int = 600,
        serve_probabilities: bool = False,
        log_storage: str = "",
        approval: str = "auto",
    ) -> MonitoringOutputs:
        """Retrains, approves, registers and redeploys when the champion fell or the
        data it relies on moved; rolls back when retraining fails and the previous
        champion does better.

        Args:
            current_uri: The latest window of served data (Parquet batches of the
                payload sink, a Parquet or CSV file).
            training_data_uri: Labelled data to retrain on.
            label: The column to predict.
            model_name: The registered model's name.
            registry_uri: The model registry.
            drift_thresholds_json: Monitoring thresholds as JSON (drift per
                feature, ignore_features, performance, min_importance); empty for
                defaults.
            labels_uri: Ground truth for logged predictions: realized performance
                decides, and a rollback can compare versions on it.
            label_column: The column of labels_uri holding the truth.
            force: Retrain whatever the data says.
            ignore_features: Columns never compared, separated by commas (year,id).
            performance_thresholds_json: A threshold per metric as JSON, e.g.
                {"accuracy": 0.85}; empty for those of the performance reference.
            task: classification or regression; empty to infer it.
            schema_uri: A curated schema.json to validate the new data against;
                empty to use the schema inferred from it.
            estimator: The estimator's name; empty for the task's default.
            params_json: Hyperparameters as a JSON object.
            tune: Run hyperparameter trials.
            seed: Random seed.
            test_fraction: Share of rows held out for evaluation and approval.
            validation_fraction: Share of rows held out for trials (when tuning).
            slice_column: A categorical feature to slice the metrics by.
            intended_use: What the model is for, written into its model card.
            thresholds_json: Absolute approval bounds as a JSON object.
            max_regression: Tolerated relative drop against the champion.
            unseen_tolerance: Share of unseen categories tolerated in every
                categorical column; negative to use the schema's bounds.
            export_onnx: Also convert the registered version to ONNX.
            deploy: Serve an approved new version with KServe.
            serving_namespace: The namespace of the InferenceService.
            serving_mode: raw or serverless (canary rollout, then promotion).
            storage_uri: The registry as the cluster reads it; empty for
                registry_uri.
            canary_traffic_percent: A new version's traffic share until promoted.
            serving_service_account: The ServiceAccount with storage credentials.
            deploy_timeout_s: Seconds each rollout step may take to become Ready.
            serve_probabilities: Serve class probabilities (KServe's
                PREDICT_PROBA=true) instead of classes; classifiers only.
            log_storage: A bucket URI (s3://, gs://) where KServe's logger stores
                every request and response itself; empty to log nothing.
            approval: auto (an approved candidate becomes champion) or manual (it
                becomes the pending challenger and waits for a person).
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
                ignore_features=ignore_features,
                performance_thresholds_json=performance_thresholds_json,
                pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            )
        )
        monitored.set_caching_options(False)
        with dsl.If(monitored.outputs["Output"] == True, name="retrain"):  # noqa: E712
            trained = training(
                data_uri=training_data_uri,
                label=label,
                model_name=model_name,
                registry_uri=registry_uri,
                task=task,
                schema_uri=schema_uri,
                estimator=estimator,
                params_json=params_json,
                tune=tune,
                seed=seed,
                test_fraction=test_fraction,
                validation_fraction=validation_fraction,
                slice_column=slice_column,
                intended_use=intended_use,
                thresholds_json=thresholds_json,
                max_regression=max_regression,
                unseen_tolerance=unseen_tolerance,
                export_onnx=export_onnx,
                deploy=deploy,
                serving_namespace=serving_namespace,
                serving_mode=serving_mode,
                storage_uri=storage_uri,
                canary_traffic_percent=canary_traffic_percent,
                serving_service_account=serving_service_account,
                deploy_timeout_s=deploy_timeout_s,
                serve_probabilities=serve_probabilities,
                log_storage=log_storage,
                approval=approval,
            )
        with dsl.Else(name="no-retraining"):
            kept = c.skip_registration()
        version = dsl.OneOf(trained.outputs["version"], kept.outputs["version"])
        # Reads and may move the champion: never served from the cache.
        rolled = place(
            c.roll_back_champion(
                decision=monitored.outputs["drift"],
                version=version,
                current_uri=current_uri,
                labels_uri=labels_uri,
                label_column=label_column,
                registry_uri=registry_uri,
                model_name=model_name,
                pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            )
        )
        rolled.set_caching_options(False)
        return MonitoringOutputs(
            retrain=monitored.outputs["Output"],
            reason=monitored.outputs["reason"],
            version=version,
            new_version=dsl.OneOf(
                trained.outputs["new_version"], kept.outputs["new_version"]
            ),
            rolled_back=rolled.outputs["rolled_back"],
            rollback=rolled.outputs["reason"],
        )

    return continuous_training

"""The training pipeline: from a raw tabular file to an approved, registered model.

```
ingest ─ profile ─ validate ─ split ─┬─ (tune: trials in parallel ─ best) ─┐
                                     └─────────────────────────────────────┴─ train
train ─ evaluate (metrics, permutation importance) ─ infra-validate ─ approve
      ─ (approved) register (lineage with every trial, model card) ─ (auto) deploy
```

With ``approval=manual`` an approved candidate is registered as the pending
``challenger`` and is not deployed: a person approves it with
``mlops registry approve``.

The published pipeline (:func:`build_training_pipeline`) runs these steps
(:func:`build_training_steps`) inside a ``dsl.ExitHandler`` whose ``notify`` step tells
the ``notify_url`` webhook how the run ended (see
:mod:`mlops_suite.pipelines.notifying`).
"""

from functools import lru_cache, partial
from typing import Any, NamedTuple

from kfp import dsl

from mlops_suite.components.factory import DEFAULT_IMAGE, build_components
from mlops_suite.pipelines.notifying import with_notification
from mlops_suite.pipelines.platform import PORTABLE, on_target

PIPELINE_NAME = "mlops-training"
STEPS_NAME = f"{PIPELINE_NAME}-steps"
DESCRIPTION = (
    "Ingest, profile, validate and split a tabular dataset; tune, train and evaluate "
    "a scikit-learn model; approve it against thresholds and the champion; register "
    "it with its lineage."
)

# Applied to whichever metrics the task has (ROC AUC for classification, R² for
# regression); override per run with the thresholds_json parameter.
DEFAULT_THRESHOLDS = '{"min_roc_auc": 0.75, "min_r2": 0.2}'


class TrainingOutputs(NamedTuple):
    """What a training run returns: the decision, its reason, and what it registered.

    ``version`` is the champion's version after the run, or with manual approval the
    pending challenger's (0 when the candidate was not approved), and ``new_version``
    whether the run added it.
    """

    approved: bool
    reason: str
    version: int
    new_version: bool


@lru_cache(maxsize=8)
def build_training_pipeline(image: str = DEFAULT_IMAGE, target: str = PORTABLE) -> Any:
    """Builds the training pipeline: its steps, then the ``notify`` exit step.

    It takes the parameters of :func:`build_training_steps` plus ``notify_url``, and
    returns nothing (KFP takes no outputs from inside an ``ExitHandler``).

    Args:
        image: The component image (a compile-time setting).
        target: ``portable`` for the spec that runs on kfp.local, Kubeflow Pipelines
            and Vertex AI alike; ``kfp`` for the Kubeflow Pipelines variant whose
            steps read the object store of a KFP install (s3://mlpipeline, see
            :func:`~mlops_suite.pipelines.platform.on_target`).

    Returns:
        The KFP pipeline, ready to compile.
    """
    return with_notification(
        build_training_steps(image, target),
        name=PIPELINE_NAME,
        description=f"{DESCRIPTION} Tell a webhook how the run ended.",
        components=build_components(image),
        place=partial(on_target, target),
    )


@lru_cache(maxsize=8)
def build_training_steps(image: str = DEFAULT_IMAGE, target: str = PORTABLE) -> Any:
    """Builds the training pipeline's steps, with every step running in ``image``.

    ``mlops run training`` runs them with ``kfp.local`` and reads their outputs; the
    continuous-training pipeline nests them.

    Args:
        image: The component image (a compile-time setting).
        target: ``portable`` or ``kfp``, as for :func:`build_training_pipeline`.

    Returns:
        The KFP pipeline, whose outputs are :class:`TrainingOutputs`.
    """
    c = build_components(image)
    place = partial(on_target, target)

    @dsl.pipeline(name=STEPS_NAME, description=DESCRIPTION)
    def training(
        data_uri: str,
        label: str,
        model_name: str,
        registry_uri: str,
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
    ) -> TrainingOutputs:
        """Trains, approves and registers a scikit-learn model on a tabular dataset.

        Args:
            data_uri: The raw CSV or Parquet file (path, gs://, s3:// or https://).
            label: The column to predict.
            model_name: The name in the registry (lowercase letters, digits, '-').
            registry_uri: The model registry (path, gs:// or s3://).
            task: classification or regression; empty to infer it from the label.
            schema_uri: A curated schema.json to validate against; empty to use the
                schema inferred from this data.
            estimator: logistic_regression, ridge, random_forest, gradient_boosting;
                empty for the task's default.
            params_json: Hyperparameters as a JSON object.
            tune: Run hyperparameter trials in parallel and train with the best.
            seed: Random seed for the split and the estimator.
            test_fraction: Share of rows held out for evaluation and approval.
            validation_fraction: Share of rows held out for trials (when tuning).
            slice_column: A categorical feature to slice the metrics by.
            intended_use: What the model is for, written into its model card.
            thresholds_json: Absolute approval bounds as a JSON object.
            max_regression: Tolerated relative drop against the champion.
            unseen_tolerance: Share of unseen categories tolerated in every
                categorical column; negative to use the schema's bounds.
            export_onnx: Also convert the registered version to ONNX (v<N>/onnx/,
                checked against the Pipeline on the test split).
            deploy: Serve the newly registered version with KServe (needs a cluster
                with KServe; false for local runs).
            serving_namespace: The namespace of the InferenceService.
            serving_mode: raw (KServe RawDeployment) or serverless (Knative, canary).
            storage_uri: The registry as the cluster's storage initializer reads
                it; empty for registry_uri.
            canary_traffic_percent: A new version's share of traffic until its
                smoke request passes (serverless mode).
            serving_service_account: The ServiceAccount with storage credentials.
            deploy_timeout_s: Seconds each rollout step may take to become Ready.
            serve_probabilities: Serve class probabilities (KServe's
                PREDICT_PROBA=true) instead of classes; classifiers only.
            log_storage: A bucket URI (s3://, gs://) where KServe's logger stores
                every request and response itself; empty to log nothing.
            approval: auto (an approved candidate becomes champion) or manual (it
                becomes the pending challenger, is not deployed, and waits for
                `mlops registry approve`).
        """
        ingested = place(c.ingest_data(source_uri=data_uri))
        profiled = c.profile_data(dataset=ingested.outputs["dataset"])
        validated = place(
            c.validate_data(
                dataset=ingested.outputs["dataset"],
                inferred_schema=profiled.outputs["schema"],
                label=label,
                task=task,
                curated_schema_uri=schema_uri,
                unseen_tolerance=unseen_tolerance,
            )
        )
        split = c.split_data(
            dataset=ingested.outputs["dataset"],
            label=label,
            task=task,
            test_fraction=test_fraction,
            validation_fraction=validation_fraction,
            tune=tune,
            seed=seed,
        ).after(validated)
        resolved_task = split.outputs["Output"]
        schema = validated.outputs["schema"]

        with dsl.If(tune == True, name="tune"):  # noqa: E712 (a KFP condition)
            proposed = c.propose_trials(
                estimator=estimator, task=resolved_task, params_json=params_json
            )
            with dsl.ParallelFor(proposed.output, parallelism=4) as trial_params:
                trial = c.run_trial(
                    train=split.outputs["train"],
                    validation=split.outputs["validation"],
                    schema=schema,
                    label=label,
                    task=resolved_task,
                    estimator=estimator,
                    trial_params=trial_params,
                    seed=seed,
                )
            best = c.select_best_trial(trials=dsl.Collected(trial.outputs["Output"]))
        with dsl.Else(name="no-tuning"):
            given = c.use_given_params(params_json=params_json)

        trained = c.train_model(
            train=split.outputs["train"],
            schema=schema,
            label=label,
            task=resolved_task,
            estimator=estimator,
            params_json=dsl.OneOf(best.outputs["Output"], given.outputs["Output"]),
            seed=seed,
        )
        evaluated = c.evaluate_model(
            model=trained.outputs["model"],
            test=split.outputs["test"],
            slice_column=slice_column,
            seed=seed,
        )
        infra = c.infra_validate_model(
            model=trained.outputs["model"],
            test=split.outputs["test"],
            model_name=model_name,
            max_rows=20,
        )
        approved = place(
            c.approve_model(
                model=trained.outputs["model"],
                test=split.outputs["test"],
                evaluation=evaluated.outputs["evaluation"],
                infra_blessing=infra.outputs["blessing"],
                registry_uri=registry_uri,
                model_name=model_name,
                thresholds_json=thresholds_json,
                max_regression=max_regression,
                pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            )
        )
        # Approval and registration read and write the registry, which is the one
        # place that remembers across runs: never serve them from the cache.
        approved.set_caching_options(False)
        with dsl.If(approved.outputs["Output"] == True, name="approved"):  # noqa: E712
            registered = c.register_model(
                model=trained.outputs["model"],
                blessing=approved.outputs["blessing"],
                evaluation=evaluated.outputs["evaluation"],
                schema=schema,
                statistics=profiled.outputs["statistics"],
                registry_uri=registry_uri,
                model_name=model_name,
                component_image=c.image,
                pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                approval=approval,
                trials_json=dsl.OneOf(
                    best.outputs["ranked_trials"], given.outputs["ranked_trials"]
                ),
                intended_use=intended_use,
            ).set_caching_options(False)
            place(registered)
            # place(): the step records the ``deployed`` event in the registry's
            # history, so it reads the object store like the registry steps. A
            # version waiting for a person is never deployed.
            with (
                dsl.If(deploy == True, name="deploy"),  # noqa: E712
                dsl.If(approval == "auto", name="auto-approval"),
            ):
                deployed = c.deploy_model(
                    model=trained.outputs["model"],
                    test=split.outputs["test"],
                    model_name=model_name,
                    version=registered.outputs["version"],
                    storage_uri=storage_uri,
                    registry_uri=registry_uri,
                    namespace=serving_namespace,
                    mode=serving_mode,
                    canary_traffic_percent=canary_traffic_percent,
                    service_account=serving_service_account,
                    timeout_s=deploy_timeout_s,
                    serve_probabilities=serve_probabilities,
                    pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                    log_storage=log_storage,
                ).set_caching_options(False)
                place(deployed)
            # Writes into the registered version, so never served from the cache.
            with dsl.If(export_onnx == True, name="export-onnx"):  # noqa: E712
                exported = c.export_onnx(
                    test=split.outputs["test"],
                    registry_uri=registry_uri,
                    model_name=model_name,
                    version=registered.outputs["version"],
                ).set_caching_options(False)
                place(exported)

        with dsl.Else(name="rejected"):
            skipped = c.skip_registration()

        return TrainingOutputs(
            approved=approved.outputs["Output"],
            reason=approved.outputs["reason"],
            version=dsl.OneOf(
                registered.outputs["version"], skipped.outputs["version"]
            ),
            new_version=dsl.OneOf(
                registered.outputs["new_version"], skipped.outputs["new_version"]
            ),
        )

    return training

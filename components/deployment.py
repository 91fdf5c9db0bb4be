"""Deployment component: serve the approved, registered version with KServe."""

from kfp.dsl import Artifact, Dataset, Input, Model, Output


def deploy_model(
    model: Input[Model],
    test: Input[Dataset],
    model_name: str,
    version: int,
    storage_uri: str,
    registry_uri: str,
    namespace: str,
    mode: str,
    canary_traffic_percent: int,
    service_account: str,
    timeout_s: int,
    deployment: Output[Artifact],
    serve_probabilities: bool = False,
    pipeline_run_id: str = "",
    log_storage: str = "",
) -> str:
    """Applies the InferenceService for the registered version and smoke-tests it.

    Server-side apply (re-applying the same version changes nothing), wait for Ready,
    then a V1 request whose answers must equal the model's own predictions. In
    serverless mode the new version starts as a canary and is promoted when the smoke
    request passes; on any failure the previous version is restored and keeps serving.

    Args:
        model: The approved model folder.
        test: Held-out rows for the smoke request.
        model_name: The InferenceService name (the registered model's name).
        version: The registry version to serve.
        storage_uri: The registry as the cluster's storage initializer reads it,
            e.g. ``s3://mlpipeline/registry``; empty for ``registry_uri``.
        registry_uri: The registry the pipeline registered the version in.
        namespace: The namespace of the InferenceService.
        mode: ``raw`` (KServe RawDeployment) or ``serverless`` (Knative).
        canary_traffic_percent: The new version's traffic share during a serverless
            rollout (0 to go straight to 100%).
        service_account: The ServiceAccount holding the storage credentials.
        timeout_s: Seconds each rollout step may take to become Ready.
        deployment: What was done and where the model answers.
        serve_probabilities: Answer with class probabilities (KServe's
            ``PREDICT_PROBA=true``) instead of classes; classifiers only.
        pipeline_run_id: The run deploying it: the actor of the ``deployed``
            event recorded in the registry's history.
        log_storage: A bucket URI (``s3://``, ``gs://``) where KServe's logger
            stores every request and response, written with ``service_account``'s
            credentials; empty to log nothing.

    Returns:
        The service URL.
    """
    import dataclasses
    import json

    from mlops_suite.artifacts import DATASET_FILE
    from mlops_suite.components.step import artifact_file, failing_clearly, write_text
    from mlops_suite.data.ingest import read_dataset
    from mlops_suite.serving.deploy import record_rollout, roll_out

    with failing_clearly("deploy_model"):
        result = roll_out(
            model.path,
            read_dataset(f"{test.path}/{DATASET_FILE}"),
            model_name=model_name,
            version=version,
            storage_uri=storage_uri or registry_uri,
            namespace=namespace,
            mode=mode,
            canary_traffic_percent=canary_traffic_percent or None,
            service_account=service_account or None,
            timeout_s=timeout_s,
            serve_probabilities=serve_probabilities,
            log_storage=log_storage or None,
        )
    summary = dataclasses.asdict(result)
    write_text(artifact_file(deployment.path, "deployment.json"), json.dumps(summary))
    deployment.metadata.update({"action": summary.get("action"), "url": result.url})
    print(f"{model_name} v{version}: {summary.get('action')} at {result.url}")
    record_rollout(
        registry_uri, model_name, version, result, actor=pipeline_run_id or "pipeline"
    )
    return str(result.url or "")

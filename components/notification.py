"""Notification component: the pipelines' exit step tells a webhook how a run ended."""

from kfp import dsl


def notify(
    status: dsl.PipelineTaskFinalStatus,
    notify_url: str,
    pipeline_name: str,
    pipeline_run_id: str,
    registry_uri: str,
    model_name: str,
) -> None:
    """POSTs how the run ended to a webhook; does nothing when no URL is given.

    Runs as the exit task of the pipeline's ``dsl.ExitHandler``, however its steps
    ended. The JSON message holds a Slack-compatible ``text`` and the fields
    ``pipeline``, ``run_id``, ``status`` (succeeded/failed), ``decision``, ``reason``,
    ``model_name``, ``version``, ``failed_step`` and ``reports``. An exit step gets no
    outputs of the steps it guards, so the decision is read from the registry: the
    history events whose actor is this run, else the decisions its gate and
    retraining steps recorded under ``runs/<run id>/``. A webhook that fails or
    cannot be reached is logged and never fails the run.

    Args:
        status: The final status of the steps (filled in by the pipeline runner).
        notify_url: The webhook (http or https); empty to send nothing.
        pipeline_name: The pipeline's name, shown in the message.
        pipeline_run_id: The run, the actor of the registry events it recorded.
        registry_uri: The model registry (a path or fsspec URI).
        model_name: The registered model's name.
    """
    from mlops_suite.notification import notify_run_end

    notify_run_end(
        notify_url,
        pipeline=pipeline_name,
        run_id=pipeline_run_id,
        final_status={
            "state": status.state,
            "error_message": status.error_message,
            "pipeline_job_resource_name": status.pipeline_job_resource_name,
        },
        registry_uri=registry_uri,
        model_name=model_name,
    )

"""Log the version a Vertex AI pipeline run approved to a Vertex AI Experiment.

``mlops submit --target vertex --experiment E`` files the pipeline run under the
experiment (``PipelineJob.submit(experiment=...)``), where Vertex AI shows it as a
pipeline run with its input parameters. Once the run has ended, the version its
``register-model`` step added (Vertex AI keeps a step's parameters in its execution's
metadata, ``input:<name>`` and ``output:<name>``) is read back from the registry, and
its parameters (model, version, status, estimator, hyperparameters, training data hash,
model folder) and the test-split metrics recorded at approval are logged through the
Vertex AI SDK to an experiment run named after the pipeline job, which holds the
pipeline run. A run that added no version logs nothing.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops_suite.errors import MlopsError
from mlops_suite.ops.submission import SubmitError
from mlops_suite.ops.vertex_backend import (
    CredentialsError,
    vertex_call_as,
    vertex_errors,
    vertex_state,
)

REGISTER_TASK = "register-model"
HYPERPARAMETER_PREFIX = "hp."
# The SDK names a run's context "<experiment>-<run>" and keeps 7 characters of the
# 128 a context ID may have for its TensorBoard run ("-tb-run").
MAX_RUN_CONTEXT_ID = 121
# A job ID ends in "-<YYYYmmddHHMMSS>-<4 hex>" (vertex_job_id): what keeps it unique.
_UNIQUE_TAIL = 19

ParamValue = float | int | str


class ExperimentError(MlopsError):
    """A Vertex AI Experiment could not be read or written; one sentence says why."""


@dataclass(frozen=True)
class Registered:
    """What a run's ``register-model`` step reported.

    Attributes:
        registry_uri: The registry it wrote to.
        model_name: The model's name.
        version: The version it added, or the champion it matched.
        new_version: Whether the run added the version (False for a model
            byte-identical to the champion).
    """

    registry_uri: str
    model_name: str
    version: int
    new_version: bool


@dataclass(frozen=True)
class ExperimentLog:
    """What was logged to the experiment for one pipeline run.

    Attributes:
        experiment: The Vertex AI Experiment.
        run_id: The pipeline job ID.
        run_name: The experiment run written; None when nothing was logged.
        reason: Why nothing was logged; empty when something was.
        params: The parameters logged.
        metrics: The metrics logged.
    """

    experiment: str
    run_id: str
    run_name: str | None = None
    reason: str = ""
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for the CLI."""
        where = f"Vertex AI Experiment {self.experiment!r}"
        if self.run_name is None:
            return f"Run {self.run_id} {self.reason}; nothing logged to {where}."
        what = f"{self.params['model_name']} v{self.params['version']}"
        return (
            f"Logged {what} ({len(self.params)} parameters, {len(self.metrics)} "
            f"metrics) to {where}, run {self.run_name}."
        )


def registered_by_run(tasks: Iterable[Mapping[str, Any]]) -> Registered | None:
    """The registration a finished run reported, from its task details.

    Args:
        tasks: The run's steps, each with ``task_name``, ``state`` (e.g.
            ``SUCCEEDED``) and ``metadata`` (its execution's ``input:``/``output:``
            parameters).

    Returns:
        What ``register-model`` reported, or None when it did not succeed (the
        candidate was not approved, so the step never ran).
    """
    for task in tasks:
        if task["task_name"] != REGISTER_TASK or task["state"] != "SUCCEEDED":
            continue
        metadata = task["metadata"]
        return Registered(
            registry_uri=str(metadata["input:registry_uri"]),
            model_name=str(metadata["input:model_name"]),
            version=int(metadata["output:version"]),
            new_version=bool(metadata["output:new_version"]),
        )
    return None


def experiment_record(
    metadata: Mapping[str, Any],
    *,
    model_name: str,
    version: int,
    status: str,
    model_uri: str,
) -> tuple[dict[str, ParamValue], dict[str, float]]:
    """The parameters and metrics of a version, as a Vertex experiment run takes them.

    Args:
        metadata: The version's ``metadata.json``.
        model_name: The model's name.
        version: The version.
        status: Its status (``approved``, ``pending``).
        model_uri: Its folder in the registry.

    Returns:
        Parameters (hyperparameters prefixed ``hp.``; values that are not numbers or
        text as JSON) and the finite metrics recorded at approval.
    """
    from mlops_suite.comparison import summarize

    summary = summarize(version, metadata)
    params: dict[str, ParamValue] = {
        "model_name": model_name,
        "version": version,
        "status": status,
        "estimator": summary.estimator or "",
        "data_sha256": summary.data_sha256 or "",
        "model_uri": model_uri,
    }
    for name, value in sorted(summary.hyperparameters.items()):
        params[f"{HYPERPARAMETER_PREFIX}{name}"] = _param_value(value)
    metrics = {
        name: float(value)
        for name, value in summary.metrics.items()
        if isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    }
    return params, metrics


def _param_value(value: Any) -> ParamValue:
    # The REST body is JSON, which has no NaN or infinity; a bool would pass as an
    # int, and None, lists and dicts are not accepted: all become JSON text.
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return json.dumps(value, sort_keys=True)
    return value


def experiment_run_name(experiment: str, run_id: str) -> str:
    """The experiment run's name: the pipeline job ID, shortened from the left to fit.

    Args:
        experiment: The experiment's name.
        run_id: The pipeline job ID.

    Returns:
        The run name.

    Raises:
        ExperimentError: The experiment's name leaves no room for the job ID's
            unique end.
    """
    room = MAX_RUN_CONTEXT_ID - len(experiment) - 1
    if room < _UNIQUE_TAIL:
        raise ExperimentError(
            f"Vertex AI Experiment name {experiment[:40]!r}... is {len(experiment)} "
            "characters long; to leave room for the names of its runs, use at most "
            f"{MAX_RUN_CONTEXT_ID - 1 - _UNIQUE_TAIL}."
        )
    return run_id[-room:].lstrip("-")


def log_run_to_experiment(
    run_id: str,
    *,
    experiment: str,
    project: str,
    region: str,
    api_endpoint: str | None = None,
) -> ExperimentLog:
    """Log the version a finished pipeline run added to a Vertex AI Experiment.

    Reads the job's task details, the registered version's ``metadata.json`` and
    status, then creates the experiment run (named after the job), logs the
    parameters and metrics, attaches the pipeline run to it and ends it.

    Args:
        run_id: The pipeline job ID.
        experiment: The Vertex AI Experiment the run was submitted under.
        project: Google Cloud project ID.
        region: Vertex AI region.
        api_endpoint: Alternative API host, talked to over REST.

    Returns:
        What was logged, or why nothing was: the run added no version (it was not
        approved, matched the champion, or failed before registering).

    Raises:
        CredentialsError: No usable Google credentials.
        ExperimentError: The job could not be read, or the experiment not written
            (the pipeline run itself is left as it is).
        RegistryError: The registered version could not be read.
    """
    from google.cloud import aiplatform

    from mlops_suite.registry import ModelRegistry
    from mlops_suite.registry.governance import status

    def nothing(reason: str) -> ExperimentLog:
        return ExperimentLog(experiment=experiment, run_id=run_id, reason=reason)

    with vertex_call_as(
        ExperimentError,
        f"read pipeline job {run_id}",
        project=project,
        region=region,
        api_endpoint=api_endpoint,
    ) as credentials:
        job = aiplatform.PipelineJob.get(
            f"projects/{project}/locations/{region}/pipelineJobs/{run_id}",
            project=project,
            location=region,
            credentials=credentials,
        )
        state = vertex_state(job.state)
        # A version registered before a later step failed (a deployment) is logged.
        found = registered_by_run(_task_records(job.task_details))
        if found is None:
            if state == "SUCCEEDED":
                return nothing("registered no version (its model was not approved)")
            return nothing(f"ended {state} without registering a version")
        if not found.new_version:
            return nothing(
                f"added no version ({found.model_name} is identical to champion "
                f"v{found.version})"
            )
        registry = ModelRegistry(found.registry_uri)
        params, metrics = experiment_record(
            registry.metadata(found.model_name, found.version),
            model_name=found.model_name,
            version=found.version,
            status=status(registry, found.model_name, found.version),
            model_uri=registry.version_uri(found.model_name, found.version),
        )
        run_name = experiment_run_name(experiment, run_id)
        action = f"write experiment {experiment!r} of project {project}"
        try:
            with vertex_errors(action, api_endpoint), _api_error_inside():
                run = aiplatform.ExperimentRun.create(
                    run_name,
                    experiment=experiment,
                    project=project,
                    location=region,
                    credentials=credentials,
                )
                run.log_params(params)
                run.log_metrics(dict[str, ParamValue](metrics))
                run.log(pipeline_job=job)
                run.end_run()
        except CredentialsError:
            raise
        except (SubmitError, ExperimentError) as exc:
            raise ExperimentError(
                f"{str(exc).rstrip('.')}; pipeline run {run_id} is not affected."
            ) from exc
    return ExperimentLog(
        experiment=experiment,
        run_id=run_id,
        run_name=run_name,
        params=params,
        metrics=metrics,
    )


def _task_records(task_details: Iterable[Any]) -> list[dict[str, Any]]:
    """A job's ``PipelineTaskDetail`` messages as the plain data this module reads."""
    return [
        {
            "task_name": task.task_name,
            "state": task.state.name,
            "metadata": dict(task.execution.metadata),
        }
        for task in task_details
    ]


@contextlib.contextmanager
def _api_error_inside() -> Iterator[None]:
    """Raise the Google API error the SDK wrapped in a RuntimeError, so it is named."""
    import google.api_core.exceptions

    try:
        yield
    except RuntimeError as exc:
        cause = exc.__cause__
        if isinstance(cause, google.api_core.exceptions.GoogleAPICallError):
            raise cause from None
        raise ExperimentError(str(exc).strip().splitlines()[0]) from exc

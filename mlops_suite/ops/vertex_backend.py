"""Submit a compiled pipeline to Vertex AI Pipelines, and the Vertex call path.

Every call to Vertex AI in the suite (a pipeline job, a schedule, a model upload, an
endpoint deployment) goes through :func:`vertex_call`: Application Default
Credentials, the SDK pointed at one project and region, and Google API failures turned
into one-sentence errors.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from mlops_suite.ops.labels import merge_labels
from mlops_suite.ops.spec import (
    PipelineSpecError,
    check_params,
    check_vertex_constraints,
    pipeline_name,
    read_pipeline_spec,
)
from mlops_suite.ops.submission import (
    DEFAULT_POLL_INTERVAL_S,
    DEFAULT_TIMEOUT_S,
    BackendUnreachableError,
    SubmitError,
    SubmitResult,
    error_reason,
    wait_for_end,
)

# Pipeline job IDs (the last part of the resource name) follow this rule.
VERTEX_JOB_ID_PATTERN = re.compile(r"^[a-z][-a-z0-9]{0,127}$")
VERTEX_MAX_DISPLAY_NAME = 128
VERTEX_TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "PAUSED"})

ADC_LOGIN_COMMAND = "gcloud auth application-default login"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


class CredentialsError(SubmitError):
    """No usable Google Cloud credentials were found, or they were rejected."""


def vertex_credentials() -> Any:
    """Load Application Default Credentials for Vertex AI.

    Returns:
        Google credentials scoped for Cloud Platform.

    Raises:
        CredentialsError: No credentials are configured; the message says how to log in.
    """
    import google.auth
    import google.auth.exceptions

    try:
        credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    except google.auth.exceptions.DefaultCredentialsError:
        explicit = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
        if explicit:
            raise CredentialsError(
                f"GOOGLE_APPLICATION_CREDENTIALS points at {explicit}, which is not a "
                f"usable credentials file; fix or unset it and run "
                f"`{ADC_LOGIN_COMMAND}`."
            ) from None
        raise CredentialsError(
            "No Google Cloud credentials were found; run "
            f"`{ADC_LOGIN_COMMAND}` (or set GOOGLE_APPLICATION_CREDENTIALS to a "
            "service-account key file) and try again."
        ) from None
    return credentials


@contextlib.contextmanager
def vertex_session(
    *,
    project: str,
    region: str,
    credentials: Any,
    api_endpoint: str | None = None,
) -> Iterator[None]:
    """Point the Vertex AI SDK at a project, region and (optionally) endpoint.

    The SDK keeps these settings in one process-wide object; they are restored on
    exit so one call's endpoint or project never leaks into the next.

    Args:
        project: Google Cloud project ID.
        region: Vertex AI region, e.g. ``us-central1``.
        credentials: Credentials from :func:`vertex_credentials`.
        api_endpoint: Alternative API host (``host:port`` or ``http(s)://host:port``);
            talked to over REST.

    Raises:
        SubmitError: The region is not a Vertex AI region.
    """
    from google.cloud import aiplatform
    from google.cloud.aiplatform import initializer

    config = initializer.global_config
    saved = dict(vars(config))
    try:
        try:
            aiplatform.init(
                project=project,
                location=region,
                credentials=credentials,
                api_endpoint=api_endpoint,
                api_transport="rest" if api_endpoint else None,
            )
        except ValueError as exc:
            raise SubmitError(
                f"Region {region!r} is not a Vertex AI region ({_first_line(exc)})."
            ) from None
        yield
    finally:
        vars(config).clear()
        vars(config).update(saved)


@contextlib.contextmanager
def vertex_errors(action: str, api_endpoint: str | None) -> Iterator[None]:
    """Turn Google API and transport failures into one-sentence errors.

    Args:
        action: What was being done, e.g. ``"create the pipeline job"``.
        api_endpoint: The endpoint in use, named when it cannot be reached.
    """
    import google.api_core.exceptions
    import google.auth.exceptions

    where = api_endpoint or "the regional Vertex AI endpoint"
    try:
        yield
    except google.auth.exceptions.RefreshError as exc:
        raise CredentialsError(
            f"Google Cloud rejected the credentials ({_first_line(exc)}); run "
            f"`{ADC_LOGIN_COMMAND}` and try again."
        ) from None
    except google.auth.exceptions.TransportError as exc:
        raise BackendUnreachableError(
            f"Could not reach Google's token service to {action} ({error_reason(exc)})."
        ) from None
    except google.api_core.exceptions.RetryError as exc:
        raise BackendUnreachableError(
            f"Vertex AI API at {where} did not answer in time while trying to "
            f"{action} ({_first_line(exc.message)})."
        ) from None
    except google.api_core.exceptions.GoogleAPICallError as exc:
        code = exc.code if exc.code is not None else "error"
        raise SubmitError(
            f"Vertex AI could not {action} ({code} {type(exc).__name__}): "
            f"{_api_message(exc)}."
        ) from exc
    except requests.ConnectionError as exc:
        raise BackendUnreachableError(
            f"Vertex AI API at {where} is unreachable ({error_reason(exc)})."
        ) from None


@contextlib.contextmanager
def vertex_call(
    action: str, *, project: str, region: str, api_endpoint: str | None = None
) -> Iterator[Any]:
    """Load credentials and open a Vertex AI session whose failures are sentences.

    Combines :func:`vertex_credentials`, :func:`vertex_session` and
    :func:`vertex_errors`, the setup every call to Vertex AI needs.

    Args:
        action: What is being done, e.g. ``"create the pipeline job"``.
        project: Google Cloud project ID.
        region: Vertex AI region, e.g. ``us-central1``.
        api_endpoint: Alternative API host, talked to over REST.

    Yields:
        The credentials, for SDK objects that take them explicitly.

    Raises:
        CredentialsError: No usable Google credentials.
        SubmitError: The region is not a Vertex AI region.
    """
    credentials = vertex_credentials()
    with (
        vertex_session(
            project=project,
            region=region,
            credentials=credentials,
            api_endpoint=api_endpoint,
        ),
        vertex_errors(action, api_endpoint),
    ):
        yield credentials


@contextlib.contextmanager
def vertex_call_as(
    error: type[Exception],
    action: str,
    *,
    project: str,
    region: str,
    api_endpoint: str | None = None,
) -> Iterator[Any]:
    """:func:`vertex_call`, reporting its failures as ``error``.

    For callers whose errors are not submission errors (a model upload is a registry
    error). Credentials problems stay :class:`CredentialsError`: their sentence says
    how to log in.

    Args:
        error: The exception class to raise instead of :class:`SubmitError`.
        action: What is being done, e.g. ``"upload model penguins"``.
        project: Google Cloud project ID.
        region: Vertex AI region, e.g. ``us-central1``.
        api_endpoint: Alternative API host, talked to over REST.

    Yields:
        The credentials, for SDK objects that take them explicitly.

    Raises:
        CredentialsError: No usable Google credentials.
    """
    try:
        with vertex_call(
            action, project=project, region=region, api_endpoint=api_endpoint
        ) as credentials:
            yield credentials
    except CredentialsError:
        raise
    except SubmitError as exc:
        raise error(str(exc)) from exc.__cause__


def _created(resource: Any) -> bool:
    """Whether the SDK resource exists on Vertex AI (it raises until created)."""
    try:
        return bool(resource.gca_resource.name)
    except RuntimeError:
        return False


def _api_reason(exc: BaseException) -> str:
    """The Google API error behind an SDK error, else the error's first line."""
    import google.api_core.exceptions

    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, google.api_core.exceptions.GoogleAPICallError):
            return f"{cause.code} {type(cause).__name__}: {_api_message(cause)}"
        cause = cause.__cause__
    return _first_line(exc)


def _api_message(exc: Any) -> str:
    """A Google API error's message, first line, without the request line."""
    # REST errors start with the request line ("POST https://...: "); drop it.
    return _first_line(re.sub(r"^[A-Z]+ \S+: ", "", str(exc.message or "")))


def _first_line(value: object) -> str:
    text = str(value).strip()
    return (text.splitlines()[0] if text else "no details").rstrip(".")[:300]


def vertex_job_id(name: str, now: datetime | None = None) -> str:
    """A unique, valid Vertex pipeline job ID made from the pipeline name.

    Args:
        name: The pipeline name.
        now: The submission time (UTC now when None).

    Returns:
        ``<name>-<YYYYmmddHHMMSS>-<4 hex>``, at most 128 characters, starting with a
        letter.
    """
    stamp = f"{(now or datetime.now(UTC)):%Y%m%d%H%M%S}-{secrets.token_hex(2)}"
    base = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "pipeline"
    if not base[0].isalpha():
        base = f"run-{base}"
    base = base[: 128 - len(stamp) - 1].rstrip("-")
    return f"{base}-{stamp}"


def vertex_state(state: Any) -> str:
    """A Vertex state as a short name: ``PIPELINE_STATE_RUNNING`` -> ``RUNNING``."""
    text = getattr(state, "name", None) or str(state)
    for prefix in ("PIPELINE_STATE_", "JOB_STATE_"):
        text = text.removeprefix(prefix)
    return text


def prepare_vertex_run(
    spec_path: str | Path, params: Mapping[str, Any] | None, pipeline_root: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check what Vertex AI would refuse before anything is sent.

    Args:
        spec_path: The compiled pipeline YAML.
        params: The run's parameters.
        pipeline_root: Where step outputs go.

    Returns:
        The pipeline spec and the parameters typed by it.

    Raises:
        PipelineSpecError: The spec uses something Vertex AI Pipelines rejects.
        ParameterError: A parameter is unknown, mistyped or missing.
        SubmitError: The pipeline root is not a gs:// folder.
    """
    spec = read_pipeline_spec(spec_path)
    problems = check_vertex_constraints(spec)
    if problems:
        raise PipelineSpecError(
            f"Pipeline file {spec_path} cannot run on Vertex AI Pipelines: "
            f"{'; '.join(problems)}."
        )
    values = check_params(spec, params)
    if not pipeline_root.startswith("gs://") or len(pipeline_root) <= len("gs://"):
        raise SubmitError(
            f"Pipeline root {pipeline_root!r} must be a Cloud Storage folder "
            "(gs://bucket/path) for Vertex AI Pipelines."
        )
    return spec, values


def submit_vertex(
    spec_path: str | Path,
    *,
    project: str,
    region: str,
    pipeline_root: str,
    service_account: str | None = None,
    api_endpoint: str | None = None,
    experiment: str | None = None,
    params: Mapping[str, Any] | None = None,
    enable_caching: bool = True,
    labels: Mapping[str, str] | None = None,
    wait: bool = False,
    display_name: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
) -> SubmitResult:
    """Run a compiled pipeline on Vertex AI Pipelines.

    Uses Application Default Credentials (``gcloud auth application-default login``
    or ``GOOGLE_APPLICATION_CREDENTIALS``). The job carries the suite-version label
    (``kfp-mlops-suite``) next to the user's labels.

    Args:
        spec_path: The compiled pipeline YAML.
        project: Google Cloud project ID.
        region: Vertex AI region, e.g. ``us-central1``.
        pipeline_root: ``gs://`` folder for the run's artifacts.
        service_account: Service account the steps run as; Compute Engine default
            service account when None.
        api_endpoint: Alternative API host, talked to over REST (e.g. a private
            endpoint); the regional endpoint when None.
        experiment: Vertex AI Experiment to log the run under (created when new);
            the SDK then blocks until the job has started so it can attach it.
        params: Run parameters (see :func:`parse_params`); defaults fill the rest.
        enable_caching: Reuse results of unchanged steps (on by default).
        labels: Extra labels for the job (Google Cloud label rules apply).
        wait: Poll until the job finishes.
        display_name: Name shown in the console; the pipeline name when None.
        timeout_s: How long to wait when ``wait`` is set.
        poll_interval_s: Seconds between state polls while waiting.

    Returns:
        The job ID, console URL and state (final state when ``wait`` is set).

    Raises:
        PipelineSpecError: The file is missing, not a pipeline spec, or uses
            something Vertex AI Pipelines rejects (see check_vertex_constraints).
        ParameterError: A parameter is unknown, mistyped or missing.
        CredentialsError: No usable Google credentials.
        BackendUnreachableError: The Vertex AI endpoint does not answer.
        SubmitError: Vertex AI refused the job, or it did not finish in time.
    """
    spec, values = prepare_vertex_run(spec_path, params, pipeline_root)
    name = display_name or pipeline_name(spec)
    if len(name) > VERTEX_MAX_DISPLAY_NAME:
        raise SubmitError(
            f"Display name {name[:40]!r}... is {len(name)} characters long; Vertex AI "
            f"allows at most {VERTEX_MAX_DISPLAY_NAME}."
        )
    job_labels = merge_labels(labels)
    job_id = vertex_job_id(pipeline_name(spec))

    from google.cloud import aiplatform

    with vertex_call(
        "create the pipeline job",
        project=project,
        region=region,
        api_endpoint=api_endpoint,
    ) as credentials:
        job = aiplatform.PipelineJob(
            display_name=name,
            template_path=str(spec_path),
            job_id=job_id,
            pipeline_root=pipeline_root,
            parameter_values=values,
            enable_caching=enable_caching,
            labels=job_labels,
            project=project,
            location=region,
            credentials=credentials,
        )
        url = (
            f"https://console.cloud.google.com/vertex-ai/locations/{region}/pipelines/"
            f"runs/{job_id}?project={project}"
        )
        try:
            job.submit(service_account=service_account, experiment=experiment)
        except RuntimeError as exc:
            # The SDK reports Vertex AI Experiments failures as RuntimeError, before
            # the job is created (the experiment cannot be read or made) or after it
            # (the run cannot be filed under it).
            if experiment and "xperiment" in str(exc):
                outcome = (
                    f"run {job_id} was submitted without it: {url}"
                    if _created(job)
                    else "nothing was submitted"
                )
                raise SubmitError(
                    f"Vertex AI Experiment {experiment!r} in project {project} could "
                    f"not be used for the run ({_api_reason(exc)}); {outcome}."
                ) from exc
            raise
        state = vertex_state(job.gca_resource.state)
        if wait:
            state = wait_for_end(
                lambda: vertex_state(job.state),
                state,
                VERTEX_TERMINAL_STATES,
                timeout_s=timeout_s,
                poll_interval_s=poll_interval_s,
                describe=f"Vertex AI pipeline job {job_id}",
                url=url,
            )
    return SubmitResult(run_id=job_id, url=url, state=state, backend="vertex")

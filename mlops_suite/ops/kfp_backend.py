"""Submit a compiled pipeline to a Kubeflow Pipelines (v2) backend with kfp.Client.

Before anything is sent, the file, its parameters and the host are checked
(:func:`prepare_kfp_run`), so a run is refused with one sentence rather than a
traceback from the client.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import warnings
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import urllib3.exceptions

from mlops_suite.ops.spec import (
    PipelineSpecError,
    check_params,
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

KFP_TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED"})
KFP_PROBE_TIMEOUT_S = 10.0
# File endings kfp.Client accepts for a single compiled pipeline.
KFP_PACKAGE_SUFFIXES = (".yaml", ".yml")


def submit_kfp(
    spec_path: str | Path,
    *,
    host: str,
    experiment: str | None = None,
    params: Mapping[str, Any] | None = None,
    run_name: str | None = None,
    wait: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    existing_token: str | None = None,
    namespace: str | None = None,
    pipeline_root: str | None = None,
    enable_caching: bool | None = None,
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
) -> SubmitResult:
    """Run a compiled pipeline on a Kubeflow Pipelines (v2) backend.

    The spec is sent inline with the run (``POST /apis/v2beta1/runs``), in the named
    experiment, which is created when it does not exist yet.

    Args:
        spec_path: The compiled pipeline YAML.
        host: The KFP API or UI base URL with its scheme, e.g.
            ``http://localhost:8080`` (a port-forward of ``ml-pipeline-ui``).
        experiment: Experiment to file the run under; KFP's ``Default`` when None.
        params: Run parameters (see :func:`parse_params`); defaults fill the rest.
        run_name: Display name of the run; ``<pipeline name> <UTC time>`` when None.
        wait: Poll until the run finishes.
        timeout_s: How long to wait when ``wait`` is set.
        existing_token: Bearer token for a KFP behind authentication.
        namespace: Kubernetes namespace of a multi-user KFP; None for single-user.
        pipeline_root: Where the run writes artifacts; the backend default when None.
        enable_caching: Force step caching on or off; compile-time settings when None.
        poll_interval_s: Seconds between state polls while waiting.

    Returns:
        The run's ID, UI URL and state (final state when ``wait`` is set).

    Raises:
        PipelineSpecError: The file is missing or not a pipeline spec.
        ParameterError: A parameter is unknown, mistyped or missing.
        BackendUnreachableError: Nothing answers at ``host``.
        SubmitError: The backend refused the run, or it did not finish in time.
    """
    spec, arguments, base = prepare_kfp_run(spec_path, params, host, existing_token)

    import kfp

    name = run_name or f"{pipeline_name(spec)} {datetime.now(UTC):%Y-%m-%d %H-%M-%S}"
    with kfp_errors(base, "request"):
        # kfp.Client prints links and warns about server versions; the CLI prints
        # its own one-line summary instead.
        with quiet_sdk_logs():
            client = kfp.Client(
                host=base,
                existing_token=existing_token,
                namespace=namespace or "kubeflow",
            )
            run = client.create_run_from_pipeline_package(
                str(spec_path),
                arguments=arguments,
                run_name=name,
                experiment_name=experiment,
                namespace=namespace,
                pipeline_root=pipeline_root,
                enable_caching=enable_caching,
            )
        run_id = str(run.run_id)
        state = str(run.run_info.state or "PENDING")
        url = f"{base}/#/runs/details/{run_id}"
        if wait:
            state = wait_for_end(
                lambda: str(client.get_run(run_id).state or "PENDING"),
                state,
                KFP_TERMINAL_STATES,
                timeout_s=timeout_s,
                poll_interval_s=poll_interval_s,
                describe=f"Run {run_id} on {base}",
                url=url,
            )
    return SubmitResult(run_id=run_id, url=url, state=state, backend="kfp")


def prepare_kfp_run(
    spec_path: str | Path,
    params: Mapping[str, Any] | None,
    host: str,
    existing_token: str | None,
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Check what a KFP backend would refuse, and that it answers, before submitting.

    Args:
        spec_path: The compiled pipeline YAML.
        params: The run's parameters.
        host: The KFP API or UI base URL with its scheme.
        existing_token: Bearer token for a KFP behind authentication.

    Returns:
        The pipeline spec, the parameters typed by it, and the host's base URL.

    Raises:
        PipelineSpecError: The file is missing, not a pipeline spec, or not .yaml.
        ParameterError: A parameter is unknown, mistyped or missing.
        BackendUnreachableError: Nothing answers at ``host``.
        SubmitError: The backend refused access.
    """
    spec = read_pipeline_spec(spec_path)
    if Path(spec_path).suffix.lower() not in KFP_PACKAGE_SUFFIXES:
        raise PipelineSpecError(
            f"Pipeline file {spec_path} must end in .yaml or .yml for kfp.Client; "
            "rename it (JSON is valid YAML)."
        )
    arguments = check_params(spec, params)
    base = kfp_base_url(host)
    probe_kfp(base, existing_token)
    return spec, arguments, base


@contextlib.contextmanager
def kfp_errors(base: str, request: str) -> Iterator[None]:
    """Turn KFP API refusals and dropped connections into one-sentence errors.

    Args:
        base: The KFP base URL, named in the message.
        request: What was asked for, e.g. ``"recurring run"``.
    """
    import kfp_server_api

    try:
        yield
    except kfp_server_api.ApiException as exc:
        raise SubmitError(
            f"Kubeflow Pipelines at {base} refused the {request} "
            f"({exc.status} {exc.reason}): {api_message(exc.body)}."
        ) from exc
    except (OSError, urllib3.exceptions.HTTPError) as exc:
        raise BackendUnreachableError(
            f"Kubeflow Pipelines at {base} stopped answering ({error_reason(exc)})."
        ) from exc


def kfp_base_url(host: str) -> str:
    """The KFP host as a base URL: scheme required, no trailing slash.

    Raises:
        BackendUnreachableError: ``host`` has no ``http://`` or ``https://`` scheme.
    """
    if not re.match(r"^https?://[^/]", host):
        raise BackendUnreachableError(
            f"KFP host {host!r} needs a scheme, e.g. http://{host or 'localhost:8080'}."
        )
    return host.rstrip("/")


def probe_kfp(base: str, token: str | None) -> None:
    """Fail fast, with one sentence, when nothing answers at the KFP host."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"{base}/apis/v2beta1/healthz"
    try:
        response = requests.get(url, headers=headers, timeout=KFP_PROBE_TIMEOUT_S)
    except requests.RequestException as exc:
        raise BackendUnreachableError(
            f"Kubeflow Pipelines at {base} is unreachable ({error_reason(exc)}); "
            "check the URL and that the API is exposed or port-forwarded."
        ) from None
    if response.status_code == 404:
        raise BackendUnreachableError(
            f"{base} answered 404 for /apis/v2beta1/healthz, so it is not a Kubeflow "
            "Pipelines v2 API; check the URL."
        )
    if response.status_code >= 500:
        raise BackendUnreachableError(
            f"Kubeflow Pipelines at {base} is not ready (healthz answered "
            f"{response.status_code}); check the ml-pipeline deployment."
        )
    if response.status_code in (401, 403):
        raise SubmitError(
            f"Kubeflow Pipelines at {base} refused access ({response.status_code}); "
            "pass a valid bearer token."
        )


def api_message(body: Any) -> str:
    """The server's own error message from a KFP API error body."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        text = str(payload.get("message") or payload.get("error") or text)
    first = text.strip().splitlines()[0] if text.strip() else "no details"
    return first.rstrip(".")[:300]


@contextlib.contextmanager
def quiet_sdk_logs() -> Iterator[None]:
    """Silence the SDKs' own prints and warnings; our one sentence says what matters."""
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        warnings.simplefilter("ignore", FutureWarning)
        yield

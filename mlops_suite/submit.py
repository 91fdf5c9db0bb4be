"""Submit one compiled pipeline file to Kubeflow Pipelines or Vertex AI Pipelines.

A pipeline is compiled once to KFP IR YAML; this module reads that file, types the
``KEY=VALUE`` parameters by the spec's own input definitions, checks what Vertex AI
Pipelines would reject before asking it, and submits through the official clients
(``kfp.Client`` for the open-source backend, ``aiplatform.PipelineJob`` for Vertex).

Every failure a user can cause (a missing file, an unknown parameter, an unreachable
host, no Google credentials) is raised as a :class:`SubmitError` whose message is one
sentence the CLI can print as is.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import secrets
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import urllib3.exceptions
import yaml

from mlops_suite import __version__
from mlops_suite.errors import MlopsError

# Label identifying which version of the suite created a cloud resource.
SUITE_LABEL_KEY = "kfp-mlops-suite"

# Google Cloud label rules (Vertex AI refuses anything else): at most 64 labels, keys
# start with a lowercase letter, keys and values use lowercase letters, digits, "_"
# and "-" and are at most 63 characters long.
MAX_LABELS = 64
LABEL_KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE_PATTERN = re.compile(r"^[a-z0-9_-]{0,63}$")
# Vertex AI Pipelines overwrites these label keys with its own values.
RESERVED_LABEL_KEYS = ("vertex-ai-pipelines-run-billing-id",)

# Vertex AI Pipelines names the run's metadata context after the pipeline, so the
# name must follow the same rule the KFP SDK enforces at compile time.
VERTEX_PIPELINE_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")
# Pipeline job IDs (the last part of the resource name) follow this rule.
VERTEX_JOB_ID_PATTERN = re.compile(r"^[a-z][-a-z0-9]{0,127}$")
VERTEX_MAX_DISPLAY_NAME = 128
# Largest machine Vertex AI Pipelines provisions for one step (set_cpu_limit /
# set_memory_limit), per "Specify the machine configuration for a pipeline step".
VERTEX_MAX_CPU = 96.0
VERTEX_MAX_MEMORY_GB = 624.0

KFP_TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED"})
VERTEX_TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "PAUSED"})
FAILED_STATES = frozenset({"FAILED", "CANCELED", "CANCELLED"})

DEFAULT_TIMEOUT_S = 3600.0
DEFAULT_POLL_INTERVAL_S = 10.0
KFP_PROBE_TIMEOUT_S = 10.0
# File endings kfp.Client accepts for a single compiled pipeline.
KFP_PACKAGE_SUFFIXES = (".yaml", ".yml")

ADC_LOGIN_COMMAND = "gcloud auth application-default login"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"

# The part of a compiled file that only kfp-kubernetes writes (a second YAML document).
PLATFORMS_KEY = "platforms"

_PARAMETER_TYPES = {
    "STRING": "a string",
    "NUMBER_DOUBLE": "a number",
    "NUMBER_INTEGER": "an integer",
    "BOOLEAN": "true or false",
    "STRUCT": "a JSON object",
    "LIST": "a JSON list",
}
_TRUE_WORDS = frozenset({"true", "1", "yes"})
_FALSE_WORDS = frozenset({"false", "0", "no"})


class SubmitError(MlopsError):
    """A pipeline could not be submitted; the message says why in one sentence."""


class PipelineSpecError(SubmitError):
    """The pipeline file is missing, unreadable, or not a KFP pipeline spec."""


class ParameterError(SubmitError):
    """A pipeline parameter is unknown, missing, or has a value of the wrong type."""


class BackendUnreachableError(SubmitError):
    """The pipeline backend (KFP host or Vertex AI endpoint) did not answer."""


class CredentialsError(SubmitError):
    """No usable Google Cloud credentials were found, or they were rejected."""


@dataclass(frozen=True)
class SubmitResult:
    """Where a submitted run lives and the state it was last seen in.

    Attributes:
        run_id: The backend's run ID (a KFP run UUID or a Vertex pipeline job ID).
        url: The page that shows the run (KFP UI or Google Cloud console).
        state: The last known state, e.g. ``PENDING``, ``RUNNING``, ``SUCCEEDED``.
        backend: ``"kfp"`` or ``"vertex"``.
    """

    run_id: str
    url: str
    state: str
    backend: str = "kfp"

    @property
    def failed(self) -> bool:
        """Whether the run ended without success (failed or cancelled)."""
        return self.state in FAILED_STATES

    def summary(self) -> str:
        """One line for the CLI, e.g. ``Vertex AI run abc-123 is RUNNING: https://...``."""
        where = "Vertex AI" if self.backend == "vertex" else "Kubeflow Pipelines"
        return f"{where} run {self.run_id} is {self.state}: {self.url}"


# --------------------------------------------------------------------------- spec


def read_pipeline_spec(path: str | Path) -> dict[str, Any]:
    """Read a compiled KFP pipeline file (IR YAML or JSON).

    A file compiled with kfp-kubernetes holds a second YAML document, the platform
    spec; its ``platforms`` mapping is returned under the ``platforms`` key, next to
    the pipeline spec's own keys, so :func:`check_vertex_constraints` can see it.

    Args:
        path: The compiled pipeline file.

    Returns:
        The pipeline spec as a dict (``pipelineInfo``, ``root``, ``components``, ...).

    Raises:
        PipelineSpecError: The file is missing, not YAML, or not a KFP pipeline spec.
    """
    file = Path(path)
    if not file.is_file():
        what = "is a folder, not a file" if file.is_dir() else "does not exist"
        raise PipelineSpecError(f"Pipeline file {file} {what}.")
    try:
        documents = [doc for doc in yaml.safe_load_all(file.read_text("utf-8")) if doc]
    except UnicodeDecodeError:
        raise PipelineSpecError(
            f"Pipeline file {file} is not text (expected KFP IR YAML)."
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise PipelineSpecError(
            f"Pipeline file {file} is not valid YAML{where}."
        ) from None
    if not documents or not all(isinstance(doc, dict) for doc in documents):
        raise PipelineSpecError(
            f"Pipeline file {file} does not hold a YAML mapping, so it is not a KFP "
            "pipeline spec."
        )
    spec = dict(documents[0])
    if "pipelineSpec" in spec:
        raise PipelineSpecError(
            f"Pipeline file {file} is a PipelineJob, not a pipeline spec; pass the "
            "file kfp.compiler.Compiler wrote."
        )
    missing = [key for key in ("pipelineInfo", "root") if key not in spec]
    name = spec.get("pipelineInfo", {}).get("name") if not missing else None
    if missing or not isinstance(name, str) or not name:
        lacking = ", ".join(missing) if missing else "pipelineInfo.name"
        raise PipelineSpecError(
            f"Pipeline file {file} is not a KFP pipeline spec (it has no {lacking}); "
            "compile the pipeline with kfp.compiler.Compiler."
        )
    for extra in documents[1:]:
        if PLATFORMS_KEY not in extra:
            raise PipelineSpecError(
                f"Pipeline file {file} holds a second YAML document that is not a KFP "
                f"platform spec (expected a '{PLATFORMS_KEY}' key)."
            )
        spec.setdefault(PLATFORMS_KEY, {}).update(extra[PLATFORMS_KEY] or {})
    return spec


def pipeline_name(spec: Mapping[str, Any]) -> str:
    """The pipeline's name, as compiled into ``pipelineInfo.name``."""
    return str(spec["pipelineInfo"]["name"])


def parameter_definitions(spec: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The pipeline's run-time parameters: name -> ``{"parameterType": ..., ...}``."""
    root = spec.get("root") or {}
    definitions = (root.get("inputDefinitions") or {}).get("parameters") or {}
    return {str(name): dict(definition) for name, definition in definitions.items()}


def parse_params(items: Sequence[str], spec: Mapping[str, Any]) -> dict[str, Any]:
    """Turn ``KEY=VALUE`` strings into run parameters typed by the pipeline spec.

    Types follow the root ``inputDefinitions``: ``NUMBER_DOUBLE`` -> float,
    ``NUMBER_INTEGER`` -> int, ``BOOLEAN`` -> bool (true/false, yes/no, 1/0),
    ``STRING`` -> str, ``STRUCT``/``LIST`` -> parsed JSON. Parameters not given keep
    the defaults compiled into the spec.

    Args:
        items: Strings such as ``["learning_rate=0.1", "dataset=penguins"]``.
        spec: The pipeline spec from :func:`read_pipeline_spec`.

    Returns:
        The parameters by name, with Python values of the declared types.

    Raises:
        ParameterError: An item is not ``KEY=VALUE``, names a parameter the pipeline
            does not declare, repeats one, or has a value of the wrong type.
    """
    definitions = parameter_definitions(spec)
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ParameterError(
                f"Parameter '{item}' is not of the form KEY=VALUE (e.g. "
                f"{_example_param(definitions)})."
            )
        if key not in definitions:
            raise ParameterError(_unknown_parameter(key, spec, definitions))
        if key in values:
            raise ParameterError(f"Parameter {key} is given more than once.")
        values[key] = _parse_value(key, raw, _parameter_type(definitions[key]))
    return values


def _example_param(definitions: Mapping[str, Any]) -> str:
    return f"{next(iter(definitions))}=..." if definitions else "name=value"


def _unknown_parameter(
    key: str, spec: Mapping[str, Any], definitions: Mapping[str, Any]
) -> str:
    accepted = ", ".join(sorted(definitions)) if definitions else "none"
    return (
        f"Pipeline {pipeline_name(spec)} has no parameter named {key}; "
        f"accepted parameters: {accepted}."
    )


def _parameter_type(definition: Mapping[str, Any]) -> str:
    return str(definition.get("parameterType", "STRING"))


def _parse_value(key: str, raw: str, parameter_type: str) -> Any:
    expected = _PARAMETER_TYPES.get(parameter_type)
    if expected is None:
        raise ParameterError(
            f"Parameter {key} has type {parameter_type}, which cannot be set when "
            "submitting a run."
        )
    text = raw.strip()
    try:
        if parameter_type == "STRING":
            return raw
        if parameter_type == "NUMBER_DOUBLE":
            number = float(text)
            if math.isfinite(number):
                return number
        elif parameter_type == "NUMBER_INTEGER":
            return int(text, 10)
        elif parameter_type == "BOOLEAN":
            if text.lower() in _TRUE_WORDS:
                return True
            if text.lower() in _FALSE_WORDS:
                return False
        else:
            parsed = json.loads(text)
            wanted = dict if parameter_type == "STRUCT" else list
            if isinstance(parsed, wanted):
                return parsed
    except ValueError:
        pass
    raise ParameterError(
        f"Parameter {key} has value {raw!r}, but the pipeline expects {expected} "
        f"({parameter_type})."
    )


def _check_value(key: str, value: Any, parameter_type: str) -> Any:
    """Check a value given as a Python object (not a string) against its type."""
    if isinstance(value, str) and parameter_type != "STRING":
        return _parse_value(key, value, parameter_type)
    expected = _PARAMETER_TYPES.get(parameter_type, parameter_type)
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    ok = {
        "STRING": isinstance(value, str),
        "NUMBER_DOUBLE": is_number and math.isfinite(float(value)),
        "NUMBER_INTEGER": isinstance(value, int) and not isinstance(value, bool),
        "BOOLEAN": isinstance(value, bool),
        "STRUCT": isinstance(value, dict),
        "LIST": isinstance(value, list),
    }.get(parameter_type, False)
    if not ok:
        raise ParameterError(
            f"Parameter {key} has value {value!r}, but the pipeline expects {expected} "
            f"({parameter_type})."
        )
    return float(value) if parameter_type == "NUMBER_DOUBLE" else value


def check_params(
    spec: Mapping[str, Any], params: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Check run parameters against the spec: known names, types, required ones given.

    Args:
        spec: The pipeline spec from :func:`read_pipeline_spec`.
        params: Parameters by name (strings are parsed like :func:`parse_params`).

    Returns:
        The parameters with values of the declared types.

    Raises:
        ParameterError: A name is unknown, a value has the wrong type, or a parameter
            without a default is missing.
    """
    definitions = parameter_definitions(spec)
    checked: dict[str, Any] = {}
    for key, value in (params or {}).items():
        if key not in definitions:
            raise ParameterError(_unknown_parameter(key, spec, definitions))
        checked[key] = _check_value(key, value, _parameter_type(definitions[key]))
    missing = [
        name
        for name, definition in definitions.items()
        if name not in checked
        and not definition.get("isOptional")
        and "defaultValue" not in definition
    ]
    if missing:
        raise ParameterError(
            f"Pipeline {pipeline_name(spec)} needs a value for {', '.join(missing)} "
            "(pass KEY=VALUE)."
        )
    return checked


def check_vertex_constraints(spec: Mapping[str, Any]) -> list[str]:
    """List what Vertex AI Pipelines would reject in this pipeline spec.

    Checked: the pipeline name rule (``^[a-z0-9][a-z0-9-]{0,127}$``), kfp-kubernetes
    platform settings (only the Kubeflow Pipelines backend reads them, and Vertex
    cannot load a two-document file), the IR schema version (Vertex runs KFP SDK v2
    specs, schema 2.x), and per-step CPU / memory limits above the largest machine
    Vertex provisions (96 CPUs, 624 GB).

    Args:
        spec: The pipeline spec from :func:`read_pipeline_spec`.

    Returns:
        One sentence per problem; empty when Vertex AI should accept the spec.
    """
    problems: list[str] = []
    name = pipeline_name(spec)
    if not VERTEX_PIPELINE_NAME_PATTERN.match(name):
        problems.append(
            f"pipeline name {name!r} must match {VERTEX_PIPELINE_NAME_PATTERN.pattern} "
            "(lowercase letters, digits and dashes)"
        )
    kubernetes = (spec.get(PLATFORMS_KEY) or {}).get("kubernetes")
    if kubernetes is not None:
        configured = sorted(
            (kubernetes.get("deploymentSpec") or {}).get("executors") or {}
        )
        which = f" (executors: {', '.join(configured)})" if configured else ""
        problems.append(
            "it uses kfp-kubernetes platform settings (platforms.kubernetes"
            f"{which}), which only the Kubeflow Pipelines backend supports"
        )
    schema = str(spec.get("schemaVersion", ""))
    if not schema.startswith("2."):
        problems.append(
            f"schemaVersion is {schema or 'missing'}, but Vertex AI Pipelines runs "
            "KFP SDK v2 specs (schemaVersion 2.x)"
        )
    executors = ((spec.get("deploymentSpec") or {}).get("executors")) or {}
    for executor_name, executor in sorted(executors.items()):
        resources = ((executor or {}).get("container") or {}).get("resources") or {}
        cpu = _as_float(resources.get("cpuLimit"))
        if cpu is not None and cpu > VERTEX_MAX_CPU:
            problems.append(
                f"{executor_name} asks for {cpu:g} CPUs, more than the "
                f"{VERTEX_MAX_CPU:g} Vertex AI Pipelines allows per step"
            )
        memory = _as_float(resources.get("memoryLimit"))
        if memory is not None and memory > VERTEX_MAX_MEMORY_GB:
            problems.append(
                f"{executor_name} asks for {memory:g} GB of memory, more than the "
                f"{VERTEX_MAX_MEMORY_GB:g} GB Vertex AI Pipelines allows per step"
            )
    return problems


def _as_float(value: Any) -> float | None:
    # The compiler writes limits as numbers; placeholders (runtime values) are skipped.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


# ------------------------------------------------------------------------- labels


def sanitize_label_value(value: object) -> str:
    """Make any value a valid Google Cloud label value (``0.1.0`` -> ``0-1-0``).

    Lowercases, replaces every character other than ``[a-z0-9_-]`` by ``-`` and keeps
    the first 63 characters.
    """
    return re.sub(r"[^a-z0-9_-]", "-", str(value).lower())[:63]


def sanitize_label_key(key: object) -> str:
    """Make any text a valid Google Cloud label key (starts with a lowercase letter)."""
    cleaned = sanitize_label_value(key)
    if not cleaned or not cleaned[0].isalpha() or not cleaned[0].isascii():
        cleaned = f"k-{cleaned}"
    return cleaned[:63]


def suite_labels() -> dict[str, str]:
    """The label that marks resources created by this suite with its version."""
    return {SUITE_LABEL_KEY: sanitize_label_value(__version__)}


def validate_labels(labels: Mapping[str, str], *, resource: str) -> dict[str, str]:
    """Check labels against Google Cloud's label rules.

    Args:
        labels: Label keys and values as given by the user.
        resource: What the labels are for, for the error message ("pipeline job").

    Returns:
        The labels as a plain dict.

    Raises:
        SubmitError: A key or value breaks the rules, a key is reserved by Vertex AI
            Pipelines, or there are more than 64 labels.
    """
    for key, value in labels.items():
        if not isinstance(key, str) or not LABEL_KEY_PATTERN.match(key):
            raise SubmitError(
                f"Label key {key!r} on the {resource} is invalid: keys start with a "
                "lowercase letter and hold at most 63 lowercase letters, digits, "
                "'_' or '-'."
            )
        if key in RESERVED_LABEL_KEYS:
            raise SubmitError(
                f"Label key {key} is reserved by Vertex AI Pipelines; choose another."
            )
        if not isinstance(value, str) or not LABEL_VALUE_PATTERN.match(value):
            raise SubmitError(
                f"Label {key}={value!r} on the {resource} is invalid: values hold at "
                "most 63 lowercase letters, digits, '_' or '-' (try "
                f"{sanitize_label_value(value)!r})."
            )
    if len(labels) > MAX_LABELS:
        raise SubmitError(
            f"The {resource} has {len(labels)} labels; Google Cloud allows at most "
            f"{MAX_LABELS}."
        )
    return dict(labels)


def merge_labels(
    labels: Mapping[str, str] | None, *, resource: str = "pipeline job"
) -> dict[str, str]:
    """The user's labels plus the suite-version label, checked against label rules.

    The suite label always carries this package's version, so a resource can be
    traced back to the code that created it.
    """
    merged = {**(labels or {}), **suite_labels()}
    return validate_labels(merged, resource=resource)


# --------------------------------------------------------------------------- KFP


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

    name = run_name or f"{pipeline_name(spec)} {_utc_now():%Y-%m-%d %H-%M-%S}"
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
            state = _wait_for(
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


def error_reason(exc: BaseException) -> str:
    """A short human reason for a network failure (e.g. 'Connection refused')."""
    text = str(exc)
    errno = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if errno:
        return errno.group(1).strip()
    if isinstance(exc, requests.Timeout) or "timed out" in text.lower():
        return "no answer in time"
    return type(exc).__name__


@contextlib.contextmanager
def quiet_sdk_logs() -> Iterator[None]:
    """Silence the SDKs' own prints and warnings; our one sentence says what matters."""
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        warnings.simplefilter("ignore", FutureWarning)
        yield


def _wait_for(
    poll: Callable[[], str],
    state: str,
    terminal: frozenset[str],
    *,
    timeout_s: float,
    poll_interval_s: float,
    describe: str,
    url: str,
) -> str:
    deadline = time.monotonic() + timeout_s
    while state not in terminal:
        if time.monotonic() >= deadline:
            raise SubmitError(
                f"{describe} was still {state} after {timeout_s:g} s; follow it at "
                f"{url}."
            )
        time.sleep(poll_interval_s)
        state = poll()
    return state


def _utc_now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------------- Vertex


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
        # REST errors start with the request line ("POST https://...: "); drop it.
        message = re.sub(r"^[A-Z]+ \S+: ", "", str(exc.message or ""))
        raise SubmitError(
            f"Vertex AI could not {action} ({code} {type(exc).__name__}): "
            f"{_first_line(message)}."
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
    stamp = f"{(now or _utc_now()):%Y%m%d%H%M%S}-{secrets.token_hex(2)}"
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
        try:
            job.submit(service_account=service_account, experiment=experiment)
        except RuntimeError as exc:
            # The SDK reports Vertex AI Experiments failures as RuntimeError.
            if experiment and "xperiment" in str(exc):
                raise SubmitError(
                    f"Vertex AI Experiment {experiment!r} could not be used for the "
                    f"run ({_first_line(exc)})."
                ) from exc
            raise
        url = (
            f"https://console.cloud.google.com/vertex-ai/locations/{region}/pipelines/"
            f"runs/{job_id}?project={project}"
        )
        state = vertex_state(job.gca_resource.state)
        if wait:
            state = _wait_for(
                lambda: vertex_state(job.state),
                state,
                VERTEX_TERMINAL_STATES,
                timeout_s=timeout_s,
                poll_interval_s=poll_interval_s,
                describe=f"Vertex AI pipeline job {job_id}",
                url=url,
            )
    return SubmitResult(run_id=job_id, url=url, state=state, backend="vertex")

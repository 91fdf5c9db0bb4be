"""Run a compiled pipeline on a cron schedule, on Kubeflow Pipelines or Vertex AI.

One cron expression serves both backends: the standard five fields (minute, hour,
day of month, month, day of week), optionally prefixed by ``TZ=<IANA zone>`` or
``CRON_TZ=<IANA zone>`` for Vertex AI. Kubeflow Pipelines parses schedules with
robfig/cron v1, whose first field is the *second*: a five-field expression sent as
is would run at the wrong times (``0 3 * * *`` would mean "minute 3 of every hour"),
so :func:`schedule_kfp` sends it with a leading ``0`` seconds field.

The pipeline file, parameters, labels, credentials and error handling are those of
:mod:`mlops_suite.ops.kfp_backend` and :mod:`mlops_suite.ops.vertex_backend`, so a
schedule is refused for exactly the reasons a single run would be, and with the same
sentences.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_suite.ops.kfp_backend import kfp_errors, prepare_kfp_run, quiet_sdk_logs
from mlops_suite.ops.labels import merge_labels
from mlops_suite.ops.spec import ParameterError, pipeline_name
from mlops_suite.ops.submission import SubmitError
from mlops_suite.ops.vertex_backend import (
    VERTEX_MAX_DISPLAY_NAME,
    prepare_vertex_run,
    vertex_call,
)

# Kubeflow Pipelines refuses other values (apiserver: "Max concurrency of a recurring
# run must be at least 1 and at most 10").
KFP_MAX_CONCURRENCY = 10
KFP_DEFAULT_EXPERIMENT = "Default"

CRON_EXAMPLE = "0 3 * * *"
_MONTHS = tuple("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())
_DAYS = tuple("SUN MON TUE WED THU FRI SAT".split())
# Each field: (name, lowest, highest, names usable instead of numbers).
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)
_TIMEZONE_PREFIX = re.compile(r"^(CRON_TZ|TZ)=(\S*)\s*(.*)$", re.DOTALL)
_CRON_ITEM = re.compile(r"^(\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:/(\d+))?$")


class InvalidCronError(SubmitError):
    """A cron expression is malformed or not accepted by the chosen backend."""


@dataclass(frozen=True)
class CronSchedule:
    """A checked cron expression: five standard fields and an optional time zone.

    Attributes:
        fields: minute, hour, day of month, month, day of week, as written.
        timezone: IANA time zone name from a ``TZ=``/``CRON_TZ=`` prefix, or None.
    """

    fields: tuple[str, str, str, str, str]
    timezone: str | None = None

    @property
    def standard(self) -> str:
        """The five fields, space-separated (no time zone)."""
        return " ".join(self.fields)

    def for_vertex(self) -> str:
        """The expression Vertex AI takes: ``TZ=<zone> `` prefix kept when given."""
        prefix = f"TZ={self.timezone} " if self.timezone else ""
        return f"{prefix}{self.standard}"

    def for_kfp(self) -> str:
        """The expression Kubeflow Pipelines takes: seconds field ``0`` in front.

        Raises:
            InvalidCronError: A time zone was given; Kubeflow Pipelines evaluates
                schedules in UTC.
        """
        if self.timezone:
            raise InvalidCronError(
                f"Kubeflow Pipelines runs schedules in UTC and cannot take "
                f"TZ={self.timezone}; drop the prefix and give the times in UTC."
            )
        return f"0 {self.standard}"


def parse_cron(expression: str) -> CronSchedule:
    """Check a five-field cron expression, optionally prefixed by a time zone.

    Each field is ``*``, a number, a range ``a-b``, any of these with a step
    ``/n``, or a comma-separated list of them; months and days of the week may be
    written as ``JAN``..``DEC`` and ``SUN``..``SAT``. Days of the week run from 0
    (Sunday) to 6.

    Args:
        expression: e.g. ``"0 3 * * *"`` or ``"TZ=Europe/Paris 30 6 * * MON-FRI"``.

    Returns:
        The checked schedule.

    Raises:
        InvalidCronError: The expression does not have five valid fields, or names
            an unknown time zone.
    """
    text = " ".join(str(expression).split())
    timezone = None
    prefixed = _TIMEZONE_PREFIX.match(text)
    if prefixed:
        timezone, text = prefixed.group(2), prefixed.group(3)
        _check_timezone(timezone, expression)
    parts = text.split(" ") if text else []
    if len(parts) != len(_CRON_FIELDS):
        # A six-field expression is most likely copied from KFP's own format.
        seconds = (
            "; Kubeflow Pipelines' leading seconds field is added for you"
            if len(parts) == len(_CRON_FIELDS) + 1
            else ""
        )
        raise InvalidCronError(
            f"Cron expression {expression!r} has {len(parts)} fields; expected 5 "
            "(minute hour day-of-month month day-of-week, e.g. "
            f"{CRON_EXAMPLE!r}), optionally after TZ=<IANA time zone>{seconds}."
        )
    for value, field in zip(parts, _CRON_FIELDS, strict=True):
        _check_field(value, field, expression)
    fields = (parts[0], parts[1], parts[2], parts[3], parts[4])
    return CronSchedule(fields=fields, timezone=timezone)


def _check_timezone(name: str, expression: str) -> None:
    if not name:
        raise InvalidCronError(
            f"Cron expression {expression!r} has an empty time zone; write e.g. "
            f"'TZ=America/New_York {CRON_EXAMPLE}'."
        )
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidCronError(
            f"Cron expression {expression!r} names time zone {name!r}, which is not "
            "in the IANA time zone database (e.g. Europe/Paris, America/New_York, "
            "UTC)."
        ) from None


def _check_field(
    value: str, field: tuple[str, int, int, tuple[str, ...]], expression: str
) -> None:
    name, low, high, words = field
    allowed = f"{low}-{high}" + (f" or {words[0]}-{words[-1]}" if words else "")
    where = f"Cron expression {expression!r} has"
    for item in value.split(","):
        match = _CRON_ITEM.match(item)
        if not match:
            shown = repr(item) if item else "an empty list item"
            raise InvalidCronError(
                f"{where} {shown} in its {name} field; expected *, {allowed}, "
                "ranges a-b, steps /n or comma-separated lists of these."
            )
        body, step = match.group(1), match.group(2)
        if step is not None and int(step) == 0:
            raise InvalidCronError(
                f"{where} a step of 0 in its {name} field; steps start at 1."
            )
        if body == "*":
            continue
        ends = body.split("-")
        numbers = [_cron_number(end, words) for end in ends]
        for number, end in zip(numbers, ends, strict=True):
            if number is None or not low <= number <= high:
                raise InvalidCronError(
                    f"{where} {end!r} in its {name} field, outside {allowed}."
                )
        if len(ends) == 2 and int(numbers[0] or 0) > int(numbers[1] or 0):
            raise InvalidCronError(
                f"{where} the backwards range {body!r} in its {name} field; write "
                "the lower bound first."
            )


def _cron_number(text: str, words: tuple[str, ...]) -> int | None:
    if text.isdigit():
        return int(text)
    upper = text.upper()
    if upper in words:
        # Months count from 1, days of the week from 0 (Sunday).
        return words.index(upper) + (1 if len(words) == 12 else 0)
    return None


# ------------------------------------------------------------------------ results


@dataclass(frozen=True)
class ScheduleResult:
    """Where a created schedule lives and what it will do.

    Attributes:
        schedule_id: The KFP recurring run ID or the Vertex schedule ID.
        name: The schedule's display name.
        cron: The cron expression as the backend received it.
        url: The page that shows the schedule (KFP UI or Google Cloud console).
        state: The backend's state, e.g. ``ENABLED`` (KFP) or ``ACTIVE`` (Vertex).
        backend: ``"kfp"`` or ``"vertex"``.
    """

    schedule_id: str
    name: str
    cron: str
    url: str
    state: str
    backend: str = "kfp"

    def summary(self) -> str:
        """One line for the CLI: backend, name, ID, cron, state and URL."""
        if self.backend == "vertex":
            where = f"Vertex AI schedule {self.name} ({self.schedule_id})"
        else:
            where = f"Kubeflow Pipelines recurring run {self.name} ({self.schedule_id})"
        return f"{where} runs at '{self.cron}' and is {self.state}: {self.url}"


def _check_name(name: str, limit: int | None = None) -> str:
    cleaned = name.strip() if isinstance(name, str) else ""
    if not cleaned:
        raise SubmitError("A schedule needs a non-empty name (e.g. nightly-training).")
    if limit is not None and len(cleaned) > limit:
        raise SubmitError(
            f"Schedule name {cleaned[:40]!r}... is {len(cleaned)} characters long; "
            f"at most {limit} are allowed."
        )
    return cleaned


def _check_concurrency(value: int, *, what: str, highest: int | None) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    if not ok or (highest is not None and value > highest):
        limit = f"between 1 and {highest}" if highest is not None else "at least 1"
        raise ParameterError(f"{what} is {value!r}; it must be {limit}.")
    return value


# --------------------------------------------------------------------------- KFP


def schedule_kfp(
    spec_path: str | Path,
    *,
    host: str,
    cron: str,
    name: str,
    experiment: str | None = None,
    params: Mapping[str, Any] | None = None,
    max_concurrency: int = 1,
    catchup: bool = False,
    existing_token: str | None = None,
    namespace: str | None = None,
    pipeline_root: str | None = None,
    enable_caching: bool | None = None,
    description: str | None = None,
) -> ScheduleResult:
    """Create a Kubeflow Pipelines recurring run of a compiled pipeline.

    The spec is sent inline (``POST /apis/v2beta1/recurringruns``) in the named
    experiment, created when new, and the recurring run starts enabled.

    Args:
        spec_path: The compiled pipeline YAML.
        host: The KFP API or UI base URL with its scheme, e.g.
            ``http://localhost:8080``.
        cron: Five-field cron expression in UTC, e.g. ``"0 3 * * *"``; sent with a
            leading seconds field (``"0 0 3 * * *"``), the format KFP parses.
        name: Display name of the recurring run.
        experiment: Experiment the runs are filed under; KFP's ``Default`` when None.
        params: Run parameters (see :func:`mlops_suite.ops.spec.parse_params`);
            defaults fill the rest.
        max_concurrency: How many runs of this schedule may run at once (1-10).
        catchup: Start the runs missed while the schedule was paused or the backend
            down (backfill); off by default, so only the latest missed run starts.
        existing_token: Bearer token for a KFP behind authentication.
        namespace: Kubernetes namespace of a multi-user KFP; None for single-user.
        pipeline_root: Where runs write artifacts; the backend default when None.
        enable_caching: Force step caching on or off; compile-time settings when None.
        description: Text shown with the recurring run in the KFP UI.

    Returns:
        The recurring run's ID, UI URL, the cron sent and its status.

    Raises:
        InvalidCronError: The cron expression is malformed or has a time zone.
        PipelineSpecError: The file is missing or not a pipeline spec.
        ParameterError: A parameter is unknown, mistyped or missing, or
            ``max_concurrency`` is outside 1-10.
        BackendUnreachableError: Nothing answers at ``host``.
        SubmitError: The backend refused the recurring run.
    """
    kfp_cron = parse_cron(cron).for_kfp()
    display_name = _check_name(name)
    _check_concurrency(
        max_concurrency, what="max_concurrency", highest=KFP_MAX_CONCURRENCY
    )
    _, arguments, base = prepare_kfp_run(spec_path, params, host, existing_token)

    import kfp

    with kfp_errors(base, "recurring run"):
        # kfp.Client prints links; the CLI prints its own one-line summary instead.
        with quiet_sdk_logs():
            client = kfp.Client(
                host=base,
                existing_token=existing_token,
                namespace=namespace or "kubeflow",
            )
            owner = client.create_experiment(
                name=experiment or KFP_DEFAULT_EXPERIMENT, namespace=namespace
            )
            created = client.create_recurring_run(
                experiment_id=owner.experiment_id,
                job_name=display_name,
                description=description,
                cron_expression=kfp_cron,
                max_concurrency=max_concurrency,
                no_catchup=not catchup,
                params=arguments,
                pipeline_package_path=str(spec_path),
                enabled=True,
                pipeline_root=pipeline_root,
                enable_caching=enable_caching,
            )
    schedule_id = str(created.recurring_run_id)
    return ScheduleResult(
        schedule_id=schedule_id,
        name=display_name,
        cron=kfp_cron,
        url=f"{base}/#/recurringrun/details/{schedule_id}",
        state=str(created.status or "ENABLED"),
        backend="kfp",
    )


# ------------------------------------------------------------------------- Vertex


def schedule_vertex(
    spec_path: str | Path,
    *,
    project: str,
    region: str,
    pipeline_root: str,
    cron: str,
    name: str,
    params: Mapping[str, Any] | None = None,
    service_account: str | None = None,
    api_endpoint: str | None = None,
    max_concurrent_run_count: int = 1,
    labels: Mapping[str, str] | None = None,
    enable_caching: bool | None = None,
) -> ScheduleResult:
    """Create a Vertex AI Pipelines schedule of a compiled pipeline.

    Uses Application Default Credentials, as
    :func:`mlops_suite.ops.vertex_backend.submit_vertex` does. Every run the schedule
    starts carries the suite-version label (``kfp-mlops-suite``) next to ``labels``.

    Args:
        spec_path: The compiled pipeline YAML.
        project: Google Cloud project ID.
        region: Vertex AI region, e.g. ``us-central1``.
        pipeline_root: ``gs://`` folder for the runs' artifacts.
        cron: Five-field cron expression, optionally prefixed by
            ``TZ=<IANA zone>`` (or ``CRON_TZ=``); UTC when no zone is given.
        name: Display name of the schedule (at most 128 characters).
        params: Run parameters (see :func:`mlops_suite.ops.spec.parse_params`);
            defaults fill the rest.
        service_account: Service account the runs' steps run as; Compute Engine
            default service account when None.
        api_endpoint: Alternative API host, talked to over REST; the regional
            endpoint when None.
        max_concurrent_run_count: How many runs of this schedule may run at once.
        labels: Extra labels for every run (Google Cloud label rules apply).
        enable_caching: Force step caching on or off; compile-time settings when None.

    Returns:
        The schedule's ID, console URL, the cron sent and its state.

    Raises:
        InvalidCronError: The cron expression is malformed or names an unknown
            time zone.
        PipelineSpecError: The file is missing, not a pipeline spec, or uses
            something Vertex AI Pipelines rejects.
        ParameterError: A parameter is unknown, mistyped or missing, or
            ``max_concurrent_run_count`` is below 1.
        CredentialsError: No usable Google credentials.
        BackendUnreachableError: The Vertex AI endpoint does not answer.
        SubmitError: Vertex AI refused the schedule.
    """
    vertex_cron = parse_cron(cron).for_vertex()
    display_name = _check_name(name, VERTEX_MAX_DISPLAY_NAME)
    _check_concurrency(
        max_concurrent_run_count, what="max_concurrent_run_count", highest=None
    )
    spec, values = prepare_vertex_run(spec_path, params, pipeline_root)
    run_labels = merge_labels(labels, resource="pipeline schedule")

    from google.cloud import aiplatform

    with vertex_call(
        "create the pipeline schedule",
        project=project,
        region=region,
        api_endpoint=api_endpoint,
    ) as credentials:
        job = aiplatform.PipelineJob(
            display_name=pipeline_name(spec),
            template_path=str(spec_path),
            pipeline_root=pipeline_root,
            parameter_values=values,
            enable_caching=enable_caching,
            labels=run_labels,
            project=project,
            location=region,
            credentials=credentials,
        )
        schedule = job.create_schedule(
            cron=vertex_cron,
            display_name=display_name,
            max_concurrent_run_count=max_concurrent_run_count,
            service_account=service_account,
        )
        resource = schedule.gca_resource
    schedule_id = str(resource.name).rsplit("/", 1)[-1]
    state = getattr(resource.state, "name", None) or str(resource.state)
    return ScheduleResult(
        schedule_id=schedule_id,
        name=display_name,
        cron=vertex_cron,
        url=(
            f"https://console.cloud.google.com/vertex-ai/locations/{region}/pipelines/"
            f"schedules/{schedule_id}?project={project}"
        ),
        state=state,
        backend="vertex",
    )

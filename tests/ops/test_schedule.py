"""Schedules through the real kfp.Client and aiplatform SDK against fake REST APIs.

The fakes of kfp_fake.py and vertex_fake.py gain the schedule endpoints from
schedule_fakes.py; the loopback guard of conftest.py applies to every test here.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import schedule_fakes
import yaml
from vertex_fake import PROJECT, REGION

from mlops_suite import __version__
from mlops_suite.ops.schedule import (
    InvalidCronError,
    ScheduleResult,
    parse_cron,
    schedule_kfp,
    schedule_vertex,
)
from mlops_suite.ops.spec import ParameterError, PipelineSpecError
from mlops_suite.ops.submission import BackendUnreachableError, SubmitError
from mlops_suite.ops.vertex_backend import CredentialsError

LOCATION = f"projects/{PROJECT}/locations/{REGION}"
ROOT = "gs://demo-bucket/pipeline-root"
RUNNER = "runner@demo-project.iam.gserviceaccount.com"
SUITE_LABEL = {"kfp-mlops-suite": __version__.replace(".", "-")}


@pytest.fixture
def kfp_schedules(fake_kfp):
    """The fake KFP, able to create recurring runs."""
    return schedule_fakes.KfpRecurringRuns(fake_kfp)


@pytest.fixture
def vertex_schedules(fake_vertex):
    """The fake Vertex AI, able to create schedules."""
    return schedule_fakes.VertexSchedules(fake_vertex)


def _kfp(fake_kfp, spec: Path, **overrides) -> ScheduleResult:
    options = dict(
        host=fake_kfp.url,
        cron="0 3 * * 1-5",
        name="nightly-training",
        params={"message": "hello", "scale": 2.5},
    )
    options.update(overrides)
    return schedule_kfp(spec, **options)


def _vertex(fake_vertex, spec: Path, **overrides) -> ScheduleResult:
    options = dict(
        project=PROJECT,
        region=REGION,
        pipeline_root=ROOT,
        cron="TZ=Europe/Paris 30 6 * * MON-FRI",
        name="nightly-training",
        params={"message": "hello", "scale": 2.5},
        api_endpoint=fake_vertex.url,
    )
    options.update(overrides)
    return schedule_vertex(spec, **options)


# ------------------------------------------------------------------------- cron


@pytest.mark.parametrize(
    ("expression", "vertex", "kfp"),
    [
        ("0 3 * * *", "0 3 * * *", "0 0 3 * * *"),
        (
            "  */15   9-17 * * mon-fri ",
            "*/15 9-17 * * mon-fri",
            "0 */15 9-17 * * mon-fri",
        ),
        ("0 0 1,15 JAN-JUN/2 0", "0 0 1,15 JAN-JUN/2 0", "0 0 0 1,15 JAN-JUN/2 0"),
        ("CRON_TZ=America/New_York 5 4 * * *", "TZ=America/New_York 5 4 * * *", None),
    ],
)
def test_cron_is_sent_in_each_backends_format(expression, vertex, kfp):
    schedule = parse_cron(expression)
    assert schedule.for_vertex() == vertex
    if kfp is None:
        with pytest.raises(InvalidCronError, match="runs schedules in UTC"):
            schedule.for_kfp()
    else:
        assert schedule.for_kfp() == kfp


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 3 * *", r"has 4 fields; expected 5 \(minute hour day-of-month month"),
        ("0 0 3 * * *", "6 fields; expected 5 .*; Kubeflow Pipelines' leading sec"),
        ("@daily", "has 1 fields; expected 5"),
        ("", "has 0 fields"),
        ("60 3 * * *", "has '60' in its minute field, outside 0-59"),
        ("0 24 * * *", "has '24' in its hour field, outside 0-23"),
        ("0 3 0 * *", "has '0' in its day of month field, outside 1-31"),
        ("0 3 * 13 *", "has '13' in its month field, outside 1-12 or JAN-DEC"),
        ("0 3 * * 7", "has '7' in its day of week field, outside 0-6 or SUN-SAT"),
        ("0 3 * * FUN", "has 'FUN' in its day of week field"),
        ("*/0 3 * * *", "a step of 0 in its minute field"),
        ("0 17-9 * * *", "backwards range '17-9' in its hour field"),
        ("0 3 ? * *", r"has '\?' in its day of month field; expected \*, 1-31"),
        ("0 3 1,,2 * *", "has an empty list item in its day of month field"),
        ("TZ=Mars/Olympus 0 3 * * *", "time zone 'Mars/Olympus', which is not in"),
        ("TZ= 0 3 * * *", "has an empty time zone"),
    ],
)
def test_invalid_cron_is_explained(expression, message):
    with pytest.raises(InvalidCronError, match=message) as info:
        parse_cron(expression)
    assert str(info.value).startswith(f"Cron expression {expression!r} ")
    assert str(info.value).endswith(".")


# --------------------------------------------------------------------------- KFP


def test_kfp_recurring_run_carries_cron_spec_parameters_and_limits(
    kfp_schedules, fake_kfp, tiny_yaml
):
    result = _kfp(
        fake_kfp,
        tiny_yaml,
        experiment="nightly",
        max_concurrency=3,
        existing_token="secret-token",
    )

    (create,) = fake_kfp.calls("POST", "^/apis/v2beta1/recurringruns$")
    body = create.json
    # KFP's cron has a seconds field first; the suite adds it.
    assert body["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * 1-5"}}
    assert body["display_name"] == "nightly-training"
    assert body["mode"] == "ENABLE"
    assert int(body["max_concurrency"]) == 3
    assert body["no_catchup"] is True
    assert body["runtime_config"]["parameters"] == {"message": "hello", "scale": 2.5}
    compiled = yaml.safe_load(tiny_yaml.read_text())
    assert body["pipeline_spec"]["pipelineInfo"]["name"] == "tiny-pipeline"
    assert body["pipeline_spec"]["root"] == compiled["root"]
    assert body["pipeline_spec"]["deploymentSpec"] == compiled["deploymentSpec"]
    (experiment_id,) = fake_kfp.experiments
    assert fake_kfp.experiments[experiment_id]["display_name"] == "nightly"
    assert body["experiment_id"] == experiment_id
    assert create.headers["authorization"] == "Bearer secret-token"

    assert result.backend == "kfp"
    assert result.schedule_id in kfp_schedules.created
    assert result.state == "ENABLED"
    assert result.cron == "0 0 3 * * 1-5"
    assert result.url == f"{fake_kfp.url}/#/recurringrun/details/{result.schedule_id}"
    assert result.summary() == (
        f"Kubeflow Pipelines recurring run nightly-training ({result.schedule_id}) "
        f"runs at '0 0 3 * * 1-5' and is ENABLED: {result.url}"
    )


def test_kfp_catchup_and_existing_default_experiment(
    kfp_schedules, fake_kfp, tiny_yaml
):
    default = fake_kfp.add_experiment("Default")
    _kfp(fake_kfp, tiny_yaml, catchup=True, params={"message": "hi"})

    assert fake_kfp.calls("POST", "^/apis/v2beta1/experiments$") == []
    (create,) = fake_kfp.calls("POST", "^/apis/v2beta1/recurringruns$")
    assert create.json["experiment_id"] == default
    assert create.json["no_catchup"] is False
    assert int(create.json["max_concurrency"]) == 1
    # Defaults stay with the spec: only the given parameter is sent.
    assert create.json["runtime_config"]["parameters"] == {"message": "hi"}


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"cron": "0 3 * *"}, InvalidCronError, "has 4 fields"),
        (
            {"cron": "TZ=Europe/Paris 0 3 * * *"},
            InvalidCronError,
            "runs schedules in UTC",
        ),
        ({"max_concurrency": 11}, ParameterError, "must be between 1 and 10"),
        ({"max_concurrency": 0}, ParameterError, "must be between 1 and 10"),
        ({"name": "  "}, SubmitError, "needs a non-empty name"),
        ({"params": {"mesage": "typo"}}, ParameterError, "no parameter named mesage"),
        ({"params": {"scale": 1.0}}, ParameterError, "needs a value for message"),
    ],
)
def test_kfp_bad_arguments_are_refused_before_any_request(
    kfp_schedules, fake_kfp, tiny_yaml, overrides, error, message
):
    with pytest.raises(error, match=message):
        _kfp(fake_kfp, tiny_yaml, **overrides)
    assert fake_kfp.requests == []


def test_kfp_unreachable_host_is_named(closed_port, tiny_yaml):
    host = f"http://127.0.0.1:{closed_port}"
    started = time.monotonic()
    with pytest.raises(BackendUnreachableError) as info:
        schedule_kfp(
            tiny_yaml,
            host=host,
            cron="0 3 * * *",
            name="nightly",
            params={"message": "hi"},
        )
    assert str(info.value) == (
        f"Kubeflow Pipelines at {host} is unreachable (Connection refused); check "
        "the URL and that the API is exposed or port-forwarded."
    )
    assert time.monotonic() - started < 5


def test_kfp_refusal_reports_the_server_message(kfp_schedules, fake_kfp, tiny_yaml):
    kfp_schedules.refuse = "Schedule cron is not a supported format"
    with pytest.raises(SubmitError) as info:
        _kfp(fake_kfp, tiny_yaml)
    assert str(info.value) == (
        f"Kubeflow Pipelines at {fake_kfp.url} refused the recurring run "
        "(400 Bad Request): Schedule cron is not a supported format."
    )


def test_kfp_json_pipeline_file_needs_a_yaml_name(fake_kfp, tiny_yaml, tmp_path):
    as_json = tmp_path / "tiny.json"
    as_json.write_text(tiny_yaml.read_text())
    with pytest.raises(PipelineSpecError, match=r"must end in \.yaml or \.yml"):
        _kfp(fake_kfp, as_json)
    assert fake_kfp.requests == []


# ------------------------------------------------------------------------ Vertex


def test_vertex_schedule_carries_cron_job_request_limits_and_labels(
    vertex_schedules, fake_vertex, tiny_yaml
):
    result = _vertex(
        fake_vertex,
        tiny_yaml,
        service_account=RUNNER,
        max_concurrent_run_count=2,
        labels={"team": "ml-platform"},
    )

    (create,) = fake_vertex.calls("POST", r"/schedules$")
    assert create.path == f"/v1/{LOCATION}/schedules"
    assert create.headers["authorization"] == "Bearer ya29.user-access-token"
    body = create.json
    assert body["cron"] == "TZ=Europe/Paris 30 6 * * MON-FRI"
    assert body["displayName"] == "nightly-training"
    assert int(body["maxConcurrentRunCount"]) == 2
    request = body["createPipelineJobRequest"]
    assert request["parent"] == LOCATION
    job = request["pipelineJob"]
    assert job["runtimeConfig"]["parameterValues"] == {"message": "hello", "scale": 2.5}
    assert job["runtimeConfig"]["gcsOutputDirectory"] == ROOT
    compiled = yaml.safe_load(tiny_yaml.read_text())
    assert job["pipelineSpec"]["pipelineInfo"]["name"] == "tiny-pipeline"
    assert job["pipelineSpec"]["deploymentSpec"] == compiled["deploymentSpec"]
    assert job["labels"] == {"team": "ml-platform", **SUITE_LABEL}
    assert job["serviceAccount"] == RUNNER
    # Creating a schedule starts no run by itself.
    assert fake_vertex.calls("POST", r"/pipelineJobs$") == []

    schedule_id = next(iter(vertex_schedules.created)).rsplit("/", 1)[1]
    assert result == ScheduleResult(
        schedule_id=schedule_id,
        name="nightly-training",
        cron="TZ=Europe/Paris 30 6 * * MON-FRI",
        url=(
            "https://console.cloud.google.com/vertex-ai/locations/us-central1/"
            f"pipelines/schedules/{schedule_id}?project={PROJECT}"
        ),
        state="ACTIVE",
        backend="vertex",
    )
    assert result.summary().startswith(
        f"Vertex AI schedule nightly-training ({schedule_id}) runs at "
        "'TZ=Europe/Paris 30 6 * * MON-FRI' and is ACTIVE: https://"
    )


def test_vertex_cron_without_time_zone_is_sent_as_given(
    vertex_schedules, fake_vertex, tiny_yaml
):
    _vertex(fake_vertex, tiny_yaml, cron="0 3 * * *")
    (create,) = fake_vertex.calls("POST", r"/schedules$")
    assert create.json["cron"] == "0 3 * * *"
    assert int(create.json["maxConcurrentRunCount"]) == 1
    assert (
        "serviceAccount" not in create.json["createPipelineJobRequest"]["pipelineJob"]
    )


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"cron": "0 3 * * * *"}, InvalidCronError, "has 6 fields"),
        ({"cron": "TZ=Nowhere 0 3 * * *"}, InvalidCronError, "'Nowhere', which is not"),
        ({"pipeline_root": "/tmp/root"}, SubmitError, "must be a Cloud Storage folder"),
        (
            {"labels": {"Team": "ml"}},
            SubmitError,
            "on the pipeline schedule is invalid",
        ),
        ({"max_concurrent_run_count": 0}, ParameterError, "must be at least 1"),
        ({"name": "x" * 129}, SubmitError, "129 characters long; at most 128"),
        ({"params": {"message": "hi", "scale": "big"}}, ParameterError, "value 'big'"),
    ],
)
def test_vertex_bad_arguments_are_refused_before_any_request(
    vertex_schedules, fake_vertex, tiny_yaml, overrides, error, message
):
    with pytest.raises(error, match=message):
        _vertex(fake_vertex, tiny_yaml, **overrides)
    assert fake_vertex.requests == []


def test_vertex_spec_it_would_reject_fails_before_any_request(
    vertex_schedules, fake_vertex, compiled
):
    with pytest.raises(PipelineSpecError, match="cannot run on Vertex AI Pipelines"):
        _vertex(fake_vertex, compiled["k8s"], params={})
    assert fake_vertex.requests == []


def test_vertex_refusal_is_one_sentence(vertex_schedules, fake_vertex, tiny_yaml):
    fake_vertex.refuse_next("Invalid cron.\nDetails follow.")
    with pytest.raises(SubmitError) as info:
        _vertex(fake_vertex, tiny_yaml)
    assert str(info.value) == (
        "Vertex AI could not create the pipeline schedule (400 BadRequest): "
        "Invalid cron."
    )


def test_vertex_unreachable_endpoint_is_named(fake_vertex, tiny_yaml, closed_port):
    endpoint = f"http://127.0.0.1:{closed_port}"
    with pytest.raises(BackendUnreachableError) as info:
        _vertex(fake_vertex, tiny_yaml, api_endpoint=endpoint)
    assert str(info.value) == (
        f"Vertex AI API at {endpoint} is unreachable (Connection refused)."
    )


def test_vertex_without_credentials_says_how_to_log_in(tiny_yaml):
    with pytest.raises(CredentialsError, match="application-default login"):
        schedule_vertex(
            tiny_yaml,
            project=PROJECT,
            region=REGION,
            pipeline_root=ROOT,
            cron="0 3 * * *",
            name="nightly",
            params={"message": "hi"},
        )

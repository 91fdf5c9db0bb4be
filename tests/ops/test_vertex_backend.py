"""submit_vertex through the real aiplatform.PipelineJob against a fake Vertex AI."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from vertex_fake import PROJECT, REGION

from mlops_suite import __version__
from mlops_suite.ops.spec import PipelineSpecError
from mlops_suite.ops.submission import BackendUnreachableError, SubmitError
from mlops_suite.ops.vertex_backend import (
    VERTEX_JOB_ID_PATTERN,
    CredentialsError,
    submit_vertex,
    vertex_job_id,
)

ROOT = "gs://demo-bucket/pipeline-root"
RUNNER = "runner@demo-project.iam.gserviceaccount.com"
SUITE_LABEL = {"kfp-mlops-suite": __version__.replace(".", "-")}


def _submit(fake_vertex, spec: Path, **overrides):
    options = dict(
        project=PROJECT,
        region=REGION,
        pipeline_root=ROOT,
        api_endpoint=fake_vertex.url,
        params={"message": "hello", "scale": 2.5},
    )
    options.update(overrides)
    return submit_vertex(spec, **options)


def _tasks(pipeline_spec: dict) -> list[dict]:
    components = [pipeline_spec["root"], *pipeline_spec["components"].values()]
    return [t for c in components for t in c.get("dag", {}).get("tasks", {}).values()]


def test_pipeline_job_request_carries_spec_parameters_root_labels_and_account(
    fake_vertex, tiny_yaml, caplog
):
    result = _submit(
        fake_vertex,
        tiny_yaml,
        service_account=RUNNER,
        labels={"team": "ml-platform"},
    )

    (create,) = fake_vertex.calls("POST", r"/pipelineJobs$")
    assert create.path == f"/v1/projects/{PROJECT}/locations/{REGION}/pipelineJobs"
    job_id = create.query["pipelineJobId"][0]
    assert VERTEX_JOB_ID_PATTERN.match(job_id) and job_id.startswith("tiny-pipeline-")
    body = create.json
    compiled = yaml.safe_load(tiny_yaml.read_text())
    assert body["pipelineSpec"]["pipelineInfo"]["name"] == "tiny-pipeline"
    assert body["pipelineSpec"]["deploymentSpec"] == compiled["deploymentSpec"]
    assert body["runtimeConfig"]["parameterValues"] == {
        "message": "hello",
        "scale": 2.5,
    }
    assert body["runtimeConfig"]["gcsOutputDirectory"] == ROOT
    assert body["labels"] == {"team": "ml-platform", **SUITE_LABEL}
    assert body["serviceAccount"] == RUNNER
    assert body["displayName"] == "tiny-pipeline"
    assert all(
        t["cachingOptions"] == {"enableCache": True}
        for t in _tasks(body["pipelineSpec"])
    )
    # The SDK checks the pipeline root's bucket before submitting; it stayed local.
    assert fake_vertex.calls("GET", r"^/storage/v1/b/demo-bucket$")
    assert "GCS bucket" not in caplog.text

    assert result.backend == "vertex"
    assert result.run_id == job_id
    assert result.state == "PENDING"
    assert result.url == (
        "https://console.cloud.google.com/vertex-ai/locations/us-central1/pipelines/"
        f"runs/{job_id}?project={PROJECT}"
    )
    assert result.summary() == f"Vertex AI run {job_id} is PENDING: {result.url}"


def test_caching_can_be_turned_off_for_every_step(fake_vertex, tiny_yaml):
    _submit(fake_vertex, tiny_yaml, enable_caching=False)
    (create,) = fake_vertex.calls("POST", r"/pipelineJobs$")
    tasks = _tasks(create.json["pipelineSpec"])
    assert tasks and all(t["cachingOptions"] == {"enableCache": False} for t in tasks)


def test_wait_polls_until_the_job_finishes(fake_vertex, tiny_yaml):
    fake_vertex.job_states = [
        "PIPELINE_STATE_RUNNING",
        "PIPELINE_STATE_RUNNING",
        "PIPELINE_STATE_FAILED",
    ]
    result = _submit(fake_vertex, tiny_yaml, wait=True, poll_interval_s=0.01)
    assert result.state == "FAILED" and result.failed
    assert len(fake_vertex.calls("GET", r"/pipelineJobs/")) == 3


def test_experiment_is_created_and_the_run_attached_to_it(fake_vertex, tiny_yaml):
    # The SDK attaches the run's metadata context once the job is running.
    fake_vertex.job_states = ["PIPELINE_STATE_RUNNING"]
    result = _submit(fake_vertex, tiny_yaml, experiment="penguins-exp")

    (created,) = fake_vertex.calls("POST", r"/metadataStores/default/contexts$")
    assert created.query["contextId"] == ["penguins-exp"]
    assert created.json["schemaTitle"] == "system.Experiment"
    (attach,) = fake_vertex.calls("POST", r"contexts/penguins-exp:addContextChildren$")
    assert attach.json["childContexts"] == [
        f"projects/{PROJECT}/locations/{REGION}/metadataStores/default/contexts/"
        f"{result.run_id}"
    ]


def test_spec_vertex_would_reject_fails_before_any_request(fake_vertex, compiled):
    with pytest.raises(PipelineSpecError) as info:
        _submit(fake_vertex, compiled["k8s"], params={})
    message = str(info.value)
    assert message.startswith(
        f"Pipeline file {compiled['k8s']} cannot run on Vertex AI Pipelines: "
    )
    assert "platforms.kubernetes (executors: exec-hello)" in message
    assert fake_vertex.requests == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"pipeline_root": "/tmp/root"}, "must be a Cloud Storage folder"),
        ({"labels": {"Team": "ml"}}, "Label key 'Team' on the pipeline job is invalid"),
        ({"labels": {"team": "ML Platform"}}, "try 'ml-platform'"),
        (
            {"labels": {"vertex-ai-pipelines-run-billing-id": "x"}},
            "reserved by Vertex AI Pipelines",
        ),
        ({"params": {"message": "hi", "scale": "big"}}, "value 'big'"),
    ],
)
def test_bad_arguments_are_refused_before_any_request(
    fake_vertex, tiny_yaml, overrides, expected
):
    with pytest.raises(SubmitError, match=expected):
        _submit(fake_vertex, tiny_yaml, **overrides)
    assert fake_vertex.requests == []


def test_vertex_api_error_is_one_sentence(fake_vertex, tiny_yaml):
    fake_vertex.refuse_next("Service account runner is not allowed.\nDetails follow.")
    with pytest.raises(SubmitError) as info:
        _submit(fake_vertex, tiny_yaml)
    assert str(info.value) == (
        "Vertex AI could not create the pipeline job (400 BadRequest): "
        "Service account runner is not allowed."
    )


def test_unreachable_endpoint_is_named(fake_vertex, tiny_yaml, closed_port):
    endpoint = f"http://127.0.0.1:{closed_port}"
    with pytest.raises(BackendUnreachableError) as info:
        _submit(fake_vertex, tiny_yaml, api_endpoint=endpoint)
    assert str(info.value) == (
        f"Vertex AI API at {endpoint} is unreachable (Connection refused)."
    )


def test_missing_credentials_say_how_to_log_in(tiny_yaml, isolated_google_env):
    with pytest.raises(CredentialsError) as info:
        submit_vertex(
            tiny_yaml,
            project=PROJECT,
            region=REGION,
            pipeline_root=ROOT,
            params={"message": "hi"},
        )
    error = info.value
    assert str(error) == (
        "No Google Cloud credentials were found; run `gcloud auth "
        "application-default login` (or set GOOGLE_APPLICATION_CREDENTIALS to a "
        "service-account key file) and try again."
    )
    assert error.__cause__ is None and error.__suppress_context__
    # google-auth looked for a GCE metadata server, and only on 127.0.0.1.
    assert isolated_google_env.requests


def test_credentials_variable_pointing_nowhere_is_explained(
    tiny_yaml, monkeypatch, tmp_path
):
    missing = tmp_path / "none.json"
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(missing))
    with pytest.raises(CredentialsError) as info:
        submit_vertex(
            tiny_yaml,
            project=PROJECT,
            region=REGION,
            pipeline_root=ROOT,
            params={"message": "hi"},
        )
    assert str(info.value) == (
        f"GOOGLE_APPLICATION_CREDENTIALS points at {missing}, which is not a usable "
        "credentials file; fix or unset it and run `gcloud auth "
        "application-default login`."
    )


def test_requests_carry_the_users_adc_token(fake_vertex, tiny_yaml):
    _submit(fake_vertex, tiny_yaml)
    (create,) = fake_vertex.calls("POST", r"/pipelineJobs$")
    assert create.headers["authorization"] == "Bearer ya29.user-access-token"


def test_service_account_key_file_signs_the_requests(
    fake_vertex, service_account_key, tiny_yaml
):
    from google.auth import jwt

    _submit(fake_vertex, tiny_yaml)

    (create,) = fake_vertex.calls("POST", r"/pipelineJobs$")
    token = create.headers["authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, certs=fake_vertex.public_pem, audience=None)
    assert claims["iss"] == service_account_key
    # The bucket check went through the OAuth token endpoint with a signed assertion.
    assert fake_vertex.calls("POST", "^/token$")
    # google-auth's background boundary lookup must finish on the fake before the
    # loopback guard is lifted.
    deadline = time.monotonic() + 5
    while not fake_vertex.calls("GET", "/allowedLocations$"):
        assert time.monotonic() < deadline, "no regional access boundary lookup seen"
        time.sleep(0.05)


def test_sdk_settings_do_not_leak_into_later_calls(fake_vertex, tiny_yaml):
    from google.cloud.aiplatform import initializer

    before = initializer.global_config.api_endpoint
    _submit(fake_vertex, tiny_yaml)
    assert initializer.global_config.api_endpoint == before


def test_job_ids_are_valid_unique_and_start_with_a_letter():
    now = datetime(2024, 5, 1, 12, 30, 0, tzinfo=UTC)
    first = vertex_job_id("tiny-pipeline", now)
    assert first.startswith("tiny-pipeline-20240501123000-")
    assert first != vertex_job_id("tiny-pipeline", now)
    digit = vertex_job_id("2024-retrain", now)
    assert digit.startswith("run-2024-retrain-")
    long_id = vertex_job_id("a" * 200, now)
    for job_id in (first, digit, long_id):
        assert VERTEX_JOB_ID_PATTERN.match(job_id), job_id

"""submit_kfp through the real kfp.Client against a fake KFP v2beta1 API."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from mlops_suite.ops.kfp_backend import submit_kfp
from mlops_suite.ops.spec import ParameterError
from mlops_suite.ops.submission import BackendUnreachableError, SubmitError


def test_run_is_created_with_spec_parameters_and_new_experiment(fake_kfp, tiny_yaml):
    result = submit_kfp(
        tiny_yaml,
        host=fake_kfp.url,
        experiment="nightly",
        params={"message": "hello", "scale": 2.5},
        run_name="try-1",
    )

    created = fake_kfp.calls("POST", "^/apis/v2beta1/experiments$")
    assert [c.json["display_name"] for c in created] == ["nightly"]
    (run_call,) = fake_kfp.calls("POST", "^/apis/v2beta1/runs$")
    body = run_call.json
    experiment_id = next(iter(fake_kfp.experiments))
    assert body["experiment_id"] == experiment_id
    assert body["display_name"] == "try-1"
    assert body["runtime_config"]["parameters"] == {"message": "hello", "scale": 2.5}
    compiled = yaml.safe_load(tiny_yaml.read_text())
    assert body["pipeline_spec"]["pipelineInfo"]["name"] == "tiny-pipeline"
    assert body["pipeline_spec"]["root"] == compiled["root"]
    assert body["pipeline_spec"]["deploymentSpec"] == compiled["deploymentSpec"]

    assert result.run_id in fake_kfp.runs
    assert result.state == "PENDING"
    assert result.url == f"{fake_kfp.url}/#/runs/details/{result.run_id}"
    assert result.summary() == (
        f"Kubeflow Pipelines run {result.run_id} is PENDING: {result.url}"
    )


def test_existing_experiment_is_reused_and_wait_returns_final_state(
    fake_kfp, tiny_yaml
):
    existing = fake_kfp.add_experiment("nightly")
    fake_kfp.run_states = ["RUNNING", "RUNNING", "SUCCEEDED"]

    result = submit_kfp(
        tiny_yaml,
        host=fake_kfp.url + "/",
        experiment="nightly",
        params={"message": "hi"},
        wait=True,
        poll_interval_s=0.01,
        existing_token="secret-token",
    )

    assert result.state == "SUCCEEDED" and not result.failed
    assert fake_kfp.calls("POST", "^/apis/v2beta1/experiments$") == []
    (run_call,) = fake_kfp.calls("POST", "^/apis/v2beta1/runs$")
    assert run_call.json["experiment_id"] == existing
    # Defaults stay with the server: only the given parameter is sent.
    assert run_call.json["runtime_config"]["parameters"] == {"message": "hi"}
    assert run_call.headers["authorization"] == "Bearer secret-token"
    assert len(fake_kfp.calls("GET", "^/apis/v2beta1/runs/")) == 3


def test_failed_run_is_reported_as_failed(fake_kfp, tiny_yaml):
    fake_kfp.run_states = ["FAILED"]
    result = submit_kfp(
        tiny_yaml,
        host=fake_kfp.url,
        params={"message": "hi"},
        wait=True,
        poll_interval_s=0.01,
    )
    assert result.state == "FAILED" and result.failed


def test_wait_gives_up_after_timeout_naming_the_run(fake_kfp, tiny_yaml):
    fake_kfp.run_states = ["RUNNING"]
    with pytest.raises(SubmitError, match=r"still RUNNING after 0\.2 s") as info:
        submit_kfp(
            tiny_yaml,
            host=fake_kfp.url,
            params={"message": "hi"},
            wait=True,
            timeout_s=0.2,
            poll_interval_s=0.05,
        )
    assert next(iter(fake_kfp.runs)) in str(info.value)


def test_unknown_parameter_fails_before_contacting_the_server(fake_kfp, tiny_yaml):
    with pytest.raises(ParameterError) as info:
        submit_kfp(tiny_yaml, host=fake_kfp.url, params={"mesage": "typo"})
    assert str(info.value) == (
        "Pipeline tiny-pipeline has no parameter named mesage; "
        "accepted parameters: message, scale."
    )
    assert fake_kfp.requests == []


def test_missing_required_parameter_is_named(fake_kfp, tiny_yaml):
    with pytest.raises(ParameterError, match="needs a value for message"):
        submit_kfp(tiny_yaml, host=fake_kfp.url, params={"scale": 1.0})


def test_unreachable_host_is_named_in_one_sentence(closed_port, tiny_yaml):
    host = f"http://127.0.0.1:{closed_port}"
    started = time.monotonic()
    with pytest.raises(BackendUnreachableError) as info:
        submit_kfp(tiny_yaml, host=host, params={"message": "hi"})
    assert str(info.value) == (
        f"Kubeflow Pipelines at {host} is unreachable (Connection refused); check "
        "the URL and that the API is exposed or port-forwarded."
    )
    assert time.monotonic() - started < 5


def test_host_without_scheme_is_refused(tiny_yaml):
    with pytest.raises(BackendUnreachableError, match="needs a scheme"):
        submit_kfp(tiny_yaml, host="localhost:8080", params={"message": "hi"})


def test_server_that_is_not_kfp_is_reported(web_server, tiny_yaml):
    with pytest.raises(BackendUnreachableError, match="not a Kubeflow Pipelines v2"):
        submit_kfp(tiny_yaml, host=web_server.url, params={"message": "hi"})


def test_server_refusing_access_asks_for_a_token(fake_vertex, tiny_yaml):
    # The fake Vertex API answers 401 to requests without a valid bearer token,
    # as a KFP behind an authenticating proxy does.
    with pytest.raises(SubmitError, match=r"refused access \(401\); pass a valid"):
        submit_kfp(tiny_yaml, host=fake_vertex.url, params={"message": "hi"})


def test_refused_run_reports_the_server_message(fake_kfp, tiny_yaml):
    fake_kfp.refuse_runs = "pipeline spec is invalid: missing executor"
    with pytest.raises(SubmitError) as info:
        submit_kfp(tiny_yaml, host=fake_kfp.url, params={"message": "hi"})
    assert "refused the request (400" in str(info.value)
    assert "pipeline spec is invalid: missing executor" in str(info.value)


def test_json_pipeline_file_needs_a_yaml_name(fake_kfp, tiny_yaml, tmp_path: Path):
    as_json = tmp_path / "tiny.json"
    as_json.write_text(tiny_yaml.read_text())
    with pytest.raises(SubmitError, match=r"must end in \.yaml or \.yml"):
        submit_kfp(as_json, host=fake_kfp.url, params={"message": "hi"})
    assert fake_kfp.requests == []


def test_missing_pipeline_file_is_named(fake_kfp, tmp_path: Path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(SubmitError, match=f"Pipeline file {missing} does not exist"):
        submit_kfp(missing, host=fake_kfp.url, params={})
    assert fake_kfp.requests == []

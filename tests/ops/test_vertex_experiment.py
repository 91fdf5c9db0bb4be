"""`mlops submit --experiment` on Vertex AI logs the approved version to the experiment.

The real aiplatform SDK talks to the fake Vertex AI; the registry is a local folder
holding what the run's register-model step wrote (registered here in its place).
"""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml
from vertex_fake import PROJECT, REGION

from mlops_suite.cli import main
from mlops_suite.model_folder import save_model
from mlops_suite.ops import submission
from mlops_suite.ops.vertex_backend import submit_vertex
from mlops_suite.ops.vertex_experiment import (
    REGISTER_TASK,
    ExperimentError,
    experiment_record,
    experiment_run_name,
    log_run_to_experiment,
    registered_by_run,
)
from mlops_suite.registry import ModelRegistry
from mlops_suite.training.train import train_model

GOLDEN = Path(__file__).parents[1] / "golden"
TRAINING = GOLDEN / "training.yaml"
EXPERIMENT = "penguins-exp"
NAME = "penguins"
STORE = f"projects/{PROJECT}/locations/{REGION}/metadataStores/default"


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """`mlops submit --wait` polls every 10 s; here, at once."""
    monkeypatch.setattr(
        submission,
        "time",
        SimpleNamespace(sleep=lambda s: time.sleep(0.01), monotonic=time.monotonic),
    )


@pytest.fixture
def registry(tmp_path: Path) -> str:
    """Version 1, then version 2 (C = 0.5), the champion, as the run registers it."""
    rows = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "y": list("aaabbb")})
    uri = str(tmp_path / "registry")
    for c, metrics in ((1.0, {"accuracy": 0.8}), (0.5, {"accuracy": 0.9})):
        folder = save_model(
            train_model(rows, "y", estimator="logistic_regression", params={"C": c}),
            tmp_path / f"model-{c}",
        )
        lineage = {
            "metrics": {**metrics, "roc_auc": 0.95, "log_loss": None},
            "approval_reason": "Approved: accuracy above 0.7.",
            "pipeline_run_id": "the-run",
        }
        ModelRegistry(uri).register(NAME, folder, lineage=lineage)
    return uri


def _submit(fake_vertex, *extra: str) -> int:
    return main(
        ["submit", str(TRAINING), "--target", "vertex"]
        + ["--project", PROJECT, "--region", REGION, "--api-endpoint", fake_vertex.url]
        + ["--pipeline-root", "gs://demo-bucket/root", "--experiment", EXPERIMENT]
        + ["--param", "data_uri=gs://demo-bucket/penguins.csv", "--param", "label=y"]
        + ["--param", f"model_name={NAME}", "--param", "registry_uri=gs://b/r"]
        + list(extra)
    )


def _registered(fake_vertex, registry: str, version: int, new: bool = True) -> None:
    """The run's steps as Vertex AI reports them once it has ended."""
    # Running while the SDK files it under the experiment, then over.
    fake_vertex.job_states = ["PIPELINE_STATE_RUNNING", "PIPELINE_STATE_SUCCEEDED"]
    fake_vertex.report_task("train-model")
    fake_vertex.report_task(
        REGISTER_TASK,
        inputs={"registry_uri": registry, "model_name": NAME, "approval": "auto"},
        outputs={"version": version, "new_version": new},
    )


def test_an_approved_run_logs_its_versions_params_and_metrics(
    fake_vertex, registry, capsys
):
    _registered(fake_vertex, registry, 2)

    assert _submit(fake_vertex, "--wait") == 0

    (job,) = fake_vertex.pipeline_jobs.values()
    job_id = job["name"].rsplit("/", 1)[1]
    run = fake_vertex.experiment_runs()[job_id]
    metadata = ModelRegistry(registry).metadata(NAME, 2)
    assert run["name"] == f"{STORE}/contexts/{EXPERIMENT}-{job_id}"
    assert run["metadata"]["_params"] == {
        "model_name": NAME,
        "version": 2,
        "status": "approved",
        "estimator": "logistic_regression",
        "data_sha256": metadata["data_sha256"],
        "model_uri": ModelRegistry(registry).version_uri(NAME, 2),
        **{f"hp.{k}": v for k, v in metadata["hyperparameters"].items()},
    }
    assert run["metadata"]["_params"]["hp.C"] == 0.5
    # The metrics recorded at approval; an undefined one is left out.
    assert run["metadata"]["_metrics"] == {"accuracy": 0.9, "roc_auc": 0.95}
    assert run["metadata"]["_state"] == "COMPLETE"
    # The experiment holds the run, and the run holds the pipeline run.
    experiment = f"{STORE}/contexts/{EXPERIMENT}"
    assert run["name"] in fake_vertex.context_children[experiment]
    assert fake_vertex.context_children[run["name"]] == [f"{STORE}/contexts/{job_id}"]
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == (
        f"Logged {NAME} v2 ({len(run['metadata']['_params'])} parameters, 2 metrics) "
        f"to Vertex AI Experiment '{EXPERIMENT}', run {job_id}."
    )


def test_a_rejected_run_logs_nothing(fake_vertex, registry, capsys):
    fake_vertex.job_states = ["PIPELINE_STATE_RUNNING", "PIPELINE_STATE_SUCCEEDED"]
    fake_vertex.report_task("approve-model")
    fake_vertex.report_task("skip-registration", outputs={"version": 0})

    assert _submit(fake_vertex, "--wait") == 0

    assert fake_vertex.experiment_runs() == {}
    assert not fake_vertex.calls("PATCH", "/contexts/")
    (job,) = fake_vertex.pipeline_jobs.values()
    job_id = job["name"].rsplit("/", 1)[1]
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"Run {job_id} registered no version (its model was not approved); nothing "
        f"logged to Vertex AI Experiment '{EXPERIMENT}'."
    )


def test_a_model_identical_to_the_champion_logs_nothing(fake_vertex, registry):
    _registered(fake_vertex, registry, 2, new=False)
    log = _log_last_run(fake_vertex)
    assert log.run_name is None
    assert log.reason == f"added no version ({NAME} is identical to champion v2)"
    assert fake_vertex.experiment_runs() == {}


def test_a_run_that_failed_before_registering_logs_nothing(
    fake_vertex, registry, capsys
):
    fake_vertex.report_task("train-model", state="FAILED")
    fake_vertex.job_states = ["PIPELINE_STATE_RUNNING", "PIPELINE_STATE_FAILED"]

    assert _submit(fake_vertex, "--wait") == 1

    assert fake_vertex.experiment_runs() == {}
    assert (
        capsys.readouterr()
        .out.splitlines()[-1]
        .endswith(
            f"ended FAILED without registering a version; nothing logged to Vertex AI "
            f"Experiment '{EXPERIMENT}'."
        )
    )


def test_a_version_registered_before_a_later_step_failed_is_logged(
    fake_vertex, registry
):
    _registered(fake_vertex, registry, 2)
    fake_vertex.report_task("deploy-model", state="FAILED")
    fake_vertex.job_states = ["PIPELINE_STATE_RUNNING", "PIPELINE_STATE_FAILED"]

    log = _log_last_run(fake_vertex)

    assert log.params["version"] == 2
    run = fake_vertex.experiment_runs()[log.run_name]
    assert run["metadata"]["_metrics"] == {"accuracy": 0.9, "roc_auc": 0.95}


def test_without_wait_it_says_when_metrics_are_logged(fake_vertex, registry, capsys):
    _registered(fake_vertex, registry, 2)
    fake_vertex.job_states = ["PIPELINE_STATE_RUNNING"]

    assert _submit(fake_vertex) == 0

    assert fake_vertex.experiment_runs() == {}
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"Nothing logged to Vertex AI Experiment '{EXPERIMENT}' yet: the approved "
        "version's parameters and metrics are logged when the run is waited for "
        "(--wait)."
    )


def test_an_experiment_that_cannot_be_written_is_one_sentence(
    fake_vertex, registry, capsys
):
    # An administrator made the experiment; the submitter may add the pipeline run to
    # it but not create runs in it.
    fake_vertex.add_experiment(EXPERIMENT)
    fake_vertex.deny("aiplatform.contexts.create")
    _registered(fake_vertex, registry, 2)

    assert _submit(fake_vertex, "--wait") == 1

    (job,) = fake_vertex.pipeline_jobs.values()
    job_id = job["name"].rsplit("/", 1)[1]
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"Vertex AI run {job_id} is SUCCEEDED: https://console.cloud.google.com/"
        f"vertex-ai/locations/{REGION}/pipelines/runs/{job_id}?project={PROJECT}"
    ]
    assert err == (
        f"mlops: error: Vertex AI could not write experiment '{EXPERIMENT}' of project "
        f"{PROJECT} (403 Forbidden): Permission 'aiplatform.contexts.create' denied "
        f"on resource '//aiplatform.googleapis.com/{STORE}' (or it may not exist); "
        f"pipeline run {job_id} is not affected.\n"
    )
    # Nothing was written, and the pipeline job was neither cancelled nor deleted.
    assert fake_vertex.experiment_runs() == {}
    assert not fake_vertex.calls("POST", r":cancel$")
    assert not fake_vertex.calls("DELETE", "/pipelineJobs/")


def test_an_experiment_that_cannot_be_made_stops_the_submission(
    fake_vertex, registry, capsys
):
    fake_vertex.deny("aiplatform.contexts.create")

    assert _submit(fake_vertex, "--wait") == 1

    assert capsys.readouterr().err == (
        f"mlops: error: Vertex AI Experiment '{EXPERIMENT}' in project {PROJECT} "
        "could not be used for the run (403 Forbidden: Permission "
        "'aiplatform.contexts.create' denied on resource "
        f"'//aiplatform.googleapis.com/{STORE}' (or it may not exist)); nothing was "
        "submitted.\n"
    )
    assert fake_vertex.pipeline_jobs == {}


def test_a_run_that_cannot_be_filed_under_the_experiment_says_it_runs(
    fake_vertex, registry, capsys
):
    fake_vertex.add_experiment(EXPERIMENT)
    fake_vertex.deny("aiplatform.contexts.addContextChildren")
    _registered(fake_vertex, registry, 2)

    assert _submit(fake_vertex, "--wait") == 1

    (job,) = fake_vertex.pipeline_jobs.values()
    job_id = job["name"].rsplit("/", 1)[1]
    err = capsys.readouterr().err
    assert err.startswith(
        f"mlops: error: Vertex AI Experiment '{EXPERIMENT}' in project {PROJECT} "
        "could not be used for the run (403 Forbidden: Permission "
        "'aiplatform.contexts.addContextChildren' denied on resource "
    )
    assert err.endswith(
        f"; run {job_id} was submitted without it: https://console.cloud.google.com"
        f"/vertex-ai/locations/{REGION}/pipelines/runs/{job_id}?project={PROJECT}.\n"
    )
    assert fake_vertex.experiment_runs() == {}


def _log_last_run(fake_vertex):
    """Submits and waits as `mlops submit --wait` does, then logs the run."""
    result = submit_vertex(
        TRAINING,
        project=PROJECT,
        region=REGION,
        pipeline_root="gs://demo-bucket/root",
        api_endpoint=fake_vertex.url,
        experiment=EXPERIMENT,
        params={
            "data_uri": "gs://demo-bucket/penguins.csv",
            "label": "y",
            "model_name": NAME,
            "registry_uri": "gs://b/r",
        },
        wait=True,
    )
    return log_run_to_experiment(
        result.run_id,
        experiment=EXPERIMENT,
        project=PROJECT,
        region=REGION,
        api_endpoint=fake_vertex.url,
    )


# ------------------------------------------------------------- on plain data


def test_the_training_pipeline_reports_what_is_read_from_its_register_step():
    spec = yaml.safe_load(TRAINING.read_text())
    tasks = {
        name: task
        for component in [spec["root"], *spec["components"].values()]
        for name, task in component.get("dag", {}).get("tasks", {}).items()
    }
    register = tasks[REGISTER_TASK]
    assert {"registry_uri", "model_name"} <= set(register["inputs"]["parameters"])
    component = spec["components"][register["componentRef"]["name"]]
    outputs = component["outputDefinitions"]["parameters"]
    assert {"version", "new_version"} <= set(outputs)


def test_only_a_register_step_that_succeeded_counts():
    metadata = {
        "input:registry_uri": "gs://b/r",
        "input:model_name": NAME,
        "output:version": 3.0,  # a Struct holds numbers as floats
        "output:new_version": True,
    }
    skipped = {"task_name": REGISTER_TASK, "state": "SKIPPED", "metadata": {}}
    done = {"task_name": REGISTER_TASK, "state": "SUCCEEDED", "metadata": metadata}
    assert registered_by_run([skipped]) is None
    found = registered_by_run([skipped, done])
    assert found is not None
    assert (found.registry_uri, found.version, found.new_version) == (
        "gs://b/r",
        3,
        True,
    )


def test_params_are_numbers_or_text_and_metrics_finite():
    params, metrics = experiment_record(
        {
            "estimator": "random_forest",
            "hyperparameters": {
                "max_depth": None,
                "bootstrap": True,
                "n": 5,
                "tol": float("inf"),
            },
            "lineage": {
                "metrics": {"rmse": 1.5, "r2": float("nan"), "mae": None},
                "data_sha256": "cd" * 32,
            },
        },
        model_name=NAME,
        version=4,
        status="pending",
        model_uri="gs://b/r/penguins/v4",
    )
    assert params["hp.max_depth"] == "null"
    assert params["hp.bootstrap"] == "true"
    assert params["hp.n"] == 5
    assert params["hp.tol"] == "inf"
    assert params["data_sha256"] == "cd" * 32
    assert params["status"] == "pending"
    assert metrics == {"rmse": 1.5}


def test_run_names_fit_the_context_id_limit():
    job_id = "training-pipeline-20240501120000-ab12"
    assert experiment_run_name("exp", job_id) == job_id
    long = "e" * 90
    name = experiment_run_name(long, job_id)
    assert len(long) + 1 + len(name) <= 121
    assert name.endswith("20240501120000-ab12") and not name.startswith("-")
    with pytest.raises(ExperimentError, match="110 characters long; .* at most 101"):
        experiment_run_name("e" * 110, job_id)

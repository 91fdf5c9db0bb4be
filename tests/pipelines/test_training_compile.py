"""Tier 3: every pipeline compiles, and its spec is the reviewed golden YAML."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlops_suite.components.factory import DEFAULT_IMAGE
from mlops_suite.ops.compile import compile_all
from mlops_suite.ops.spec import check_vertex_constraints, read_pipeline_spec

GOLDEN = Path(__file__).parents[1] / "golden"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("compiled")
    return {path.stem: path for path in compile_all(out)}


def test_every_pipeline_matches_its_golden_yaml(compiled: dict[str, Path]) -> None:
    assert compiled, "no pipeline was compiled"
    for name, path in compiled.items():
        golden = GOLDEN / f"{name}.yaml"
        assert golden.exists(), f"{golden} is missing: run `make golden` and review it"
        assert path.read_text() == golden.read_text(), (
            f"the compiled {name} pipeline differs from {golden}; if the change is "
            "intended, run `make golden` and review the diff"
        )


def test_every_step_runs_in_the_image_given_at_compile_time(tmp_path: Path) -> None:
    image = "registry.example/team/mlops:test-123"
    for path in compile_all(tmp_path, image=image):
        spec = read_pipeline_spec(path)
        images = {
            executor["container"]["image"]
            for executor in spec["deploymentSpec"]["executors"].values()
        }
        assert images == {image}, f"{path.name} uses {images}"
    defaults = compile_all(tmp_path / "default")
    spec = read_pipeline_spec(defaults[0])
    images = {
        e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()
    }
    assert images == {DEFAULT_IMAGE}


def test_training_pipeline_wires_tuning_approval_and_registration(
    compiled: dict[str, Path],
) -> None:
    spec = yaml.safe_load(compiled["training"].read_text())
    assert spec["pipelineInfo"]["name"] == "mlops-training"
    text = compiled["training"].read_text()
    # Trials fan out in parallel and registration only runs on approval.
    assert "parameterIterator" in text
    assert "approve-model-Output" in text
    dag_tasks = spec["components"]["comp-mlops-training-steps"]["dag"]["tasks"]
    assert {"ingest-data", "profile-data", "validate-data", "split-data"} <= set(
        dag_tasks
    )
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert parameters["tune"]["defaultValue"] is False
    assert parameters["intended_use"]["defaultValue"] == ""
    # Every trial reaches registration, whichever branch chose the parameters.
    assert "select-best-trial-ranked_trials" in text


def test_portable_specs_meet_vertex_constraints_and_kfp_variants_are_separate(
    compiled: dict[str, Path],
) -> None:
    for name, path in compiled.items():
        spec = read_pipeline_spec(path)
        problems = check_vertex_constraints(spec)
        if name.endswith("-kfp"):
            # The KFP-only variant carries kfp-kubernetes settings Vertex rejects.
            assert any("kubernetes" in problem for problem in problems), problems
        else:
            assert problems == [], f"{name}: {problems}"


def test_kfp_variant_gives_registry_steps_the_object_store_credentials(
    compiled: dict[str, Path],
) -> None:
    documents = list(yaml.safe_load_all(compiled["training-kfp"].read_text()))
    executors = documents[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    registry_steps = ("exec-approve-model", "exec-register-model", "exec-deploy-model")
    for step in ("exec-ingest-data", *registry_steps):
        secret = executors[step]["secretAsEnv"][0]
        assert secret["secretName"] == "mlpipeline-minio-artifact"
        envs = {item["envVar"] for item in secret["keyToEnv"]}
        assert envs == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    # Steps that never touch the object store get no credentials.
    assert "exec-train-model" not in executors


def test_kfp_variants_default_to_the_kind_cluster_and_portable_ones_to_nothing(
    compiled: dict[str, Path],
) -> None:
    for name in ("training", "continuous-training"):
        portable = read_pipeline_spec(compiled[name])["root"]["inputDefinitions"]
        kfp = read_pipeline_spec(compiled[f"{name}-kfp"])["root"]["inputDefinitions"]
        registry = "registry_uri"
        assert "defaultValue" not in portable["parameters"][registry]
        assert kfp["parameters"][registry]["defaultValue"] == "s3://mlpipeline/registry"


def test_defaults_given_at_compile_time_reach_every_pipeline(tmp_path: Path) -> None:
    paths = compile_all(tmp_path, defaults={"registry_uri": "gs://team/registry"})
    for path in paths:
        parameters = read_pipeline_spec(path)["root"]["inputDefinitions"]["parameters"]
        assert parameters["registry_uri"]["defaultValue"] == "gs://team/registry"


def test_continuous_training_passes_every_training_parameter_on(
    compiled: dict[str, Path],
) -> None:
    training = read_pipeline_spec(compiled["training"])
    continuous = read_pipeline_spec(compiled["continuous-training"])
    given = training["root"]["inputDefinitions"]["parameters"]
    taken = continuous["root"]["inputDefinitions"]["parameters"]
    steps = continuous["components"]["comp-mlops-continuous-training-steps"]
    branch = steps["dag"]["tasks"]["condition-branches-1"]
    passed_on = branch["inputs"]["parameters"]
    for name, definition in given.items():
        own = "training_data_uri" if name == "data_uri" else name
        assert own in taken, f"continuous training has no parameter for {name}"
        kept = ("parameterType", "defaultValue", "isOptional")
        assert {key: taken[own].get(key) for key in kept} == {
            key: definition.get(key) for key in kept
        }, f"{own}'s type or default differs"
        # Continuous training's own exit step notifies: one message per run.
        if name != "notify_url":
            assert f"pipelinechannel--{own}" in passed_on, f"{own} is not passed on"
    assert "pipelinechannel--notify_url" not in passed_on


def test_both_pipelines_report_the_version_they_registered(
    compiled: dict[str, Path],
) -> None:
    """The steps return it (``mlops run`` reads it); an ExitHandler lets nothing out."""
    for name in ("training", "continuous-training"):
        spec = read_pipeline_spec(compiled[name])
        assert "outputDefinitions" not in spec["root"]
        steps = spec["components"][f"comp-mlops-{name}-steps"]
        outputs = steps["outputDefinitions"]
        assert outputs["parameters"]["version"] == {"parameterType": "NUMBER_INTEGER"}
        assert outputs["parameters"]["new_version"] == {"parameterType": "BOOLEAN"}


def test_both_pipelines_notify_when_their_steps_end_however_they_end(
    compiled: dict[str, Path],
) -> None:
    for name in ("training", "continuous-training", "training-kfp"):
        spec = read_pipeline_spec(compiled[name])
        tasks = spec["root"]["dag"]["tasks"]
        assert set(tasks) == {"exit-handler-1", "notify"}, name
        guarded = spec["components"]["comp-exit-handler-1"]["dag"]["tasks"]
        assert list(guarded) == [f"{spec['pipelineInfo']['name']}-steps"]
        notify = tasks["notify"]
        assert notify["triggerPolicy"]["strategy"] == "ALL_UPSTREAM_TASKS_COMPLETED"
        inputs = notify["inputs"]["parameters"]
        assert inputs["status"] == {
            "taskFinalStatus": {"producerTask": "exit-handler-1"}
        }
        assert inputs["notify_url"] == {"componentInputParameter": "notify_url"}
        assert inputs["pipeline_run_id"]["runtimeValue"]["constant"] == (
            "{{$.pipeline_job_uuid}}"
        )
        assert "cachingOptions" in notify and not notify["cachingOptions"]
        notify_url = spec["root"]["inputDefinitions"]["parameters"]["notify_url"]
        assert notify_url["defaultValue"] == ""
    # The exit step reads the registry's history: on KFP it gets the store's keys.
    documents = list(yaml.safe_load_all(compiled["training-kfp"].read_text()))
    executors = documents[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert "exec-notify" in executors


def test_a_notify_url_default_that_is_not_http_is_refused(tmp_path: Path) -> None:
    from mlops_suite.notification import NotifyUrlError

    with pytest.raises(NotifyUrlError, match=r"^notify URL 'ftp://hooks\.example'"):
        compile_all(tmp_path / "out", defaults={"notify_url": "ftp://hooks.example"})
    assert not (tmp_path / "out").exists()

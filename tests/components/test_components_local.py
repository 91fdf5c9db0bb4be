"""Tier 2: every component on its own through kfp.local.

A component runs exactly as it runs in a cluster: as ``python -m kfp.dsl.executor_main``
in a subprocess, reading its input artifacts and writing its outputs. kfp.local takes
no artifact arguments for a lone component, so a one-step pipeline brings each input
in with ``dsl.importer``; outputs are read from the step's folder.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import k8s_fake
import pandas as pd
import pytest
from kfp import dsl, local
from kfp.dsl import Artifact, Dataset, Model
from webhook_receiver import WebhookReceiver

from mlops_suite.artifacts import (
    BLESSING_FILE,
    DATASET_FILE,
    EVALUATION_FILE,
    MODEL_CARD_FILE,
    SCHEMA_FILE,
    STATISTICS_FILE,
)
from mlops_suite.components.factory import build_components
from mlops_suite.data.ingest import dataset_sha256, write_dataset
from mlops_suite.data.schema import infer_schema
from mlops_suite.data.split import split_dataset
from mlops_suite.data.statistics import compute_statistics
from mlops_suite.evaluation.metrics import evaluate
from mlops_suite.model_folder import load_model, save_model
from mlops_suite.registry import ModelRegistry
from mlops_suite.serving.server_process import start_server_in_subprocess
from mlops_suite.training.train import train_model

pytestmark = pytest.mark.slow

C = build_components()
Inputs = dict[str, tuple[Path, type, dict[str, Any]]]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pipeline-root")
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(path))
    return path


def run_step(
    root: Path, component: Any, inputs: Inputs, **params: Any
) -> tuple[Path, dict[str, Any]]:
    """Runs ``component`` alone; returns its output folder and output parameters."""

    @dsl.pipeline(name="one-step")
    def one_step():  # KFP would read "-> None" as an output type
        imported = {
            name: dsl.importer(
                artifact_uri=str(path), artifact_class=kind, metadata=meta
            )
            for name, (path, kind, meta) in inputs.items()
        }
        component(**{name: task.output for name, task in imported.items()}, **params)

    before = set(root.iterdir())
    one_step()
    (run_dir,) = [path for path in root.iterdir() if path not in before]
    step = run_dir / component.name.replace("_", "-")
    output = json.loads((step / "executor_output.json").read_text())
    return step, output.get("parameterValues", {})


@pytest.fixture(scope="module")
def data(
    tmp_path_factory: pytest.TempPathFactory, penguins: pd.DataFrame
) -> dict[str, Any]:
    """Artifacts as the stages before would have written them."""
    base = tmp_path_factory.mktemp("artifacts")
    parts = split_dataset(penguins, "species", "classification", seed=0)
    folders = {}
    for name, frame in (("dataset", penguins), *parts.items()):
        (base / name).mkdir()
        write_dataset(frame, base / name / DATASET_FILE)
        folders[name] = base / name
    schema = infer_schema(penguins)
    (base / "schema").mkdir()
    (base / "schema" / SCHEMA_FILE).write_text(json.dumps(schema))
    (base / "statistics").mkdir()
    (base / "statistics" / STATISTICS_FILE).write_text(
        json.dumps(compute_statistics(penguins))
    )
    trained = train_model(
        parts["train"], "species", schema=schema, data_sha256=dataset_sha256(penguins)
    )
    save_model(trained, base / "model")
    loaded = load_model(base / "model")
    (base / "evaluation").mkdir()
    (base / "evaluation" / EVALUATION_FILE).write_text(
        json.dumps(evaluate(loaded.pipeline, loaded.metadata, parts["test"]).to_dict())
    )
    return {"base": base, **folders}


def dataset(data: dict[str, Any], name: str) -> tuple[Path, type, dict[str, Any]]:
    return data[name], Dataset, {"sha256": "0" * 64, "source_sha256": "0" * 64}


def artifact(data: dict[str, Any], name: str) -> tuple[Path, type, dict[str, Any]]:
    return data["base"] / name, Artifact, {}


def model(data: dict[str, Any]) -> tuple[Path, type, dict[str, Any]]:
    return data["base"] / "model", Model, {}


def test_ingest_data_writes_parquet_with_its_version(
    root: Path, tmp_path: Path, penguins: pd.DataFrame
) -> None:
    source = tmp_path / "penguins.csv"
    penguins.to_csv(source, index=False)
    task = C.ingest_data(source_uri=str(source))
    out = task.outputs["dataset"]
    assert out.metadata["rows"] == 344 and out.metadata["columns"] == 8
    assert out.metadata["sha256"] == dataset_sha256(pd.read_csv(source))
    assert pd.read_parquet(Path(out.path) / DATASET_FILE).shape == (344, 8)


def test_profile_data_infers_schema_and_renders_a_report(
    root: Path, data: dict[str, Any]
) -> None:
    step, _ = run_step(root, C.profile_data, {"dataset": dataset(data, "dataset")})
    schema = json.loads((step / "schema" / SCHEMA_FILE).read_text())
    kinds = {column["name"]: column["type"] for column in schema["columns"]}
    assert kinds["species"] == "categorical" and kinds["bill_length_mm"] == "numeric"
    stats = json.loads((step / "statistics" / STATISTICS_FILE).read_text())
    assert stats["num_rows"] == 344
    assert "bill_length_mm" in (step / "report").read_text()


def test_validate_data_passes_clean_data_and_hands_on_the_schema(
    root: Path, data: dict[str, Any]
) -> None:
    step, _ = run_step(
        root,
        C.validate_data,
        {
            "dataset": dataset(data, "dataset"),
            "inferred_schema": artifact(data, "schema"),
        },
        label="species",
        task="",
        curated_schema_uri="",
        unseen_tolerance=-1.0,
    )
    anomalies = json.loads((step / "anomalies" / "anomalies.json").read_text())
    assert not [a for a in anomalies if a["blocking"]]
    assert (step / "schema" / SCHEMA_FILE).exists()


def test_split_data_infers_the_task_and_holds_out_rows(
    root: Path, data: dict[str, Any]
) -> None:
    step, params = run_step(
        root,
        C.split_data,
        {"dataset": dataset(data, "dataset")},
        label="species",
        task="",
        test_fraction=0.25,
        validation_fraction=0.2,
        tune=True,
        seed=3,
    )
    assert params["Output"] == "classification"
    rows = {
        name: len(pd.read_parquet(step / name / DATASET_FILE))
        for name in ("train", "test", "validation")
    }
    assert sum(rows.values()) == 344 and rows["test"] == 86 and rows["validation"] > 0


def test_propose_trials_lists_the_search_space(root: Path) -> None:
    task = C.propose_trials(
        estimator="random_forest", task="classification", params_json="{}"
    )
    trials = [json.loads(item) for item in task.output]
    assert len(trials) >= 2 and len(
        {json.dumps(t, sort_keys=True) for t in trials}
    ) == len(trials)


def test_run_trial_scores_on_the_validation_split(
    root: Path, data: dict[str, Any]
) -> None:
    _, params = run_step(
        root,
        C.run_trial,
        {
            "train": dataset(data, "train"),
            "validation": dataset(data, "test"),
            "schema": artifact(data, "schema"),
        },
        label="species",
        task="classification",
        estimator="logistic_regression",
        trial_params='{"C": 1.0}',
        seed=0,
    )
    result = json.loads(params["Output"])
    assert result["metric"] == "roc_auc" and 0.9 < result["score"] <= 1.0


def test_select_best_trial_picks_the_highest_score(root: Path) -> None:
    trials = [
        json.dumps({"params": {"C": c}, "metric": "roc_auc", "score": s})
        for c, s in ((0.1, 0.91), (1.0, 0.97), (10.0, 0.95))
    ]
    task = C.select_best_trial(trials=trials)
    assert json.loads(task.outputs["Output"]) == {"C": 1.0}
    ranked = json.loads(task.outputs["ranked_trials"])
    assert [(t["rank"], t["params"], t["selected"]) for t in ranked] == [
        (1, {"C": 1.0}, True),
        (2, {"C": 10.0}, False),
        (3, {"C": 0.1}, False),
    ]


def test_train_model_writes_the_serving_contract(
    root: Path, data: dict[str, Any]
) -> None:
    step, _ = run_step(
        root,
        C.train_model,
        {"train": dataset(data, "train"), "schema": artifact(data, "schema")},
        label="species",
        task="classification",
        estimator="",
        params_json="{}",
        seed=0,
    )
    assert sorted(p.name for p in (step / "model").iterdir()) == [
        "metadata.json",
        "model.joblib",
    ]
    assert load_model(step / "model").metadata["label"] == "species"


def test_evaluate_model_logs_metrics_and_a_report(
    root: Path, data: dict[str, Any]
) -> None:
    step, _ = run_step(
        root,
        C.evaluate_model,
        {"model": model(data), "test": dataset(data, "test")},
        slice_column="island",
    )
    evaluation = json.loads((step / "evaluation" / EVALUATION_FILE).read_text())
    assert evaluation["metrics"]["roc_auc"] > 0.95
    assert set(evaluation["slices"]) >= {"Biscoe", "Dream"}
    importance = evaluation["explanation"]["permutation_importance"]
    assert set(importance) == {
        f["name"] for f in load_model(data["base"] / "model").metadata["features"]
    }
    report = (step / "report").read_text()
    assert "data:image/png;base64" in report and "permutation importance" in report
    # What monitoring estimates performance with, stored with the model later.
    reference = evaluation["performance_reference"]
    assert reference["rows"] == evaluation["n_rows"]
    assert reference["metrics"]["accuracy"]["std"] is not None
    calibration = json.loads((step / "evaluation" / "calibration.json").read_text())
    assert calibration["classes"] == evaluation["classes"]


def test_infra_validate_model_blesses_a_model_the_runtime_serves(
    root: Path, data: dict[str, Any]
) -> None:
    step, params = run_step(
        root,
        C.infra_validate_model,
        {"model": model(data), "test": dataset(data, "test")},
        model_name="penguins",
        max_rows=10,
    )
    assert params["Output"] is True
    assert json.loads((step / "blessing" / BLESSING_FILE).read_text())["blessed"]


@pytest.fixture(scope="module")
def infra_blessing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("infra")
    (path / BLESSING_FILE).write_text(json.dumps({"blessed": True, "reason": "ok"}))
    return path


def test_approve_then_register_and_an_identical_model_adds_no_version(
    root: Path, data: dict[str, Any], infra_blessing: Path, tmp_path: Path
) -> None:
    registry = tmp_path / "registry"
    step, params = run_step(
        root,
        C.approve_model,
        {
            "model": model(data),
            "test": dataset(data, "test"),
            "evaluation": artifact(data, "evaluation"),
            "infra_blessing": (infra_blessing, Artifact, {}),
        },
        registry_uri=str(registry),
        model_name="penguins",
        thresholds_json='{"min_roc_auc": 0.8}',
        max_regression=0.01,
    )
    assert params["Output"] is True
    assert (step / "reason").read_text().startswith("Approved: no champion yet")
    blessing = (step / "blessing", Artifact, {})
    trials = [{"rank": 1, "params": {}, "metric": "roc_auc", "score": 0.9}]
    for new in (True, False):
        step, registered = run_step(
            root,
            C.register_model,
            {
                "model": model(data),
                "blessing": blessing,
                "evaluation": artifact(data, "evaluation"),
                "schema": artifact(data, "schema"),
                "statistics": artifact(data, "statistics"),
            },
            registry_uri=str(registry),
            model_name="penguins",
            component_image="test-image",
            pipeline_run_id="run-1",
            trials_json=json.dumps(trials),
            intended_use="Sorting penguins in the tests.",
        )
        assert (registered["version"], registered["new_version"]) == (1, new)
        card = (step / "model_card").read_text()
        assert card.startswith("# Model card: penguins v1\n")
        assert "Sorting penguins in the tests." in card
    assert ModelRegistry(str(registry)).versions("penguins") == [1]
    version = Path(ModelRegistry(str(registry)).version_uri("penguins", 1))
    assert (version / MODEL_CARD_FILE).read_text() == card
    assert ModelRegistry(str(registry)).lineage("penguins")["tuning_trials"] == trials


def test_detect_drift_does_not_retrain_on_the_training_data(
    root: Path, data: dict[str, Any], tmp_path: Path, penguins: pd.DataFrame
) -> None:
    registry = ModelRegistry(str(tmp_path / "registry"))
    registry.register(
        "penguins",
        str(data["base"] / "model"),
        lineage={},
        statistics=compute_statistics(penguins),
    )
    window = tmp_path / "window.parquet"
    penguins.drop(columns=["species"]).to_parquet(window)
    task = C.detect_drift(
        current_uri=str(window),
        registry_uri=str(tmp_path / "registry"),
        model_name="penguins",
        thresholds_json="",
        labels_uri="",
        label_column="label",
        force=False,
    )
    assert task.outputs["Output"] is False
    assert task.outputs["reason"].startswith("No retraining")


def test_roll_back_champion_returns_the_better_previous_champion(
    root: Path, tmp_path: Path
) -> None:
    from world import fit_world_model, make_world, register_world_model

    registry = str(tmp_path / "registry")
    register_world_model(registry, tmp_path / "v1", fit_world_model())
    passing = fit_world_model(x2_weight=1.5)
    register_world_model(registry, tmp_path / "v2", passing, x2_weight=1.5)
    rows = make_world(1000, 60)  # the world as v1 learned it
    logged = passing.serve(rows)
    window = tmp_path / "window.parquet"
    logged.to_parquet(window)
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"request_id": logged["request_id"], "label": rows["label"]}).to_csv(
        labels, index=False
    )
    decision = tmp_path / "decision"
    decision.mkdir()
    (decision / "drift.json").write_text(
        json.dumps({"retrain": True, "performance_fell": True, "champion_version": 2})
    )
    common = {
        "current_uri": str(window),
        "label_column": "label",
        "registry_uri": registry,
        "model_name": "world",
        "pipeline_run_id": "run-7",
    }
    inputs = {"decision": (decision, Artifact, {})}

    # Without labels: nothing happens.
    _, kept = run_step(
        root, C.roll_back_champion, inputs, version=0, labels_uri="", **common
    )
    assert kept["rolled_back"] is False and kept["reason"].startswith("No rollback")

    step, params = run_step(
        root, C.roll_back_champion, inputs, version=0, labels_uri=str(labels), **common
    )
    assert params["rolled_back"] is True
    assert params["reason"].startswith("Rolled back to v1")
    recorded = json.loads((step / "rollback" / "rollback.json").read_text())
    assert recorded["previous_version"] == 1 and recorded["metric"] == "roc_auc"
    store = ModelRegistry(registry)
    assert store.champion("world").version == 1  # type: ignore[union-attr]
    last = store.events.read("world")[-1]
    assert (last.event, last.actor) == ("rolled-back", "run-7")


@pytest.fixture
def fake_cluster(tmp_path: Path, data: dict[str, Any]) -> Iterator[k8s_fake.FakeKube]:
    """A Kubernetes API that reports the InferenceService Ready at a real V1 server."""
    with (
        k8s_fake.FakeKube() as fake,
        start_server_in_subprocess(data["base"] / "model", "penguins") as url,
    ):
        fake.serve_url = url
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        previous = os.environ.get("KUBECONFIG")
        os.environ["KUBECONFIG"] = str(kubeconfig)
        try:
            yield fake
        finally:
            if previous is None:
                os.environ.pop("KUBECONFIG")
            else:
                os.environ["KUBECONFIG"] = previous


def test_deploy_model_applies_waits_and_smoke_tests(
    root: Path,
    data: dict[str, Any],
    fake_cluster: k8s_fake.FakeKube,
    tmp_path: Path,
) -> None:
    registry = ModelRegistry(str(tmp_path / "registry"))
    registry.register("penguins", data["base"] / "model", lineage={})
    started = time.monotonic()
    step, params = run_step(
        root,
        C.deploy_model,
        {"model": model(data), "test": dataset(data, "test")},
        model_name="penguins",
        version=1,
        storage_uri="s3://mlpipeline/registry",
        registry_uri=str(tmp_path / "registry"),
        namespace="kubeflow",
        mode="raw",
        canary_traffic_percent=0,
        service_account="kfp-mlops-model-storage",
        timeout_s=60,
        pipeline_run_id="run-42",
    )
    assert time.monotonic() - started < 60
    served = fake_cluster.get("kubeflow", "penguins")
    assert served is not None
    uri = served["spec"]["predictor"]["model"]["storageUri"]
    assert uri == "s3://mlpipeline/registry/penguins/v1"
    deployment = json.loads((step / "deployment" / "deployment.json").read_text())
    assert deployment["action"] == "created"
    assert params["Output"] == fake_cluster.serve_url
    # The history says who deployed which version where.
    deployed = [e for e in registry.events.read("penguins") if e.event == "deployed"]
    assert [(e.version, e.actor) for e in deployed] == [(1, "run-42")]
    assert "kubeflow/penguins" in deployed[0].details["where"]


def test_export_onnx_records_the_export_once(
    root: Path, data: dict[str, Any], tmp_path: Path
) -> None:
    registry = ModelRegistry(str(tmp_path / "registry"))
    registry.register("penguins", data["base"] / "model", lineage={})
    for created in (1.0, 0.0):
        step, params = run_step(
            root,
            C.export_onnx,
            {"test": dataset(data, "test")},
            registry_uri=str(tmp_path / "registry"),
            model_name="penguins",
            version=1,
        )
        assert params["Output"] == "onnx/penguins/1/model.onnx"
        record = registry.metadata("penguins", 1)["onnx"]
        assert record["parity"]["labels_identical"] is True
        metrics = json.loads((step / "executor_output.json").read_text())
        logged = metrics["artifacts"]["export"]["artifacts"][0]["metadata"]
        assert logged["created"] == created and logged["sha256"] == record["sha256"]


def guarded(source_uri: str, notify_url: str, registry_uri: str) -> Any:
    """A pipeline whose one step (ingesting ``source_uri``) sits in an ExitHandler."""

    @dsl.pipeline(name="guarded")
    def pipeline():  # KFP would read "-> None" as an output type
        notified = C.notify(
            notify_url=notify_url,
            pipeline_name="guarded",
            pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            registry_uri=registry_uri,
            model_name="penguins",
        )
        with dsl.ExitHandler(notified):
            C.ingest_data(source_uri=source_uri)

    return pipeline


def test_notify_runs_as_the_exit_step_however_the_steps_end(
    root: Path, tmp_path: Path, penguins: pd.DataFrame, webhook: WebhookReceiver
) -> None:
    """kfp.local runs an ExitHandler's exit step with the steps' final status."""
    registry_uri = str(tmp_path / "registry")
    source = tmp_path / "penguins.csv"
    penguins.to_csv(source, index=False)

    guarded(str(source), webhook.url, registry_uri)()
    with pytest.raises(RuntimeError, match="ingest-data"):
        guarded(str(tmp_path / "missing.csv"), webhook.url, registry_uri)()

    succeeded, failed = webhook.messages
    # Nothing was registered by that run, and the registry says so.
    assert (succeeded["status"], succeeded["decision"]) == (
        "succeeded",
        "not-registered",
    )
    assert succeeded["pipeline"] == "guarded" and succeeded["run_id"]
    # kfp.local's final status names the exit handler's group, not the failed step:
    # `mlops run` names it from its step log instead.
    assert (failed["status"], failed["decision"]) == ("failed", "none")
    assert failed["failed_step"] is None
    assert failed["reason"] == "Task exit-handler-1 failed."

"""Manual approval end to end: a kfp.local run leaves a pending challenger, a person
approves it, and the history tells the whole story with actors and reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_suite.cli import main
from mlops_suite.demo import penguins_csv
from mlops_suite.registry import ModelRegistry

NAME = "penguins"


def _run(tmp: Path, *extra: str) -> int:
    return main(
        [
            *["run", "training", "--data", penguins_csv(), "--label", "species"],
            *["--model-name", NAME, "--registry", str(tmp / "registry")],
            *["--pipeline-root", str(tmp / "root"), "--max-regression", "1.0"],
            *extra,
        ]
    )


def test_deploy_runs_only_under_automatic_approval(tmp_path: Path) -> None:
    """In the compiled spec, deploy_model sits inside `approval == 'auto'`."""
    import yaml
    from kfp.compiler import Compiler

    from mlops_suite.pipelines.training import build_training_pipeline

    Compiler().compile(build_training_pipeline(), str(tmp_path / "training.yaml"))
    components = yaml.safe_load((tmp_path / "training.yaml").read_text())["components"]
    holder = next(
        name
        for name, body in components.items()
        if "deploy-model" in body.get("dag", {}).get("tasks", {})
    )
    condition = next(
        task["triggerPolicy"]["condition"]
        for body in components.values()
        for task in body.get("dag", {}).get("tasks", {}).values()
        if task.get("componentRef", {}).get("name") == holder
    )
    assert condition == "inputs.parameter_values['pipelinechannel--approval'] == 'auto'"


@pytest.mark.slow
def test_manual_run_waits_for_a_person_who_then_approves_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path, "--seed", "0") == 0
    champion_before = (tmp_path / "registry" / NAME / "champion.json").read_bytes()
    capsys.readouterr()

    assert _run(tmp_path, "--seed", "1", "--approval", "manual") == 0

    summary = capsys.readouterr().out
    assert "v2" in summary and "pending challenger" in summary
    assert "waits for a person (champion stays v1)" in summary
    assert "mlops registry approve" in summary
    registry = ModelRegistry(tmp_path / "registry")
    assert (tmp_path / "registry" / NAME / "champion.json").read_bytes() == (
        champion_before
    )
    common = ["--registry", str(tmp_path / "registry"), "--model-name", NAME]
    assert main(["registry", "list", *common]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].split()[:4] == ["*", "v1", "approved", "champion"]
    assert listed[1].split()[:3] == ["v2", "pending", "challenger"]

    approve = ["registry", "approve", *common, "--version", "2"]
    assert main([*approve, "--by", "ana", "--reason", "checked the slices"]) == 0
    assert "champion is now v2" in capsys.readouterr().out

    champion = registry.champion(NAME)
    assert champion is not None and champion.version == 2
    events = registry.events.read(NAME)
    run_ids = {
        version: registry.lineage(NAME, version)["pipeline_run_id"]
        for version in (1, 2)
    }
    assert all(run_ids.values()) and run_ids[1] != run_ids[2]
    assert [(e.event, e.version, e.actor) for e in events] == [
        ("registered", 1, run_ids[1]),
        ("promoted", 1, run_ids[1]),
        ("registered", 2, run_ids[2]),
        ("alias-set", 2, run_ids[2]),
        ("approved", 2, "ana"),
        ("promoted", 2, "ana"),
        ("alias-removed", 2, "ana"),
    ]
    assert all(e.reason and e.time for e in events)
    assert events[2].reason.startswith("Approved")  # the gate's reason
    assert events[4].reason == "checked the slices"
    assert main(["registry", "history", *common]) == 0
    history = capsys.readouterr().out
    assert (
        history.count("\n") == len(events) and "by ana: checked the slices" in history
    )

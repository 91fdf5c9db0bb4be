"""``mlops registry approve|reject|alias|history|list`` and ``--alias`` elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mlops_suite.cli import main
from mlops_suite.registry import ModelRegistry

NAME = "penguins"


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("mlops: error: ") and "Traceback" not in err
    return err


@pytest.fixture
def registry_dir(tmp_path: Path, make_model_folder: Callable[..., Path]) -> Path:
    """v1 champion, v2 the pending challenger of a manual run."""
    registry = ModelRegistry(tmp_path / "registry")
    registry.register(NAME, make_model_folder(c=1.0), lineage={"pipeline_run_id": "r1"})
    registry.register(
        NAME,
        make_model_folder(c=0.1),
        lineage={"pipeline_run_id": "r2", "approval_reason": "passed"},
        approval="manual",
    )
    return tmp_path / "registry"


def _registry(registry_dir: Path, *action: str) -> list[str]:
    return ["registry", *action, "--registry", str(registry_dir), "--model-name", NAME]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_list_shows_each_version_status_and_aliases(
    registry_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_registry(registry_dir, "list")) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["*", "v1", "approved", "champion"]
    assert lines[1].split()[:3] == ["v2", "pending", "challenger"]


def test_approve_promotes_the_challenger_and_history_shows_who_and_why(
    registry_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    approve = _registry(registry_dir, "approve")
    code = main([*approve, "--version", "2", "--by", "ana", "--reason", "slices ok"])

    assert code == 0
    assert "v2 approved by ana; champion is now v2" in capsys.readouterr().out
    assert main(_registry(registry_dir, "history")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[2] for line in lines] == [
        "registered",
        "promoted",
        "registered",
        "alias-set",
        "approved",
        "promoted",
        "alias-removed",
    ]
    assert "by ana: slices ok" in lines[4] and "by r2: passed" in lines[2]
    assert "(status pending)" in lines[2] and "(was v1)" in lines[5]
    assert main([*_registry(registry_dir, "history"), "--version", "1"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_reject_records_the_refusal_and_promote_then_refuses_the_version(
    registry_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reject = _registry(registry_dir, "reject")
    assert main([*reject, "--version", "2", "--by", "ana", "--reason", "biased"]) == 0
    capsys.readouterr()

    assert main([*_registry(registry_dir, "promote"), "--version", "2"]) == 1
    assert "v2 was rejected by ana (biased)" in one_error_line(capsys)
    approve = _registry(registry_dir, "approve")
    assert main([*approve, "--version", "2", "--by", "bob", "--reason", "x"]) == 1
    assert "cannot be approved; nothing was changed" in one_error_line(capsys)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--version", "9", "--by", "a", "--reason", "r"], "has no version 9"),
        (["--version", "1", "--by", "a", "--reason", "r"], "already the champion"),
        (
            ["--version", "2", "--by", "a", "--reason", "r", "--deploy"],
            "--deploy writes a kustomization and needs --storage-uri",
        ),
        (
            ["--version", "2", "--by", "a", "--reason", "r", "--overlay", "kind"],
            "used only with --deploy",
        ),
    ],
)
def test_a_refused_approval_is_one_sentence_and_changes_nothing(
    registry_dir: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    before = _snapshot(registry_dir)

    assert main([*_registry(registry_dir, "approve"), *extra]) == 1

    assert message in one_error_line(capsys)
    assert _snapshot(registry_dir) == before


def test_approve_without_by_or_reason_is_refused_by_the_parser(
    registry_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main([*_registry(registry_dir, "approve"), "--version", "2", "--by", "ana"])
    assert stopped.value.code == 2
    assert "--reason" in capsys.readouterr().err


def test_approve_with_deploy_writes_the_kustomization_and_records_it(
    registry_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "deploy"
    code = main(
        [
            *_registry(registry_dir, "approve"),
            *["--version", "2", "--by", "ana", "--reason", "ship it", "--deploy"],
            *["--storage-uri", "s3://mlpipeline/registry", "--overlay", "kind"],
            *["--output", str(out)],
        ]
    )

    assert code == 0, capsys.readouterr().err
    assert "s3://mlpipeline/registry/penguins/v2" in (
        out / "kustomization.yaml"
    ).read_text(encoding="utf-8")
    last = ModelRegistry(registry_dir).events.read(NAME)[-1]
    assert (last.event, last.version, last.actor) == ("deployed", 2, "ana")
    assert str(out) in last.details["where"]


def test_alias_set_and_rm_and_an_unknown_alias_lists_those_that_exist(
    registry_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alias = _registry(registry_dir, "alias", "set")
    assert main([*alias, "--alias", "staging", "--version", "1", "--by", "ana"]) == 0
    assert "staging is now v1" in capsys.readouterr().out
    remove = _registry(registry_dir, "alias", "rm")
    assert main([*remove, "--alias", "staging", "--reason", "done"]) == 0
    capsys.readouterr()

    assert main([*remove, "--alias", "staging"]) == 1
    assert one_error_line(capsys).endswith(
        "has no alias 'staging' in registry "
        f"{registry_dir}; its aliases are champion (v1), challenger (v2)."
    )
    assert main([*alias, "--alias", "champion", "--version", "2"]) == 1
    assert "moves only by approval or promotion" in one_error_line(capsys)


def test_show_manifest_and_monitor_accept_an_alias(
    registry_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*_registry(registry_dir, "show"), "--alias", "challenger"]) == 0
    assert '"version": 2' in capsys.readouterr().out
    manifest = [
        *["manifest", "--registry", str(registry_dir), "--model-name", NAME],
        *["--storage-uri", "s3://mlpipeline/registry", "--overlay", "kind"],
        *["--output", str(tmp_path / "out"), "--alias", "challenger"],
    ]
    assert main(manifest) == 0
    assert "penguins/v2" in (tmp_path / "out" / "kustomization.yaml").read_text(
        encoding="utf-8"
    )
    capsys.readouterr()
    monitor = [
        *["monitor", "--registry", str(registry_dir), "--model-name", NAME],
        *["--current", str(tmp_path / "none.parquet"), "--report-dir", str(tmp_path)],
        *["--alias", "staging"],
    ]
    assert main(monitor) == 1
    assert "no alias 'staging'" in one_error_line(capsys)
    serve = ["serve", "--registry", str(registry_dir), "--model-name", NAME]
    assert main([*serve, "--alias", "staging"]) == 1
    assert "its aliases are champion (v1), challenger (v2)" in one_error_line(capsys)


def test_version_and_alias_together_are_refused_by_the_parser(
    registry_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([*_registry(registry_dir, "show"), "--version", "1", "--alias", "x"])
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize("pipeline", ["training", "continuous-training"])
def test_an_unknown_approval_mode_is_one_sentence(
    pipeline: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--data", "d.csv", "--label", "y", "--model-name", "m"]
    flags += ["--registry", str(tmp_path), "--approval", "later"]
    if pipeline == "continuous-training":
        flags += ["--current", "c.parquet"]
    with pytest.raises(SystemExit) as stopped:
        main(["run", pipeline, *flags])
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "argument --approval: invalid choice: 'later'" in err


def test_an_unknown_approval_mode_stops_a_local_run_before_any_step(
    tmp_path: Path,
) -> None:
    from mlops_suite.errors import RegistryError
    from mlops_suite.ops.local_pipelines import run_training

    with pytest.raises(RegistryError, match=r"^approval is 'later'; expected 'auto'"):
        run_training(
            data_uri="d.csv",
            label="y",
            model_name="m",
            registry_uri=str(tmp_path / "registry"),
            pipeline_root=tmp_path / "root",
            approval="later",
        )
    assert not (tmp_path / "root").exists()
    assert not (tmp_path / "registry").exists()


@pytest.mark.parametrize("pipeline", ["training", "continuous-training"])
def test_a_manual_run_summary_says_the_version_waits_for_a_person(
    pipeline: str,
    registry_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The summary the local runner prints from the pipeline's outputs (v2 pending)."""
    from mlops_suite.ops import local_run
    from mlops_suite.ops.fork_server import FRESH_STEPS_ENV

    outputs = {"reason": "Approved: roc_auc 0.99.", "version": 2, "new_version": True}
    outputs["approved" if pipeline == "training" else "retrain"] = True
    fake = local_run.LocalRun(outputs=outputs, log_path=tmp_path / "run.log")
    monkeypatch.setattr(local_run, "run_locally", lambda *args, **kwargs: fake)
    # No step runs: a fork server would import for nothing.
    monkeypatch.setenv(FRESH_STEPS_ENV, "1")
    flags = ["--data", "d.csv", "--label", "y", "--model-name", NAME]
    flags += ["--registry", str(registry_dir), "--approval", "manual"]
    flags += ["--pipeline-root", str(tmp_path / "root")]
    if pipeline == "continuous-training":
        flags += ["--current", "c.parquet"]

    assert main(["run", pipeline, *flags]) == 0

    out = capsys.readouterr().out
    assert (
        f"Registered penguins v2 at {registry_dir / NAME / 'v2'} as the pending "
        "challenger; it waits for a person (champion stays v1): mlops registry "
        f"approve --registry {registry_dir} --model-name penguins --version 2"
    ) in out

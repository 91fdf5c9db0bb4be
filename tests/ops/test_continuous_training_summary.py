"""What ``mlops run continuous-training`` says after a run: the decision and rollback.

The local runner is replaced by the outputs a run would return, so only the summary
built from them is under test; the pipelines themselves run in tests/pipelines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlops_suite.cli import main


def run_with(
    outputs: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *flags: str,
) -> dict[str, Any]:
    """Runs the command on a fake run; returns the pipeline arguments it got."""
    from mlops_suite.ops import local_run

    seen: dict[str, Any] = {}

    def fake(pipeline: Any, arguments: dict[str, Any], **kwargs: Any) -> Any:
        seen.update(arguments)
        return local_run.LocalRun(outputs=outputs, log_path=tmp_path / "run.log")

    monkeypatch.setattr(local_run, "run_locally", fake)
    args = ["run", "continuous-training", "--current", "c.parquet", "--data", "d.csv"]
    args += ["--label", "y", "--model-name", "world", "--registry", str(tmp_path)]
    args += ["--pipeline-root", str(tmp_path / "root"), *flags]
    assert main(args) == 0
    return seen


def test_a_rollback_is_in_the_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = {
        "retrain": True,
        "reason": "Retrain: realized accuracy 0.594 < threshold 0.754.",
        "version": 0,
        "new_version": False,
        "rolled_back": True,
        "rollback": "Rolled back to v1: on the latest 2000 labelled rows v1 scores "
        "roc_auc 0.8962 against champion v2's 0.6178.",
    }
    run_with(outputs, tmp_path, monkeypatch, "--labels", "truth.csv")
    out = capsys.readouterr().out
    assert "Retrain: realized accuracy 0.594" in out
    assert "Retrained, but the candidate was not approved. Rolled back to v1" in out


def test_the_new_options_reach_the_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = {"retrain": False, "reason": "No retraining.", "version": 0}
    arguments = run_with(
        outputs,
        tmp_path,
        monkeypatch,
        "--ignore-features",
        "year, id",
        "--performance-thresholds",
        '{"accuracy": 0.9}',
    )
    assert arguments["ignore_features"] == "year,id"
    assert arguments["performance_thresholds_json"] == '{"accuracy": 0.9}'

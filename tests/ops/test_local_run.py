"""run_locally without a whole pipeline: what ``mlops run`` shows and raises.

A stand-in pipeline (``tests/support/stand_in_pipeline.py``) writes the log lines
kfp.local writes (formatted by kfp.local's own helpers, colours included) and fails the
way kfp.local fails, so the progress lines, the
one-sentence errors, the log file and the run's outputs are checked in milliseconds.
The real pipelines run through it in the slow tier (``mlops run`` in tests/pipelines).
"""

from __future__ import annotations

import builtins
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from stand_in_pipeline import StandIn, finished, skipped, started

from mlops_suite.errors import ERROR_MARKER
from mlops_suite.ops.fork_server import FRESH_STEPS_ENV
from mlops_suite.ops.local_run import LocalRun, PipelineRunError, run_locally


@pytest.fixture(autouse=True)
def _no_fork_server(monkeypatch: pytest.MonkeyPatch) -> None:
    # The stand-ins start no steps: a fork server would import for nothing.
    monkeypatch.setenv(FRESH_STEPS_ENV, "1")


def run(pipeline: Any, root: Path, **arguments: Any) -> tuple[LocalRun, list[str]]:
    progress: list[str] = []
    result = run_locally(
        pipeline, arguments, pipeline_root=root, progress=progress.append
    )
    return result, progress


def test_progress_is_one_line_per_step_event(tmp_path: Path) -> None:
    pipeline = StandIn(
        [
            started("ingest-data"),
            "    reading 344 rows",
            finished("ingest-data"),
            started("train-model"),
            finished("train-model"),
            skipped("deploy-model"),
        ],
        outputs={"approved": True, "reason": "accuracy 0.97 >= 0.9."},
    )

    result, progress = run(pipeline, tmp_path / "root")

    assert [line.split("(")[0].rstrip() for line in progress] == [
        "  running  ingest-data",
        "  done     ingest-data",
        "  running  train-model",
        "  done     train-model",
        "  skipped  deploy-model",
    ]
    assert progress[1].endswith("s)") and progress[4].endswith(
        "(its condition was false)"
    )
    assert result.steps == [("ingest-data", "SUCCESS"), ("train-model", "SUCCESS")]
    assert result.outputs == {"approved": True, "reason": "accuracy 0.97 >= 0.9."}


def test_the_full_log_goes_to_a_file_and_not_to_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    pipeline = StandIn([started("train-model"), "    fitting 240 rows"])

    result = run_locally(pipeline, {}, pipeline_root=root)

    out = capsys.readouterr().out
    # The default progress goes to the terminal; the step's own output does not.
    assert out == "  running  train-model\n"
    assert result.log_path.parent == root
    assert result.log_path.name.startswith("run-") and result.log_path.suffix == ".log"
    log = result.log_path.read_text(encoding="utf-8")
    assert "fitting 240 rows" in log and "Executing task" in log


def test_lines_split_across_writes_are_read_whole(tmp_path: Path) -> None:
    line = started("evaluate-model")

    def pipeline(**_: Any) -> Any:
        sys.stdout.write(line[:20])
        sys.stdout.write(line[20:] + "\n")
        return SimpleNamespace(outputs={})

    _, progress = run(pipeline, tmp_path / "root")
    assert progress == ["  running  evaluate-model"]


def test_a_failed_step_stops_the_run_with_its_own_sentence(tmp_path: Path) -> None:
    pipeline = StandIn(
        [
            started("validate-data"),
            f"    {ERROR_MARKER}validate_data: column 'bill' has 3 missing values.",
            finished("validate-data", ok=False),
        ],
        error=RuntimeError("Pipeline 'training' finished with status FAILURE."),
    )

    with pytest.raises(PipelineRunError) as info:
        run(pipeline, tmp_path / "root")

    assert str(info.value) == "validate_data: column 'bill' has 3 missing values."
    assert info.value.__cause__ is None


def test_the_last_step_sentence_wins(tmp_path: Path) -> None:
    pipeline = StandIn(
        [
            f"{ERROR_MARKER}tune: trial 2 found no usable parameters.",
            f"{ERROR_MARKER}train_model: label 'species' has 1 class.",
        ],
        error=RuntimeError("failed"),
    )
    with pytest.raises(PipelineRunError, match=r"^train_model: label 'species'"):
        run(pipeline, tmp_path / "root")


def test_a_step_without_a_sentence_is_named_with_the_log_file(tmp_path: Path) -> None:
    root = tmp_path / "root"
    pipeline = StandIn(
        [
            started("ingest-data"),
            finished("ingest-data"),
            started("train-model"),
            "Traceback (most recent call last):",
            finished("train-model", ok=False),
        ],
        error=RuntimeError(
            "Pipeline 'training' finished with status FAILURE. Inner task failed: "
            "'train-model'.\nmore detail"
        ),
    )

    with pytest.raises(PipelineRunError) as info:
        run(pipeline, root)

    (log,) = root.glob("run-*.log")
    assert str(info.value) == (
        "step 'train-model' failed (Pipeline 'training' finished with status "
        f"FAILURE. Inner task failed: 'train-model'.); the full log is {log}"
    )


def test_a_failure_names_the_first_step_that_failed_its_log_and_folder(
    tmp_path: Path,
) -> None:
    """What a run-end notification needs: the innermost failure finishes first."""
    root = tmp_path / "root"
    run_folder = root / "mlops-training-steps-2024-05-01"
    pipeline = StandIn(
        [
            started("ingest-data"),
            finished("ingest-data"),
            started("train-model"),
            f"{ERROR_MARKER}train_model: label 'species' has 1 class.",
            finished("train-model", ok=False),
            finished("condition-branches-1", ok=False),
        ],
        error=RuntimeError("failed"),
        make=lambda: run_folder.mkdir(parents=True),
    )

    with pytest.raises(PipelineRunError) as info:
        run(pipeline, root)

    assert info.value.failed_step == "train-model"
    (log,) = root.glob("run-*.log")
    assert info.value.log_path == log and info.value.run_dir == run_folder


def test_a_failure_before_any_step_names_the_pipeline(tmp_path: Path) -> None:
    with pytest.raises(
        PipelineRunError, match=r"^the pipeline failed \(RuntimeError\)"
    ):
        run(StandIn([], error=RuntimeError()), tmp_path / "root")


def test_print_is_given_back_after_a_run(tmp_path: Path) -> None:
    original = builtins.print

    def swap_print() -> None:
        # kfp.local swaps builtins.print to indent step logs; parallel steps can
        # leave it swapped.
        builtins.print = lambda *args, **kwargs: None

    with pytest.raises(PipelineRunError):
        run(StandIn([], error=RuntimeError("x"), make=swap_print), tmp_path / "a")
    assert builtins.print is original
    run(StandIn([], make=swap_print), tmp_path / "b")
    assert builtins.print is original


def test_run_dir_and_reports_are_the_new_run_folder(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "training-pipeline-2024-01-01").mkdir(parents=True)  # an earlier run
    new_run = root / "training-pipeline-2024-05-01"

    def make_run_folder() -> None:
        for step in ("evaluate-model", "validate-data"):
            (new_run / step).mkdir(parents=True)
            (new_run / step / "report").write_text("<html></html>")
        (new_run / "train-model").mkdir()

    result, _ = run(StandIn([], make=make_run_folder), root)

    assert result.run_dir == new_run
    assert result.reports() == [
        new_run / "evaluate-model" / "report",
        new_run / "validate-data" / "report",
    ]


def test_a_run_that_wrote_no_folder_has_no_reports(tmp_path: Path) -> None:
    result, _ = run(StandIn([]), tmp_path / "root")
    assert result.run_dir is None
    assert result.reports() == []


def test_paths_kfp_local_would_mangle_arrive_through_a_link(tmp_path: Path) -> None:
    # kfp.local replaces "python3" in every argument, so a file under a virtualenv's
    # lib/python3.11 would arrive as a path that does not exist.
    data = tmp_path / "venv" / "lib" / "python3.11" / "site-packages" / "penguins.csv"
    data.parent.mkdir(parents=True)
    data.write_text("species\nAdelie\n")
    root = tmp_path / "root"
    pipeline = StandIn([])

    for _ in range(2):  # a second run replaces the link it made the first time
        run(
            pipeline,
            root,
            data_uri=str(data),
            label="python3 fans",
            schema_uri=str(tmp_path / "python3" / "missing.json"),
            seed=3,
        )
        received = pipeline.received
        link = Path(received["data_uri"])
        assert link == root / "inputs" / "data_uri-penguins.csv"
        assert "python3" not in str(link)
        assert link.read_text() == "species\nAdelie\n"
        assert received["label"] == "python3 fans"
        assert received["schema_uri"] == str(tmp_path / "python3" / "missing.json")
        assert received["seed"] == 3


def test_the_links_folder_is_not_taken_for_the_run_folder(tmp_path: Path) -> None:
    data = tmp_path / "python3.11" / "data.csv"
    data.parent.mkdir(parents=True)
    data.write_text("x\n1\n")

    result, _ = run(StandIn([]), tmp_path / "root", data_uri=str(data))

    assert result.run_dir is None

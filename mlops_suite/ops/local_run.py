"""Run a pipeline on the embedded default: ``kfp.local`` with a subprocess per step.

No cluster and no Docker: every step runs as a process of its own with this Python,
which has the suite installed, exactly as it would run in the component image. Steps
are forked from a process that imported the heavy libraries once
(:mod:`mlops_suite.ops.fork_server`), so a step's start costs milliseconds instead
of seconds of imports. The full step logs go to a file; the caller gets one progress
line per step and, when a step fails, the one sentence the step gave for it.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import logging
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_suite.errors import ERROR_MARKER, MlopsError
from mlops_suite.ops.fork_server import forked_steps

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_STARTED = re.compile(r"Executing task '([^']+)'")
_FINISHED = re.compile(r"Task '([^']+)' finished with status (\w+)")
_SKIPPED = re.compile(r"Skipping conditional task ([\w-]+)")


class PipelineRunError(MlopsError):
    """A local pipeline run stopped at a failed step.

    Attributes:
        failed_step: The first step that failed, from the step log, if one did.
        log_path: The file holding every step's full log.
        run_dir: The folder holding the steps' outputs, if the run made one.
    """

    def __init__(
        self,
        message: str,
        *,
        failed_step: str | None = None,
        log_path: Path | None = None,
        run_dir: Path | None = None,
    ) -> None:
        super().__init__(message)
        self.failed_step = failed_step
        self.log_path = log_path
        self.run_dir = run_dir


@dataclass
class LocalRun:
    """What a local run produced.

    Attributes:
        outputs: The pipeline's outputs by name.
        log_path: The file holding every step's full log.
        steps: The steps that ran, in order, with their status.
        run_dir: The folder holding every step's outputs.
    """

    outputs: dict[str, Any]
    log_path: Path
    steps: list[tuple[str, str]] = field(default_factory=list)
    run_dir: Path | None = None

    def reports(self) -> list[Path]:
        """The run's HTML and Markdown reports, by step (``<step>/report``)."""
        if self.run_dir is None:
            return []
        return sorted(self.run_dir.rglob("report"))


class _StepLog(io.TextIOBase):
    """A stdout replacement that keeps the full log and reports step progress."""

    def __init__(self, handle: io.TextIOBase, progress: Callable[[str], None]) -> None:
        self._handle = handle
        self._progress = progress
        self._pending = ""
        self._started: dict[str, float] = {}
        self.steps: list[tuple[str, str]] = []
        self.step_errors: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._handle.write(text)
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._scan(_ANSI.sub("", line))
        return len(text)

    def flush(self) -> None:
        self._handle.flush()

    def _scan(self, line: str) -> None:
        if ERROR_MARKER in line:
            self.step_errors.append(line.split(ERROR_MARKER, 1)[1].strip())
        if started := _STARTED.search(line):
            name = started.group(1)
            self._started[name] = time.monotonic()
            self._progress(f"  running  {name}")
        elif finished := _FINISHED.search(line):
            name, status = finished.groups()
            took = time.monotonic() - self._started.get(name, time.monotonic())
            self.steps.append((name, status))
            mark = "done" if status == "SUCCESS" else status.lower()
            self._progress(f"  {mark:<8} {name} ({took:.1f}s)")
        elif skipped := _SKIPPED.search(line):
            self._progress(f"  skipped  {skipped.group(1)} (its condition was false)")


def _shielded(arguments: dict[str, Any], pipeline_root: Path) -> dict[str, Any]:
    """Keep string arguments away from kfp.local's interpreter substitution.

    ``kfp.local.SubprocessRunner`` swaps the text ``python3`` for the running
    interpreter in every element of a step's command line, arguments included, so a
    path such as ``.venv/lib/python3.11/site-packages/...`` would arrive mangled.
    Such a local file is passed through a link under the pipeline root instead.
    """
    shielded = dict(arguments)
    links = pipeline_root / "inputs"
    for key, value in arguments.items():
        if isinstance(value, str) and "python3" in value and Path(value).exists():
            links.mkdir(parents=True, exist_ok=True)
            link = links / f"{key}-{Path(value).name}"
            link.unlink(missing_ok=True)
            link.symlink_to(Path(value).resolve())
            shielded[key] = str(link)
    return shielded


def run_locally(
    pipeline: Any,
    arguments: dict[str, Any],
    *,
    pipeline_root: Path,
    progress: Callable[[str], None] | None = None,
    step_python: str | None = None,
) -> LocalRun:
    """Runs ``pipeline`` with ``kfp.local.SubprocessRunner`` in this environment.

    Args:
        pipeline: A KFP pipeline function.
        arguments: The pipeline's parameters.
        pipeline_root: Where step outputs and the log file go (created if missing).
        progress: Called with one line per step event; the default prints to the
            terminal's stdout (step logs themselves go to the log file).
        step_python: What kfp.local starts the steps with instead of this
            interpreter: the stand-in of a fork server the caller started
            (:func:`~mlops_suite.ops.fork_server.forked_steps`), so that it imports
            while the caller builds the pipeline; None starts one for this run.

    Returns:
        The run's outputs, log file and steps.

    Raises:
        PipelineRunError: A step failed; the message is the step's own sentence when
            it gave one, else the failing step's name and the log file to read.
    """
    if step_python is not None:
        return _run(pipeline, arguments, pipeline_root, progress, step_python)
    with forked_steps() as started:
        return _run(pipeline, arguments, pipeline_root, progress, started)


def _run(
    pipeline: Any,
    arguments: dict[str, Any],
    pipeline_root: Path,
    progress: Callable[[str], None] | None,
    step_python: str | None,
) -> LocalRun:
    from kfp import local

    pipeline_root.mkdir(parents=True, exist_ok=True)
    arguments = _shielded(arguments, pipeline_root)
    earlier = {path for path in pipeline_root.iterdir() if path.is_dir()}
    log_path = pipeline_root / f"run-{time.strftime('%Y%m%d-%H%M%S')}.log"
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(pipeline_root),
        raise_on_error=True,
    )
    terminal = sys.stdout

    def to_terminal(line: str) -> None:
        print(line, file=terminal, flush=True)

    # kfp.local indents step logs by swapping builtins.print; parallel steps
    # (dsl.ParallelFor) interleave those swaps and can leave it swapped for good.
    original_print = builtins.print
    with log_path.open("w", encoding="utf-8") as handle:
        step_log = _StepLog(handle, progress or to_terminal)
        try:
            with (
                contextlib.redirect_stdout(step_log),
                warnings.catch_warnings(),
                _steps_started_with(step_python),
            ):
                # Steps run in this environment on purpose: the suite's image holds
                # exactly this package, so the base-image warning does not apply.
                warnings.filterwarnings("ignore", message=".*non-Python base image.*")
                task = pipeline(**arguments)
        except Exception as error:  # kfp.local raises RuntimeError on a failed step
            failed = [name for name, status in step_log.steps if status != "SUCCESS"]
            where = f"step {failed[-1]!r}" if failed else "the pipeline"
            message = f"{where} failed ({_first_line(error)}); the full log is "
            message += str(log_path)
            if step_log.step_errors:
                message = step_log.step_errors[-1]
            # The innermost failure finishes first; the groups holding it follow.
            raise PipelineRunError(
                message,
                failed_step=failed[0] if failed else None,
                log_path=log_path,
                run_dir=_new_run_dir(pipeline_root, earlier),
            ) from None
        finally:
            builtins.print = original_print
            _release_log_handlers(step_log, terminal)
    return LocalRun(
        outputs=dict(task.outputs),
        log_path=log_path,
        steps=step_log.steps,
        run_dir=_new_run_dir(pipeline_root, earlier),
    )


def _new_run_dir(pipeline_root: Path, earlier: set[Path]) -> Path | None:
    """The run's folder: kfp.local writes <pipeline_root>/<pipeline-name>-<time>/."""
    new = [p for p in pipeline_root.iterdir() if p.is_dir() and p not in earlier]
    return max(new, key=lambda p: p.stat().st_mtime) if new else None


@contextlib.contextmanager
def _steps_started_with(executable: str | None) -> Iterator[None]:
    """Have kfp.local start steps with ``executable`` instead of this interpreter.

    kfp.local puts ``sys.executable`` in place of ``python3`` in each step's command
    when it starts the step; None leaves it as it is.
    """
    if executable is None:
        yield
        return
    interpreter = sys.executable
    sys.executable = executable
    try:
        yield
    finally:
        sys.executable = interpreter


def _release_log_handlers(step_log: _StepLog, terminal: Any) -> None:
    """Point log handlers made during the run back at the terminal.

    A library that first logged while stdout was the run's log (kfp.local, s3fs,
    botocore) keeps a handler on it; once the log file is closed, its next record would
    print a "Logging error" traceback instead of the message.
    """
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if (
                isinstance(handler, logging.StreamHandler)
                and handler.stream is step_log
            ):
                handler.setStream(terminal)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__

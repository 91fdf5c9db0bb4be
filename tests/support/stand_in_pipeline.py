"""A stand-in for a kfp.local pipeline run: the log lines it writes, the way it fails.

``run_locally`` reads kfp.local's log lines (formatted here by kfp.local's own helpers,
colours included) and its failures; a :class:`StandIn` plays them back in
milliseconds, so what ``mlops run`` shows, raises and notifies is tested without
running a step.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from kfp.local import logging_utils, status


def started(task: str) -> str:
    return (
        f"12:00:00.000 - INFO - Executing task {logging_utils.format_task_name(task)}"
    )


def finished(task: str, ok: bool = True) -> str:
    outcome = status.Status.SUCCESS if ok else status.Status.FAILURE
    return (
        f"12:00:01.000 - INFO - Task {logging_utils.format_task_name(task)} "
        f"finished with status {logging_utils.format_status(outcome)}"
    )


def skipped(task: str) -> str:
    return (
        f"12:00:02.000 - INFO - Skipping conditional task {task} "
        "(condition evaluated to False)"
    )


class StandIn:
    """A pipeline function that logs ``lines`` to stdout, then fails or returns.

    Attributes:
        received: The arguments of the last call.
    """

    def __init__(
        self,
        lines: list[str],
        *,
        error: Exception | None = None,
        outputs: dict[str, Any] | None = None,
        make: Callable[[], None] | None = None,
    ) -> None:
        self.lines, self.error, self.outputs, self.make = lines, error, outputs, make
        self.received: dict[str, Any] = {}

    def __call__(self, **arguments: Any) -> Any:
        self.received = arguments
        for line in self.lines:
            print(line)
        if self.make is not None:
            self.make()
        if self.error is not None:
            raise self.error
        return SimpleNamespace(outputs=self.outputs or {})

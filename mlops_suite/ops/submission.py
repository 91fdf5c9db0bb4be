"""What every backend shares about a submitted run: its errors, result and wait.

Every failure a user can cause while submitting (a missing file, an unknown parameter,
an unreachable host, no Google credentials) is raised as a :class:`SubmitError` whose
message is one sentence the CLI can print as is.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from mlops_suite.errors import MlopsError

FAILED_STATES = frozenset({"FAILED", "CANCELED", "CANCELLED"})

DEFAULT_TIMEOUT_S = 3600.0
DEFAULT_POLL_INTERVAL_S = 10.0


class SubmitError(MlopsError):
    """A pipeline could not be submitted; the message says why in one sentence."""


class BackendUnreachableError(SubmitError):
    """The pipeline backend (KFP host or Vertex AI endpoint) did not answer."""


@dataclass(frozen=True)
class SubmitResult:
    """Where a submitted run lives and the state it was last seen in.

    Attributes:
        run_id: The backend's run ID (a KFP run UUID or a Vertex pipeline job ID).
        url: The page that shows the run (KFP UI or Google Cloud console).
        state: The last known state, e.g. ``PENDING``, ``RUNNING``, ``SUCCEEDED``.
        backend: ``"kfp"`` or ``"vertex"``.
    """

    run_id: str
    url: str
    state: str
    backend: str = "kfp"

    @property
    def failed(self) -> bool:
        """Whether the run ended without success (failed or cancelled)."""
        return self.state in FAILED_STATES

    def summary(self) -> str:
        """One line for the CLI, e.g. ``Vertex AI run abc-123 is RUNNING: https://...``."""
        where = "Vertex AI" if self.backend == "vertex" else "Kubeflow Pipelines"
        return f"{where} run {self.run_id} is {self.state}: {self.url}"


def error_reason(exc: BaseException) -> str:
    """A short human reason for a network failure (e.g. 'Connection refused')."""
    text = str(exc)
    errno = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if errno:
        return errno.group(1).strip()
    if isinstance(exc, requests.Timeout) or "timed out" in text.lower():
        return "no answer in time"
    return type(exc).__name__


def wait_for_end(
    poll: Callable[[], str],
    state: str,
    terminal: frozenset[str],
    *,
    timeout_s: float,
    poll_interval_s: float,
    describe: str,
    url: str,
) -> str:
    """Poll a run's state until it is terminal.

    Args:
        poll: Asks the backend for the run's state now.
        state: The state last seen; no poll happens when it is already terminal.
        terminal: The states in which a run has ended, on this backend.
        timeout_s: How long to wait in all.
        poll_interval_s: Seconds between polls.
        describe: What is running, for the message, e.g. ``"Run 1a2b on http://..."``.
        url: The page that shows the run, for the message.

    Returns:
        The terminal state.

    Raises:
        SubmitError: The run was not over after ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while state not in terminal:
        if time.monotonic() >= deadline:
            raise SubmitError(
                f"{describe} was still {state} after {timeout_s:g} s; follow it at "
                f"{url}."
            )
        time.sleep(poll_interval_s)
        state = poll()
    return state

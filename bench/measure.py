"""Measure a whole process as a user runs it: wall time, CPU time and peak RSS.

The benchmarks compare processes, not functions: start-up, imports and exit count,
as they do for whoever waits at the terminal.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measured:
    """What a finished process tree took.

    Attributes:
        seconds: Wall time, start to exit.
        cpu_seconds: User plus system CPU time of the whole tree (every waited-for
            descendant): unlike wall time, barely moved by other work on the machine.
        peak_rss: The largest single process's peak RSS, in bytes (Linux keeps the
            maximum over waited-for descendants).
        output: Its stdout and stderr, interleaved.
    """

    seconds: float
    cpu_seconds: float
    peak_rss: int
    output: str


def run_measured(
    command: Sequence[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Measured:
    """Run ``command`` to its end and measure it.

    Raises:
        subprocess.CalledProcessError: The command failed; its output is attached.
    """
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(command),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=env,
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read().decode("utf-8", errors="replace")
    if process.returncode != 0:
        raise subprocess.CalledProcessError(process.returncode, list(command), text)
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(seconds, cpu, usage.ru_maxrss * 1024, text)  # maxrss in KiB


def peak_rss_text(peak_bytes: int) -> str:
    """A peak RSS for people, in MB (10^6 bytes) below a GB, else in GB."""
    if peak_bytes >= 10**9:
        return f"{peak_bytes / 1e9:.2f} GB"
    return f"{peak_bytes / 1e6:.0f} MB"

"""Start a local run's steps from processes that imported the heavy libraries once.

Every step of a local run is a process of its own, as on a cluster, and most of a
step's start is imports: pandas, pyarrow, scikit-learn (with SciPy) and matplotlib
take one to four seconds a step, often longer than the step's work on small data.
:func:`forked_steps` starts *fork servers* for the run that import them (and the
suite's modules the steps use) once, then fork a process for every step: each step
still has its own process, memory, working directory, environment, streams and exit
status, but finds those modules already in memory. The imports come in phases (see
:data:`PRELOAD`), one server listening after each, so the first steps need not wait
for scikit-learn; a step goes to the server that has imported the most so far.

A server takes a step only when the step's environment is the one the servers
started with (kfp.local adds ``_KFP_RUNTIME``, the shell its bookkeeping variables):
a library reads some variables when it is imported, and a step given others would
otherwise see the values of the servers' start. What the imports themselves set
(scikit-learn's ``KMP_*`` variables) is set in the step's environment too. Any other
step, and every step when no server came to listen, runs in a fresh interpreter as
before (:mod:`mlops_suite.ops.step_launcher`). Linux only: on macOS, forking after
these libraries load is not safe. ``MLOPS_FRESH_STEP_PROCESSES=1`` turns it off.

kfp, the executor and the component's own code are imported by each step itself,
as without the servers; so are model servers (infra validation starts fresh
interpreters, whose imports must be a cluster's).
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import runpy
import selectors
import shlex
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlops_suite.ops.step_launcher import PID_SUFFIX

# Turns the fork server off: every step starts a fresh interpreter.
FRESH_STEPS_ENV = "MLOPS_FRESH_STEP_PROCESSES"
# What the steps of the suite's pipelines import, in phases: one server per phase
# listens as soon as its modules are in, the data steps' (pandas, pyarrow) first,
# then scikit-learn and SciPy (from the split on), then matplotlib (evaluation).
PRELOAD: tuple[tuple[str, ...], ...] = (
    (
        "mlops_suite.data.ingest",
        "mlops_suite.data.statistics",
        "mlops_suite.data.schema",
        "mlops_suite.data.profile_view",
        "mlops_suite.data.validation",
    ),
    (
        "mlops_suite.data.split",
        "mlops_suite.training.train",
        "mlops_suite.tuning",
        "mlops_suite.model_folder",
        "mlops_suite.evaluation.metrics",
        "mlops_suite.evaluation.importance",
        "mlops_suite.monitoring.calibrator",
        "mlops_suite.monitoring.performance_reference",
        "mlops_suite.serving.infra_validation",
        "mlops_suite.approval",
        "mlops_suite.registration",
        "mlops_suite.model_card",
    ),
    ("mlops_suite.evaluation.report",),
)
# Variables a step's environment may add or change and still be forked: kfp.local's
# marker for the executor, and what the shell maintains (bash also exports the
# terminal's size, which libraries read when they print, not when imported).
_STEP_ONLY_VARIABLES = frozenset(
    {"_KFP_RUNTIME", "PWD", "OLDPWD", "SHLVL", "_", "COLUMNS", "LINES"}
)
_HEADER = struct.Struct("!I")
_MAX_REQUEST = 16 * 2**20


def _environment_differs(
    step_env: dict[str, str], started: dict[str, str]
) -> list[str]:
    """The variables that differ between a step's environment and the server's."""
    names = (set(step_env) | set(started)) - _STEP_ONLY_VARIABLES
    return sorted(name for name in names if step_env.get(name) != started.get(name))


def _receive(connection: socket.socket) -> tuple[dict, list[int]]:
    """A step's request (argv, env, cwd) and its three standard streams."""
    data, fds, _flags, _address = socket.recv_fds(connection, 65536, 3)
    buffer = bytearray(data)
    while len(buffer) < _HEADER.size:
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError("the step hung up")
        buffer += chunk
    (size,) = _HEADER.unpack_from(buffer)
    if size > _MAX_REQUEST:
        raise ConnectionError(f"a request of {size} bytes")
    while len(buffer) < _HEADER.size + size:
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError("the step hung up")
        buffer += chunk
    request = json.loads(bytes(buffer[_HEADER.size : _HEADER.size + size]))
    return request, list(fds)


def _send(connection: socket.socket, message: dict) -> None:
    try:
        connection.sendall(json.dumps(message).encode() + b"\n")
    except OSError:
        pass  # the launcher is gone; its step runs on or has ended


def _become_step(
    request: dict, fds: list[int], closing: list, imported_env: dict[str, str]
) -> None:
    """In the forked child: take the step's streams, place and environment, run it.

    Never returns: the step's ``SystemExit`` (or exception) ends this process the
    way it ends a fresh interpreter, atexit handlers included.
    """
    signal.set_wakeup_fd(-1)
    # The server's sockets, selector and wake-up pipe are not the step's.
    for held in closing:
        if isinstance(held, int):
            os.close(held)
        else:
            held.close()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for target, fd in zip((0, 1, 2), fds, strict=True):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    # What the imports set (scikit-learn sets KMP_* variables), as they would have.
    os.environ.update(imported_env)
    # As `python -m` sets it: the working directory first on the path.
    sys.path[0] = os.getcwd()
    module, arguments = request["argv"][1], request["argv"][2:]
    sys.argv = [module, *arguments]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    raise SystemExit(0)


def _import(name: str) -> None:
    """Import one module for the steps, then freeze what is loaded.

    Frozen, what every step shares is walked by no step's collector, during the
    step or at its exit. A failure is logged (to the server's log) and left to the
    steps.
    """
    try:
        importlib.import_module(name)
    except Exception:
        traceback.print_exc()
    sys.stdout.flush()
    sys.stderr.flush()
    gc.collect()
    gc.freeze()


def serve(prefix: str, phases: tuple[tuple[str, ...], ...] = PRELOAD) -> int:
    """The fork servers: import a phase, listen, fork the next phase's server.

    The server of phase ``i`` listens on ``<prefix>-<i>.sock`` once the modules of
    phases ``0..i`` are imported, and forks a process per step until told to stop;
    the next phase's server is forked from it just before it listens, so it imports
    only what is new. A step goes to the latest server listening (see
    :mod:`~mlops_suite.ops.step_launcher`) and imports what is still missing
    itself. An import that fails is left to the steps, which fail on it as they
    would have. Told to stop (SIGTERM), a server stops the next one, takes no more
    steps and ends once its running ones have.

    Args:
        prefix: The sockets' path without ``-<i>.sock``.
        phases: The modules to import, phase by phase.

    Returns:
        The exit code, 0.
    """
    parent = os.getppid()
    started = dict(os.environ)
    phase = 0
    while True:
        for name in phases[phase]:
            _import(name)
        later = None
        if phase + 1 < len(phases):
            later = os.fork()
            if later == 0:  # the next phase's server: import on from here
                parent, phase = os.getppid(), phase + 1
                continue
        return _serve_steps(f"{prefix}-{phase}.sock", parent, started, later)


def _serve_steps(
    path: str, parent: int, started: dict[str, str], later: int | None
) -> int:
    """Fork a process per step asking on ``path`` until told to stop."""
    # What the imports set (scikit-learn sets KMP_* variables), for every step.
    imported_env = {
        name: value for name, value in os.environ.items() if started.get(name) != value
    }
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(wake_read, selectors.EVENT_READ)
    running: dict[int, socket.socket] = {}
    while (running or not stopping) and os.getppid() == parent:
        if stopping and listener.fileno() >= 0:
            selector.unregister(listener)
            listener.close()
            if later is not None:
                os.kill(later, signal.SIGTERM)
        for key, _events in selector.select(timeout=1.0):
            if key.fileobj is listener:
                connection, _ = listener.accept()
                held = [listener, selector, wake_read, wake_write, *running.values()]
                _start_step(connection, held, running, started, imported_env)
            else:
                os.read(wake_read, 4096)
        _reap(running)
    listener.close()
    if later is not None:
        # Waited for, so that its steps' CPU time and peak memory reach the run's
        # own accounting (getrusage of the process that started the servers).
        os.kill(later, signal.SIGTERM)
        os.waitpid(later, 0)
    return 0


def _start_step(
    connection: socket.socket,
    held: list,
    running: dict,
    started: dict[str, str],
    imported_env: dict[str, str],
) -> None:
    """Fork a process for the step asking on ``connection``, or decline."""
    try:
        request, fds = _receive(connection)
    except (OSError, ValueError) as error:
        _send(connection, {"fallback": f"unreadable request ({error})"})
        connection.close()
        return
    argv = request.get("argv") or []
    differing = _environment_differs(request.get("env") or {}, started)
    reason = ""
    if len(argv) < 2 or argv[0] != "-m":
        reason = "only `python -m MODULE` commands are forked"
    elif differing:
        reason = f"its environment differs in {', '.join(differing[:5])}"
    if reason or len(fds) != 3:
        for fd in fds:
            os.close(fd)
        _send(connection, {"fallback": reason or "no standard streams"})
        connection.close()
        return
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _become_step(request, fds, [*held, connection], imported_env)
    for fd in fds:
        os.close(fd)
    running[pid] = connection
    _send(connection, {"pid": pid})


def _reap(running: dict[int, socket.socket]) -> None:
    """Tell each finished step's launcher how its process ended."""
    for pid in list(running):
        finished, status = os.waitpid(pid, os.WNOHANG)
        if finished:
            connection = running.pop(pid)
            _send(connection, {"status": status})
            connection.close()


@contextmanager
def forked_steps(
    phases: tuple[tuple[str, ...], ...] = PRELOAD,
) -> Iterator[str | None]:
    """Run the fork servers for the duration of a local run.

    Args:
        phases: The modules the servers import before they fork steps, phase by
            phase (see :func:`serve`).

    Yields:
        The executable to run steps with instead of the interpreter (a wrapper
        around :mod:`mlops_suite.ops.step_launcher`), or None when steps should
        start fresh interpreters (not Linux, or ``MLOPS_FRESH_STEP_PROCESSES``).
    """
    if sys.platform != "linux" or os.environ.get(FRESH_STEPS_ENV, "") not in ("", "0"):
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="mlops-steps-") as scratch:
        folder = Path(scratch)
        prefix = str(folder / "fork")
        launcher = folder / "python3"
        launcher.write_text(
            "#!/bin/sh\n"
            f"exec {shlex.quote(sys.executable)} -SI "
            f"{shlex.quote(str(Path(__file__).with_name('step_launcher.py')))} "
            f'{shlex.quote(prefix)} {len(phases)} "$@"\n'
        )
        launcher.chmod(0o755)
        command = [sys.executable, "-m", "mlops_suite.ops.fork_server", prefix]
        with open(folder / "fork-server.log", "wb") as log:
            server = subprocess.Popen(
                [*command, json.dumps(phases)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        # Steps wait for the servers while the first lives and imports.
        Path(prefix + PID_SUFFIX).write_text(str(server.pid))
        try:
            yield str(launcher)
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1], tuple(tuple(p) for p in json.loads(sys.argv[2]))))

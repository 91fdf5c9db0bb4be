"""Stand in for ``python3`` in a local run's step commands: ask a fork server.

kfp.local starts every step as ``sh -c '... python3 -m kfp.dsl.executor_main ...'``.
During ``mlops run`` that ``python3`` is this script (through the wrapper written by
:func:`mlops_suite.ops.fork_server.forked_steps`): it hands its arguments,
environment, working directory and standard streams to the fork server that has
imported the most so far, which forks a process for the step; it then waits for that
process and exits as it did. Until the first server listens, the step waits for it.
When no server takes the step (they stopped, or none listened in time, or the step's
environment differs) the launcher becomes the plain interpreter instead (``exec``),
so the step runs exactly as it would have without them.

Runs with ``python -SI``: the standard library only, started in about 50 ms.
"""

import json
import os
import signal
import socket
import struct
import sys
import time

# Beside the sockets: the first fork server's process id, while it imports.
PID_SUFFIX = ".pid"
# How long a step waits for the fork server to finish importing; its imports take
# a few seconds, this many only on a machine far too busy for them.
READY_TIMEOUT_S = 60.0
_POLL_S = 0.02


def _fresh_interpreter(arguments: list[str]) -> None:
    """Replace this process with the plain interpreter running ``arguments``."""
    os.execv(sys.executable, [sys.executable, *arguments])


def _importing(prefix: str) -> bool:
    """Whether the first fork server is alive (so, until it listens, importing)."""
    try:
        with open(prefix + PID_SUFFIX) as written:
            pid = int(written.read())
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie or dead server never will listen


def _connect(prefix: str, phases: int) -> socket.socket | None:
    """Connect to the latest fork server listening; None when none will.

    The server of a later phase has imported more (``<prefix>-<phase>.sock``).
    """
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        for phase in reversed(range(phases)):
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                client.connect(f"{prefix}-{phase}.sock")
            except OSError:
                client.close()
            else:
                return client
        if time.monotonic() > deadline or not _importing(prefix):
            return None
        time.sleep(_POLL_S)


def _read_line(client: socket.socket, pending: bytearray) -> bytes:
    """One newline-terminated message from the server; empty when it hung up."""
    while b"\n" not in pending:
        chunk = client.recv(4096)
        if not chunk:
            return b""
        pending += chunk
    line, _, rest = bytes(pending).partition(b"\n")
    pending[:] = rest
    return line


def _exit_like(status: int) -> None:
    """End this process the way the step's process ended."""
    code = os.waitstatus_to_exitcode(status)
    if code < 0:  # killed by a signal: die of the same one, as the shell would see
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code if code >= 0 else 1)


def main(argv: list[str]) -> None:
    """``step_launcher.py PREFIX PHASES ARGUMENTS...``: run ``python3 ARGUMENTS``."""
    prefix, phases, arguments = argv[1], int(argv[2]), argv[3:]
    client = _connect(prefix, phases)
    if client is None:
        _fresh_interpreter(arguments)
        return
    request = json.dumps(
        {"argv": arguments, "env": dict(os.environ), "cwd": os.getcwd()}
    ).encode()
    socket.send_fds(client, [struct.pack("!I", len(request)) + request], [0, 1, 2])
    pending = bytearray()
    reply = json.loads(_read_line(client, pending) or b'{"fallback": "no reply"}')
    if "pid" not in reply:
        client.close()
        _fresh_interpreter(arguments)
        return
    pid = int(reply["pid"])
    # The terminal's Ctrl-C reaches the step itself (same process group); a
    # termination asked of this process is passed on to it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for forwarded in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(forwarded, lambda number, _frame: os.kill(pid, number))
    line = _read_line(client, pending)
    if not line:
        print(
            f"the local fork server stopped while step process {pid} ran",
            file=sys.stderr,
        )
        os._exit(1)
    _exit_like(int(json.loads(line)["status"]))


if __name__ == "__main__":
    main(sys.argv)

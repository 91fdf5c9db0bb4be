"""The payload sink in a child process, and KServe-like events to send it.

Shared by the sink's durability tests on a local folder (tests/monitoring) and on the
object stores (tests/stores): the child runs the sink as ``mlops sink`` would, so a
test can kill it (SIGKILL) or stop it (SIGTERM) mid-stream and start it again.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlops_suite.monitoring.payloads.cloudevents import REQUEST_TYPE, RESPONSE_TYPE

REPO_ROOT = Path(__file__).resolve().parents[2]
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# The child runs the sink as `mlops sink` would, and exits if this process dies.
CHILD = (
    "import os, sys, threading, time\n"
    "parent = int(sys.argv.pop(1))\n"
    "def watch():\n"
    "    while os.getppid() == parent:\n"
    "        time.sleep(0.5)\n"
    "    os._exit(3)\n"
    "threading.Thread(target=watch, daemon=True).start()\n"
    "from mlops_suite.monitoring.sink.command import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")
START_TIMEOUT_S = 60.0


def post(url: str, kind: str, event_id: str, payload: Any) -> int:
    """Send one payload-logger event (``request`` or ``response``); the HTTP status."""
    headers = {
        "Ce-Id": event_id,
        "Ce-Type": REQUEST_TYPE if kind == "request" else RESPONSE_TYPE,
        "Ce-Source": "http://localhost:9081/",
        "Ce-Specversion": "1.0",
        "Ce-Inferenceservicename": "penguins",
        "Content-Type": "application/json",
    }
    body = json.dumps(payload).encode()
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with DIRECT.open(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def send_pair(url: str, event_id: str, values: list[float]) -> None:
    """A V1 request of rows ``[v, 2v]`` and its response ``y<v>``, both accepted."""
    instances = [[value, value * 2] for value in values]
    assert post(url, "request", event_id, {"instances": instances}) == 200
    predictions = [f"y{value:g}" for value in values]
    assert post(url, "response", event_id, {"predictions": predictions}) == 200


@contextmanager
def sink_process(
    out: str | os.PathLike[str], *flags: str, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run the sink in a child Python process; yield it and its URL.

    Args:
        out: The sink's output folder or URI.
        flags: More ``mlops sink`` flags.
        env: Variables to add to this process's environment for the child.
    """
    command = [
        sys.executable,
        "-c",
        CHILD,
        str(os.getpid()),
        f"--output={os.fspath(out)}",
        "--port=0",
        "--flush-rows=100000",
        "--flush-seconds=3600",
        *flags,
    ]
    child = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    lines: queue.Queue[str] = queue.Queue()

    def drain() -> None:
        assert child.stderr is not None
        for line in child.stderr:
            lines.put(line)

    threading.Thread(target=drain, daemon=True).start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        url = None
        seen: list[str] = []
        while url is None:
            assert time.monotonic() < deadline, f"sink did not start: {seen}"
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                assert child.poll() is None, f"sink exited: {seen}"
                continue
            seen.append(line)
            match = LISTENING.search(line)
            url = match.group(1) if match else None
        yield child, url
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)

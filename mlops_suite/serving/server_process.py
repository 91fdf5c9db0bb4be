"""Run the local KServe runtime (:mod:`mlops_suite.serving.runtime`) in child processes.

Each server is a fresh interpreter started without the current directory on its path,
so it imports only installed packages and this one: a pickle that needs a class
defined elsewhere fails to load as it would in the cluster. This module never imports
kserve itself: the process that starts servers (the infra-validation step, tests)
does not pay for what only the child needs.

Several servers can start at once (:func:`server_group`): their interpreters load
side by side, and while the caller goes on with its own work; each is waited for
only when its address is needed.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from mlops_suite.errors import ERROR_MARKER, ServingError

DEFAULT_HOST = "127.0.0.1"

# The child puts this package's folder on sys.path only long enough to import the
# runtime: the project's other folders (tests, scripts) stay unimportable there.
_CHILD_BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "import mlops_suite.serving.runtime as runtime; del sys.path[0]; "
    "sys.exit(runtime._main())"
)
_EXCEPTION_LINE = re.compile(r"^[\w.]+(Error|Exception|Exit)\b")
# Local servers are reached directly, whatever HTTP proxy the environment sets.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# How often readiness is asked for: a server is ready about 2 s after it starts, so
# a coarse interval would add a good share of that on average.
_POLL_INTERVAL_S = 0.05
# A port picked here may be taken before the child binds it; retry a few times.
_PORT_ATTEMPTS = 3


def free_port(host: str = DEFAULT_HOST) -> int:
    """Return a TCP port that was free on ``host`` a moment ago.

    Args:
        host: The address to probe.

    Returns:
        The port number.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _last_error_line(log_path: Path) -> str:
    """Return the child's own failure sentence, else the last line it logged."""
    try:
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "no output"
    marked = [line for line in lines if line.startswith(ERROR_MARKER)]
    if marked:
        return marked[-1][len(ERROR_MARKER) :].strip()
    # Otherwise the last logged ERROR (uvicorn's bind failure is followed by INFO
    # shutdown lines) or the last line of a traceback.
    for line in reversed(lines):
        if " ERROR" in line:
            return line.split(" ERROR", 1)[1].lstrip(": ").strip()[:500]
        if _EXCEPTION_LINE.match(line):
            return line.strip()[:500]
    meaningful = [line.strip() for line in lines if line.strip()]
    return meaningful[-1][:500] if meaningful else "no output"


def _get_ok(url: str, timeout_s: float) -> bool:
    """True when ``url`` answers 200 within the timeout."""
    try:
        with _DIRECT.open(url, timeout=timeout_s) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _child_env(extra: Mapping[str, str] | None) -> dict[str, str]:
    """The environment of a child server: ours, unbuffered, plus ``extra``."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


class ChildServer:
    """A model server in a child process: launched at once, waited for when needed.

    Made by :meth:`ServerGroup.start`, which stops it when the group's block ends.

    Attributes:
        started_at: When it was (last) launched, on the ``time.monotonic`` clock.
    """

    def __init__(
        self,
        model_dir: Path,
        model_name: str,
        workdir: Path,
        *,
        port: int | None,
        env: Mapping[str, str] | None,
        startup_timeout_s: float,
    ) -> None:
        self._model_dir = model_dir
        self._model_name = model_name
        self._workdir = workdir
        self._fixed_port = port
        self._env = env
        self._timeout_s = startup_timeout_s
        self._attempt = 0
        self._base_url: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path = workdir / "server-0.log"
        self.started_at = time.monotonic()
        self._launch()

    def _launch(self) -> None:
        port = self._fixed_port if self._fixed_port is not None else free_port()
        self._log_path = self._workdir / f"server-{self._attempt}.log"
        self._url = f"http://{DEFAULT_HOST}:{port}"
        command = [
            sys.executable,
            # -P: no current directory on sys.path, so a module only the parent could
            # import (its sys.path, its working directory) fails here as in the
            # cluster.
            "-P",
            "-c",
            _CHILD_BOOTSTRAP,
            str(Path(__file__).resolve().parents[2]),
            "--model-dir",
            str(self._model_dir),
            "--model-name",
            self._model_name,
            "--http-port",
            str(port),
            "--host",
            DEFAULT_HOST,
            "--parent-pid",
            str(os.getpid()),
        ]
        self.started_at = time.monotonic()
        with open(self._log_path, "ab") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._workdir,
                env=_child_env(self._env),
            )

    def base_url(self) -> str:
        """Wait until the server is ready; return its base URL.

        Returns:
            The base URL, e.g. ``http://127.0.0.1:40123``.

        Raises:
            ServingError: The server exited, or was not ready within the startup
                timeout of its launch; the message ends with its last error line.
        """
        if self._base_url is not None:
            return self._base_url
        attempts = 1 if self._fixed_port is not None else _PORT_ATTEMPTS
        while True:
            try:
                self._wait_ready()
            except ServingError:
                self.terminate()
                self.wait(grace_s=5.0)
                log = self._log_path.read_text(encoding="utf-8", errors="replace")
                if "address already in use" in log and self._attempt + 1 < attempts:
                    self._attempt += 1
                    self._launch()
                    continue
                raise
            self._base_url = self._url
            return self._url

    def _wait_ready(self) -> None:
        """Poll the health endpoints until the model is ready or the child fails."""
        assert self._process is not None
        name = self._model_name
        deadline = self.started_at + self._timeout_s
        while True:
            code = self._process.poll()
            if code is not None:
                raise ServingError(
                    f"The model server for {name} exited with code {code} before it "
                    f"was ready; its last error line: "
                    f"{_last_error_line(self._log_path)}"
                )
            if _get_ok(f"{self._url}/v2/health/ready", 1.0) and _get_ok(
                f"{self._url}/v1/models/{name}", 1.0
            ):
                return
            if time.monotonic() > deadline:
                raise ServingError(
                    f"The model server for {name} was not ready after "
                    f"{self._timeout_s:g} s; its last log line: "
                    f"{_last_error_line(self._log_path)}"
                )
            time.sleep(_POLL_INTERVAL_S)

    def terminate(self) -> None:
        """Ask the server to stop (SIGTERM) without waiting."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()

    def wait(self, grace_s: float) -> None:
        """Wait for the server to end; SIGKILL it if it lingers past ``grace_s``."""
        if self._process is None:
            return
        try:
            self._process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


class ServerGroup:
    """Child servers of one model folder, started whenever the caller chooses.

    Made by :func:`server_group`, which stops every server when its block ends.
    """

    def __init__(
        self, model_dir: Path, model_name: str, scratch: Path, startup_timeout_s: float
    ) -> None:
        self._model_dir = model_dir
        self._model_name = model_name
        self._scratch = scratch
        self._timeout_s = startup_timeout_s
        self.servers: list[ChildServer] = []

    def start(
        self, env: Mapping[str, str] | None = None, port: int | None = None
    ) -> ChildServer:
        """Launch one more server now; its interpreter loads while the caller works.

        Args:
            env: Extra environment variables for the child (e.g. ``PREDICT_PROBA``).
            port: The port; a free one is picked when None.

        Returns:
            The server; :meth:`ChildServer.base_url` waits until it is ready.
        """
        workdir = self._scratch / str(len(self.servers))
        workdir.mkdir()
        server = ChildServer(
            self._model_dir,
            self._model_name,
            workdir,
            port=port,
            env=env,
            startup_timeout_s=self._timeout_s,
        )
        self.servers.append(server)
        return server


@contextmanager
def server_group(
    model_dir: str | os.PathLike[str],
    model_name: str,
    *,
    startup_timeout_s: float = 60.0,
) -> Iterator[ServerGroup]:
    """Serve a model folder from child processes started during a ``with`` block.

    Each :meth:`ServerGroup.start` launches a child running
    :func:`mlops_suite.serving.runtime.serve` on 127.0.0.1; several load side by
    side. All stop when the block ends (SIGTERM to every one, then SIGKILL for one
    that lingers), and each by itself if this process dies.

    Args:
        model_dir: The model folder to serve.
        model_name: The name to serve under.
        startup_timeout_s: How long each server may take, from its launch, to
            answer 200 on ``/v2/health/ready`` and ``/v1/models/<model_name>``.

    Yields:
        The group, to start servers with.
    """
    folder = Path(model_dir).resolve()
    with tempfile.TemporaryDirectory(prefix="mlops-serve-") as scratch:
        group = ServerGroup(folder, model_name, Path(scratch), startup_timeout_s)
        try:
            yield group
        finally:
            # Ask every server first, then wait: they shut down side by side.
            for server in group.servers:
                server.terminate()
            for server in group.servers:
                server.wait(grace_s=15.0)


@contextmanager
def start_server_in_subprocess(
    model_dir: str | os.PathLike[str],
    model_name: str,
    port: int | None = None,
    *,
    startup_timeout_s: float = 60.0,
    env: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """Run :func:`~mlops_suite.serving.runtime.serve` in a child process for a block.

    The child is a fresh interpreter on 127.0.0.1 (see the module's docstring). It
    stops when the block ends, and by itself if this process dies.

    Args:
        model_dir: The model folder to serve.
        model_name: The name to serve under.
        port: The port; a free one is picked when None.
        startup_timeout_s: How long to wait for ``/v2/health/ready`` and
            ``/v1/models/<model_name>`` to answer 200.
        env: Extra environment variables for the child (e.g. ``PREDICT_PROBA``).

    Yields:
        The base URL, e.g. ``http://127.0.0.1:40123``.

    Raises:
        ServingError: The server exited or was not ready in time; the message ends
            with the server's last error line.
    """
    with server_group(
        model_dir, model_name, startup_timeout_s=startup_timeout_s
    ) as group:
        yield group.start(env, port).base_url()

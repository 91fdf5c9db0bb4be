"""Serve a model folder the way KServe's stock scikit-learn runtime serves it.

The cluster runs KServe's ``sklearnserver`` image; this module reproduces it locally
so that what passes here passes there. :class:`SklearnRuntimeModel` follows the stock
``SKLearnModel`` step by step:

* **discovery**: the folder must hold exactly one regular file ending in ``.joblib``,
  ``.pkl`` or ``.pickle`` (any name, the stock runtime does not insist on
  ``model.joblib``); none or several stop the load;
* **loading**: plain ``joblib.load`` of that file, so a pickle that needs a class the
  runtime cannot import fails exactly as it would in the pod (both rules are
  :mod:`mlops_suite.model_folder`'s, shared with training and the registry);
* **requests**: ``kserve.utils.utils.get_predict_input`` decodes V1 and V2 payloads,
  ``predict`` (or ``predict_proba`` when the ``PREDICT_PROBA`` environment variable
  is ``true``) runs on what it returns, ``get_predict_response`` encodes the answer.

One thing is added before loading: when ``metadata.json`` sits next to the model file,
the file's sha256 must equal its ``model_sha256``, so a file changed after training
or registration is refused instead of served. A folder without ``metadata.json`` is
served as the stock runtime serves it.

What the stock decoding hands the model matters to anyone who trains for it:

* V1 ``{"instances": rows}`` becomes ``np.array(rows)``: an ``object`` array when
  some value is ``null`` (``None`` then stays ``None``, numbers and booleans keep
  their Python type), but a **fixed-width string array** (``<U32``) when no value is
  missing and the rows mix strings and numbers, so ``39.1`` arrives as ``'39.1'`` and
  ``true`` as ``'True'``. One request can therefore decode differently from the same
  rows sent one by one; a model must predict the same on both forms. V1 instances
  given as JSON objects fail in the stock decoder (pandas needs an index), so rows
  are sent as lists in training column order.
* V2 with ``"parameters": {"content_type": "pd"}`` becomes a DataFrame with one column
  per input, built from the JSON lists as they are; see
  :mod:`mlops_suite.serving.sample_requests` for what each datatype turns into.

Servers bind ``127.0.0.1`` unless told otherwise: kserve's REST server hard-codes
``0.0.0.0``, so :func:`serve` overrides the address before uvicorn binds. The gRPC
server is not started (the suite speaks REST only and a fixed gRPC port would clash
between local servers).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import kserve
from kserve.errors import InferenceError
from kserve.utils.utils import get_predict_input, get_predict_response

from mlops_suite.errors import ERROR_MARKER, MlopsError, ServingError
from mlops_suite.model_folder import load_model
from mlops_suite.serving.probabilities import PREDICT_PROBA_ENV, PREDICT_PROBA_ON

DEFAULT_HOST = "127.0.0.1"

# The child puts this package's folder on sys.path only long enough to import this
# module: the project's other folders (tests, scripts) stay unimportable there.
_CHILD_BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "import mlops_suite.serving.runtime as runtime; del sys.path[0]; "
    "sys.exit(runtime._main())"
)
_EXCEPTION_LINE = re.compile(r"^[\w.]+(Error|Exception|Exit)\b")
# Local servers are reached directly, whatever HTTP proxy the environment sets.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SklearnRuntimeModel(kserve.Model):
    """KServe's stock ``SKLearnModel``, plus a hash check before loading.

    Args:
        name: The name the model is served under (``/v1/models/<name>``).
        model_dir: The local model folder.
    """

    def __init__(self, name: str, model_dir: str | os.PathLike[str]):
        super().__init__(name)
        self.name = name
        self.model_dir = str(model_dir)
        self.ready = False
        self._model: Any = None

    def load(self) -> bool:
        """Load the folder's single model file and mark the model ready.

        Returns:
            True once loaded.

        Raises:
            ModelFolderError: No model file, several, or ``joblib.load`` failed (for
                example because the pickle needs a module the runtime cannot import).
            ModelIntegrityError: The model file does not match ``metadata.json``.
        """
        self._model = load_model(self.model_dir, require_metadata=False).pipeline
        self.ready = True
        return self.ready

    def predict(self, payload: Any, headers: dict[str, str] | None = None) -> Any:
        """Answer a V1 dict or V2 ``InferRequest`` exactly as the stock runtime does.

        Args:
            payload: The decoded request (V1 dict or V2 ``InferRequest``).
            headers: The request headers (unused, as in the stock runtime).

        Returns:
            The V1 dict or V2 ``InferResponse`` built by ``get_predict_response``.

        Raises:
            InferenceError: Decoding or prediction failed (the server answers 500).
        """
        try:
            instances = get_predict_input(payload)
            switch = os.environ.get(PREDICT_PROBA_ENV, "false").lower()
            use_proba = switch == PREDICT_PROBA_ON
            if use_proba and hasattr(self._model, "predict_proba"):
                result = self._model.predict_proba(instances)
            else:
                result = self._model.predict(instances)
            return get_predict_response(payload, result, self.name)
        except Exception as exc:
            raise InferenceError(str(exc)) from exc


class _BoundModelServer(kserve.ModelServer):
    """A ``kserve.ModelServer`` whose REST server listens on a chosen address."""

    def __init__(self, *, host: str, **kwargs: Any):
        self._host = host
        super().__init__(**kwargs)

    def setup_event_loop(self) -> None:
        # kserve builds its RESTServer with host "0.0.0.0" inside start() and calls
        # this hook before uvicorn binds: the last moment to change the address.
        if self._rest_server is None:
            raise ServingError(
                "kserve's ModelServer built no single-process REST server to bind "
                f"to {self._host}."
            )
        self._rest_server.config.host = self._host
        super().setup_event_loop()


def serve(
    model_dir: str | os.PathLike[str],
    *,
    model_name: str,
    host: str = DEFAULT_HOST,
    http_port: int,
    grace_period_s: int = 10,
    predict_proba: bool | None = None,
) -> None:
    """Serve a model folder with kserve's ModelServer until the process is stopped.

    The model is loaded (and its hash checked) before the server starts, so a bad
    folder fails here with one sentence instead of starting an unready server.
    Like the stock runtime, the server reads ``PREDICT_PROBA`` from this process's
    environment; ``predict_proba`` sets it first.

    Args:
        model_dir: The local model folder (one model file plus ``metadata.json``).
        model_name: The name to serve under (``/v1/models/<model_name>:predict``,
            ``/v2/models/<model_name>/infer``).
        host: The address to listen on; ``127.0.0.1`` keeps the server local,
            ``0.0.0.0`` is for containers.
        http_port: The REST port.
        grace_period_s: Seconds in-flight requests get to finish on shutdown.
        predict_proba: True answers with ``predict_proba`` (the cluster's
            ``PREDICT_PROBA=true``), False with ``predict``; None keeps what the
            environment says.

    Raises:
        ModelFolderError: The folder cannot be served (see
            :func:`mlops_suite.model_folder.load_model`).
        ModelIntegrityError: The model file does not match ``metadata.json``.
    """
    model = SklearnRuntimeModel(model_name, model_dir)
    model.load()
    if predict_proba is not None:
        os.environ[PREDICT_PROBA_ENV] = PREDICT_PROBA_ON if predict_proba else "false"
    server = _BoundModelServer(
        host=host,
        http_port=http_port,
        workers=1,
        enable_grpc=False,
        grace_period=grace_period_s,
    )
    server.start([model])


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


def _stop(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """Stop a child server: SIGTERM, then SIGKILL if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _launch(
    model_dir: Path,
    model_name: str,
    port: int,
    workdir: Path,
    log_path: Path,
    env: Mapping[str, str] | None,
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        # -P: no current directory on sys.path, so a module only the parent could
        # import (its sys.path, its working directory) fails here as in the cluster.
        "-P",
        "-c",
        _CHILD_BOOTSTRAP,
        str(Path(__file__).resolve().parents[2]),
        "--model-dir",
        str(model_dir),
        "--model-name",
        model_name,
        "--http-port",
        str(port),
        "--host",
        DEFAULT_HOST,
        "--parent-pid",
        str(os.getpid()),
    ]
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=_child_env(env),
        )


def _wait_ready(
    process: subprocess.Popen[bytes],
    base_url: str,
    model_name: str,
    log_path: Path,
    timeout_s: float,
) -> None:
    """Poll the health endpoints until the model is ready or the child fails."""
    deadline = time.monotonic() + timeout_s
    while True:
        code = process.poll()
        if code is not None:
            raise ServingError(
                f"The model server for {model_name} exited with code {code} before it "
                f"was ready; its last error line: {_last_error_line(log_path)}"
            )
        if _get_ok(f"{base_url}/v2/health/ready", 1.0) and _get_ok(
            f"{base_url}/v1/models/{model_name}", 1.0
        ):
            return
        if time.monotonic() > deadline:
            raise ServingError(
                f"The model server for {model_name} was not ready after "
                f"{timeout_s:g} s; its last log line: {_last_error_line(log_path)}"
            )
        time.sleep(0.2)


@contextmanager
def start_server_in_subprocess(
    model_dir: str | os.PathLike[str],
    model_name: str,
    port: int | None = None,
    *,
    startup_timeout_s: float = 60.0,
    env: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """Run :func:`serve` in a child Python process on 127.0.0.1 for a ``with`` block.

    The child is a fresh interpreter started without the current directory on its
    path, so it imports only installed packages and this one: a pickle that needs a
    class defined elsewhere fails to load as it would in the cluster. It stops when
    the block ends, and by itself if this process dies.

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
    folder = Path(model_dir).resolve()
    # A port picked here may be taken before the child binds it; retry a few times.
    attempts = 1 if port is not None else 3
    with tempfile.TemporaryDirectory(prefix="mlops-serve-") as scratch:
        workdir = Path(scratch)
        for attempt in range(attempts):
            chosen = port if port is not None else free_port()
            log_path = workdir / f"server-{attempt}.log"
            base_url = f"http://{DEFAULT_HOST}:{chosen}"
            process = _launch(folder, model_name, chosen, workdir, log_path, env)
            try:
                _wait_ready(process, base_url, model_name, log_path, startup_timeout_s)
            except ServingError:
                _stop(process, grace_s=5.0)
                log = log_path.read_text(encoding="utf-8", errors="replace")
                if "address already in use" in log and attempt + 1 < attempts:
                    continue
                raise
            except BaseException:
                _stop(process, grace_s=5.0)
                raise
            try:
                yield base_url
            finally:
                _stop(process, grace_s=15.0)
            return


def _exit_when_parent_dies(parent_pid: int) -> None:
    """Exit this server when the process that started it is gone."""

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _main(argv: list[str] | None = None) -> int:
    """Entry point of the child server started by :func:`start_server_in_subprocess`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--model-name", required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--parent-pid", type=int, default=0)
    args = parser.parse_args(argv)
    if args.parent_pid:
        _exit_when_parent_dies(args.parent_pid)
    try:
        serve(
            args.model_dir,
            model_name=args.model_name,
            host=args.host,
            http_port=args.http_port,
        )
    except MlopsError as exc:
        print(f"{ERROR_MARKER}{exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_main())

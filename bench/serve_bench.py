"""Requests per second of ``mlops serve`` against a plain kserve ModelServer.

Trains the default classifier on the penguins data and registers it in a temporary
registry, then starts two servers on 127.0.0.1, each a process of its own:

* ``mlops serve`` (the suite's runtime: the stock sklearn runtime's loading and
  decoding, the hash check, the model folder from the registry);
* baseline: kserve's ``ModelServer`` with a minimal ``Model`` that ``joblib.load``\\ s
  the same ``model.joblib`` and answers ``predict`` on ``get_predict_input`` (what
  KServe's sklearnserver does), bound to 127.0.0.1 as well.

One client in this process sends V1 ``:predict`` requests over one keep-alive
connection, one at a time, for a bounded time per round (``--seconds``), single-row
and 100-row bodies, alternating between the servers; the best round of each counts.
Both servers must give the same answers first. Both are stopped at the end, whatever
happens. Timings are printed, never asserted: a shared machine makes them noisy.

Usage::

    .venv/bin/python bench/serve_bench.py [--seconds 3] [--rounds 2]
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from table import Figure, print_table

MODEL_NAME = "penguins"
LABEL = "species"
BATCH_ROWS = 100
MLOPS = Path(sys.executable).with_name("mlops")
STARTUP_TIMEOUT_S = 120.0

# The baseline server: kserve's ModelServer and the smallest Model that serves a
# joblib file the way KServe's sklearnserver does. kserve binds 0.0.0.0 itself, so
# the REST server's address is set in the hook kserve calls before uvicorn binds.
_BASELINE = """
import sys
import joblib
import kserve
from kserve.utils.utils import get_predict_input, get_predict_response

model_file, name, port = sys.argv[1], sys.argv[2], int(sys.argv[3])


class JoblibModel(kserve.Model):
    def __init__(self):
        super().__init__(name)
        self.model = joblib.load(model_file)
        self.ready = True

    def predict(self, payload, headers=None):
        instances = get_predict_input(payload)
        return get_predict_response(payload, self.model.predict(instances), self.name)


class LocalModelServer(kserve.ModelServer):
    def setup_event_loop(self):
        self._rest_server.config.host = "127.0.0.1"
        super().setup_event_loop()


LocalModelServer(http_port=port, workers=1, enable_grpc=False).start([JoblibModel()])
"""


def _registered_model(folder: Path) -> tuple[Path, list[list[Any]]]:
    """Train, register; return the version folder and V1 rows of the test split."""
    from palmerpenguins import load_penguins

    from mlops_suite.model_folder import save_model
    from mlops_suite.registry import ModelRegistry
    from mlops_suite.training.train import to_v1_instances, train_model

    penguins = load_penguins().sample(frac=1.0, random_state=11).reset_index(drop=True)
    train, test = penguins.iloc[:240], penguins.iloc[240:].reset_index(drop=True)
    model = train_model(train, LABEL, seed=0)
    save_model(model, folder / "model")
    registry = ModelRegistry(str(folder / "registry"))
    registered = registry.register(MODEL_NAME, str(folder / "model"), lineage={})
    version_dir = Path(registry.version_uri(MODEL_NAME, registered.version))
    return version_dir, to_v1_instances(test, model.metadata["features"])


def _get_status(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except OSError:
        return 0
    finally:
        connection.close()


@contextmanager
def _server(command: list[str], port: int, log: Path) -> Iterator[None]:
    """Run a server process for a block; wait until the model is ready."""
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while _get_status(port, f"/v1/models/{MODEL_NAME}") != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{command[0]} did not become ready:\n{tail}")
            time.sleep(0.1)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class _Client:
    """One keep-alive connection sending V1 predict requests."""

    def __init__(self, port: int) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self._path = f"/v1/models/{MODEL_NAME}:predict"

    def predict(self, body: bytes) -> Any:
        self._connection.request(
            "POST", self._path, body, {"Content-Type": "application/json"}
        )
        response = self._connection.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {payload[:300]!r}")
        return json.loads(payload)["predictions"]

    def rate(self, bodies: list[bytes], seconds: float) -> float:
        """Requests per second over ``seconds``, cycling through ``bodies``."""
        self.predict(bodies[0])  # warm-up: first-request allocations are not load
        sent = 0
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            self.predict(bodies[sent % len(bodies)])
            sent += 1
        return sent / (time.perf_counter() - started)

    def close(self) -> None:
        self._connection.close()


def run(seconds: float, rounds: int) -> list[Figure]:
    """Start both servers, measure both body sizes, stop both; print and return."""
    from mlops_suite.serving.server_process import free_port

    with (
        tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp,
        ExitStack() as stack,
    ):
        folder = Path(tmp)
        version_dir, rows = _registered_model(folder)
        ours_port, base_port = free_port(), free_port()
        ours = [str(MLOPS), "serve", "--registry", str(folder / "registry")]
        ours += ["--model-name", MODEL_NAME, "--port", str(ours_port)]
        baseline = [sys.executable, "-c", _BASELINE, str(version_dir / "model.joblib")]
        baseline += [MODEL_NAME, str(base_port)]
        stack.enter_context(_server(ours, ours_port, folder / "ours.log"))
        stack.enter_context(_server(baseline, base_port, folder / "baseline.log"))
        clients = {"ours": _Client(ours_port), "kserve": _Client(base_port)}
        for client in clients.values():
            stack.callback(client.close)

        singles = [json.dumps({"instances": [row]}).encode() for row in rows]
        batch_rows = (rows * (BATCH_ROWS // len(rows) + 1))[:BATCH_ROWS]
        batches = [json.dumps({"instances": batch_rows}).encode()]
        answers = {name: c.predict(batches[0]) for name, c in clients.items()}
        same = answers["ours"] == answers["kserve"]
        best: dict[tuple[str, str], float] = {}
        for _ in range(rounds):
            for size, bodies in (("1 row", singles), (f"{BATCH_ROWS} rows", batches)):
                for name, client in clients.items():
                    rate = client.rate(bodies, seconds)
                    best[(name, size)] = max(best.get((name, size), 0.0), rate)

    print(
        f"serving penguins ({len(rows)} test rows cycled), one client, one "
        f"keep-alive connection, {rounds} round(s) of {seconds:g} s each, best "
        f"round; same answers from both servers: {'yes' if same else 'NO'}"
    )
    figures = []
    for size in ("1 row", f"{BATCH_ROWS} rows"):
        ours_rate, kserve_rate = best[("ours", size)], best[("kserve", size)]
        print(
            f"  V1 {size:>8}: mlops serve {ours_rate:7.1f} req/s | kserve "
            f"ModelServer, plain joblib model {kserve_rate:7.1f} req/s"
        )
        figures.append(
            Figure(
                f"mlops serve, V1 {size} per request",
                ours_rate,
                "req/s",
                "kserve ModelServer, plain joblib model",
                kserve_rate,
                note="" if same else "the two servers answered differently",
            )
        )
    return figures


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=3.0, help="length of one measured round"
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds; the best counts")
    args = parser.parse_args(argv)
    print_table(run(args.seconds, args.rounds))


if __name__ == "__main__":
    main()

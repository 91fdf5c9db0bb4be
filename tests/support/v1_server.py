"""A model server on 127.0.0.1 that answers KServe's V1 predict protocol.

:class:`V1Server` answers ``POST /v1/models/<name>:predict`` with a function of the
request; :func:`predict_with` is the answer of KServe's stock sklearn runtime: the
request's ``instances`` become ``np.array(rows, dtype=object)`` and the model predicts.
Smoke requests and rollouts are tested against it, in process.
"""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

Answer = Callable[[str, dict[str, Any]], tuple[int, Any]]


class V1Server:
    """Answers ``POST /v1/models/<name>:predict`` with ``answer(name, body)``."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.bodies: list[Any] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                owner.bodies.append(body)
                prefix, suffix = "/v1/models/", ":predict"
                if self.path.startswith(prefix) and self.path.endswith(suffix):
                    code, payload = owner.answer(
                        self.path[len(prefix) : -len(suffix)], body
                    )
                else:
                    code, payload = 404, {"error": f"no route {self.path}"}
                data = (
                    payload
                    if isinstance(payload, bytes)
                    else json.dumps(payload).encode()
                )
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Keep test output quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> V1Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def predict_with(model: Any, method: str = "predict") -> Answer:
    """The stock sklearn runtime's answer: ``model.predict`` on an object array.

    ``method="predict_proba"`` answers as the runtime does with ``PREDICT_PROBA=true``.
    """

    def answer(name: str, body: dict[str, Any]) -> tuple[int, Any]:
        instances = np.array(body["instances"], dtype=object)
        with warnings.catch_warnings():
            # Fitted on a DataFrame, asked with an array: expected in the V1 form.
            warnings.filterwarnings("ignore", "X does not have valid feature names")
            predictions = getattr(model, method)(instances)
        return 200, {"predictions": predictions.tolist()}

    return answer

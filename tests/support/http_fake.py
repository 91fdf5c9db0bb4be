"""A threaded HTTP server on 127.0.0.1 that records every request it answers.

The base of the hand-written API fakes in ``kfp_fake.py`` and ``vertex_fake.py``: a
subclass answers in :meth:`FakeServer.handle`, and a test reads back the exact
requests the real client sent with :meth:`FakeServer.calls`.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

Response = tuple[int, Any]


@dataclass
class Recorded:
    """One request a fake server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body or b"null")


class FakeServer:
    """A threaded HTTP server on 127.0.0.1 that records requests."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                record = Recorded(
                    method=self.command,
                    path=unquote(split.path),
                    query=parse_qs(split.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                with fake._lock:
                    fake.requests.append(record)
                    status, payload = fake.handle(record)
                data = (
                    payload
                    if isinstance(payload, bytes)
                    else json.dumps(payload).encode()
                )
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def handle(self, request: Recorded) -> Response:
        return 404, {"error": {"code": 404, "message": "not found"}}

    def calls(self, method: str, pattern: str) -> list[Recorded]:
        """Recorded requests with this method whose path matches ``pattern``."""
        return [
            r
            for r in self.requests
            if r.method == method and re.search(pattern, r.path)
        ]

"""The sink's HTTP receiver, its flusher thread, and running it until a signal.

``POST /`` records one CloudEvent and answers 200 once it is on disk (400 for an
event that is not an inference event, 413 for a body too large, 503 when the journal
cannot take it); ``GET /healthz`` answers the buffered, pending and unpublished
counts.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mlops_suite.errors import MlopsError
from mlops_suite.monitoring.payloads.cloudevents import EventError, parse_cloudevent
from mlops_suite.monitoring.payloads.columns import load_model_columns
from mlops_suite.monitoring.payloads.inference import decode_event
from mlops_suite.monitoring.payloads.rows import RowBuilder
from mlops_suite.monitoring.sink.defaults import (
    DEFAULT_FLUSH_ROWS,
    DEFAULT_FLUSH_SECONDS,
    DEFAULT_HOST,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_PENDING,
    DEFAULT_PAIR_TIMEOUT_SECONDS,
    DEFAULT_PORT,
)
from mlops_suite.monitoring.sink.journal import (
    LogStore,
    SinkUnavailable,
    default_journal_dir,
)

logger = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
# The flusher looks at the clock at least this often.
_TICK_SECONDS = 1.0
# Keep-alive connections idle longer than this are closed.
_IDLE_SECONDS = 30.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sink: LogSink):
        self.sink = sink
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mlops-log-sink"
    timeout = _IDLE_SECONDS
    server: _Server

    def _answer(
        self, status: HTTPStatus, text: str = "", *, payload: Any = None
    ) -> None:
        if payload is not None:
            body = (json.dumps(payload) + "\n").encode("utf-8")
            kind = "application/json"
        else:
            body = (text + "\n").encode("utf-8") if text else b""
            kind = "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.split("?", 1)[0] == HEALTH_PATH:
            self._answer(HTTPStatus.OK, payload=self.server.sink.health())
        else:
            self._answer(HTTPStatus.NOT_FOUND, f"Not found: GET {HEALTH_PATH} only.")

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        sink = self.server.sink
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._answer(
                HTTPStatus.LENGTH_REQUIRED,
                "Chunked bodies are not supported; expected a Content-Length.",
            )
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > sink.max_body_bytes:
            self.close_connection = True
            self._answer(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE
                if length > 0
                else HTTPStatus.BAD_REQUEST,
                f"Body of {self.headers.get('Content-Length')} bytes refused; expected "
                f"a Content-Length up to {sink.max_body_bytes} bytes.",
            )
            return
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            return
        try:
            event = decode_event(
                parse_cloudevent(dict(self.headers.items()), body), datetime.now(UTC)
            )
            sink.store.record(event)
        except EventError as exc:
            logger.warning("Refused an event: %s", exc)
            self._answer(HTTPStatus.BAD_REQUEST, str(exc))
        except SinkUnavailable as exc:
            logger.error("%s", exc)
            self._answer(HTTPStatus.SERVICE_UNAVAILABLE, str(exc))
        except Exception as exc:  # a bug must cost one event, never the server
            logger.exception("Failed to record an event")
            self._answer(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                f"The event could not be recorded ({type(exc).__name__}).",
            )
        else:
            # KServe's agent treats any status but 200 as a failed delivery.
            self._answer(HTTPStatus.OK)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        logger.debug("%s " + format, self.address_string(), *args)


class LogSink:
    """The HTTP receiver in front of a :class:`LogStore`, with its flusher thread.

    Args:
        output_uri: Folder or fsspec URI the batch files go to.
        host: Address to listen on (``0.0.0.0`` in a container).
        port: Port; 0 picks a free one (see :attr:`url`).
        metadata_path: The model's ``metadata.json`` (or its folder) for feature
            names and types; ``None`` names positional values ``feature_<i>``.
        flush_rows: Flush once this many rows are ready.
        flush_seconds: Flush at least this often when anything is waiting.
        journal_dir: Local journal folder; default :func:`default_journal_dir`.
        pair_timeout_s: Seconds an event waits for its partner.
        max_pending: Events that may wait for their partner.
        max_body_bytes: Largest body accepted.
    """

    def __init__(
        self,
        output_uri: str | os.PathLike[str],
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        metadata_path: str | os.PathLike[str] | None = None,
        flush_rows: int = DEFAULT_FLUSH_ROWS,
        flush_seconds: float = DEFAULT_FLUSH_SECONDS,
        journal_dir: str | os.PathLike[str] | None = None,
        pair_timeout_s: float = DEFAULT_PAIR_TIMEOUT_SECONDS,
        max_pending: int = DEFAULT_MAX_PENDING,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ):
        for name, value in (
            ("flush_rows", flush_rows),
            ("max_pending", max_pending),
            ("max_body_bytes", max_body_bytes),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise MlopsError(f"{name} is {value!r}; expected a positive integer.")
        for name, seconds in (
            ("flush_seconds", flush_seconds),
            ("pair_timeout_s", pair_timeout_s),
        ):
            if not seconds > 0:
                raise MlopsError(f"{name} is {seconds!r}; expected a positive number.")
        self.output_uri = os.fspath(output_uri)
        self.host = host
        self.port = port
        self.flush_seconds = float(flush_seconds)
        self.max_body_bytes = max_body_bytes
        model = load_model_columns(metadata_path) if metadata_path else None
        self.store = LogStore(
            self.output_uri,
            journal_dir or default_journal_dir(self.output_uri),
            RowBuilder(model),
            flush_rows=flush_rows,
            pair_timeout_s=pair_timeout_s,
            max_pending=max_pending,
        )
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._last_flush = time.monotonic()

    @property
    def url(self) -> str:
        """The base URL the sink listens on, e.g. ``http://127.0.0.1:40123``."""
        if self._server is None:
            raise MlopsError("The sink is not started.")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def health(self) -> dict[str, Any]:
        """What ``GET /healthz`` answers: buffered, pending and unpublished counts."""
        return {
            "status": "ok",
            "buffered_rows": self.store.buffered_rows,
            "pending_events": self.store.pending_events,
            "unpublished_batches": len(self.store.outbox_files()),
            "last_error": self.store.last_error,
        }

    def start(self) -> None:
        """Recover the journal, then listen and flush in background threads.

        Raises:
            MlopsError: The journal is locked or unwritable, the output cannot be
                created, or the address cannot be bound.
        """
        replayed = self.store.open()
        if replayed:
            logger.info("Recovered %d journal events and flushed them.", replayed)
        try:
            self._server = _Server((self.host, self.port), self)
        except OSError as exc:
            self.store.close(flush=False)
            reason = (
                "address already in use"
                if exc.errno == errno.EADDRINUSE
                else exc.strerror
            )
            raise MlopsError(
                f"The sink cannot listen on {self.host}:{self.port} ({reason})."
            ) from None
        self._last_flush = time.monotonic()
        self._threads = [
            threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.2},
                name="log-sink-http",
                daemon=True,
            ),
            threading.Thread(
                target=self._flush_loop, name="log-sink-flush", daemon=True
            ),
        ]
        for thread in self._threads:
            thread.start()
        logger.info(
            "Log sink listening on %s, writing to %s (journal %s).",
            self.url,
            self.output_uri,
            self.store.journal,
        )

    def _flush_loop(self) -> None:
        while not self._stopping.is_set():
            self.store.wake.wait(timeout=min(_TICK_SECONDS, self.flush_seconds))
            self.store.wake.clear()
            if self._stopping.is_set():
                return
            since = time.monotonic() - self._last_flush
            try:
                if self.store.due(since, self.flush_seconds):
                    rows = self.store.flush()
                    self._last_flush = time.monotonic()
                    if rows:
                        logger.info("Flushed %d rows.", rows)
            except Exception as exc:  # retried at the next tick; the journal holds all
                self.store.last_error = f"{type(exc).__name__}: {exc}"
                logger.exception("Flush failed; retrying at the next tick")
                self._last_flush = time.monotonic()

    def stop(self, *, flush: bool = True) -> None:
        """Stop listening and flushing; then flush (unless ``flush`` is False).

        Args:
            flush: Write and publish what is buffered. ``False`` leaves it in the
                journal, as a crash would, for the next start to recover.
        """
        self._stopping.set()
        self.store.wake.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=30)
        self.store.close(flush=flush)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _log_to_stderr() -> None:
    """Prints the sink's own INFO records (its port, its flushes) on stderr.

    Only the suite's loggers: setting the root logger would also print every INFO
    record of botocore and s3fs. A program that configured logging keeps its own.
    """
    suite = logging.getLogger("mlops_suite")
    if suite.handlers or logging.getLogger().handlers:
        return
    handler = _StderrHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    suite.addHandler(handler)
    suite.setLevel(logging.INFO)


def run_sink(
    output_uri: str | os.PathLike[str],
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    metadata_path: str | os.PathLike[str] | None = None,
    flush_rows: int = DEFAULT_FLUSH_ROWS,
    flush_seconds: float = DEFAULT_FLUSH_SECONDS,
    journal_dir: str | os.PathLike[str] | None = None,
    pair_timeout_s: float = DEFAULT_PAIR_TIMEOUT_SECONDS,
) -> None:
    """Run the log sink until SIGTERM or SIGINT, then flush and return.

    Args:
        output_uri: Folder or fsspec URI for the Parquet batch files, e.g.
            ``s3://mlpipeline/logs/<model>/``.
        host: Address to listen on; ``0.0.0.0`` in a container.
        port: Port to listen on (0: any free port, logged at start).
        metadata_path: The served model's ``metadata.json`` (or folder), for
            feature names and types.
        flush_rows: Rows per batch file (at most).
        flush_seconds: Longest wait before buffered rows are written.
        journal_dir: Local journal folder; default :func:`default_journal_dir`.
        pair_timeout_s: Seconds a request waits for its response.

    Raises:
        MlopsError: The sink cannot start (journal locked, metadata unreadable,
            port taken).
    """
    _log_to_stderr()
    sink = LogSink(
        output_uri,
        host=host,
        port=port,
        metadata_path=metadata_path,
        flush_rows=flush_rows,
        flush_seconds=flush_seconds,
        journal_dir=journal_dir,
        pair_timeout_s=pair_timeout_s,
    )
    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGTERM, signal.SIGINT):
            previous[number] = signal.signal(number, lambda *_: stop.set())
    try:
        sink.start()
        try:
            while not stop.wait(timeout=0.5):
                pass
            logger.info("Stopping: flushing what is buffered.")
        finally:
            sink.stop(flush=True)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextmanager
def running_sink(
    output_uri: str | os.PathLike[str], **options: Any
) -> Iterator[LogSink]:
    """Run a sink on a free 127.0.0.1 port for the length of a ``with`` block.

    Args:
        output_uri: Folder or fsspec URI for the batch files.
        **options: Any :class:`LogSink` argument; ``host`` defaults to 127.0.0.1
            and ``port`` to 0 (a free port).

    Yields:
        The started sink; post events to ``sink.url``. On exit it stops and
        flushes.
    """
    options.setdefault("host", DEFAULT_HOST)
    options.setdefault("port", 0)
    sink = LogSink(output_uri, **options)
    sink.start()
    try:
        yield sink
    finally:
        sink.stop(flush=True)

"""Receive KServe's payload-logger events and store served traffic as Parquet batches.

The InferenceService's logger (``manifests/components/request-logger``) posts every
request and response to this sink as CloudEvents; :mod:`.payloads` pairs them by
request id into one row per instance (features and prediction), and the sink
appends the rows to Parquet batch files under an output folder or fsspec URI,
``<output>/batch-<UTC time>-<sequence>.parquet``, names that sort by time. Monitoring
reads that folder as its current data (``detect_drift(reference, "<output>")``);
:func:`read_logged` loads it as one DataFrame.

Durability: an event is answered 200 only once it is on disk. Each accepted event is
appended to a local journal segment and fsynced before the answer; nothing is
acknowledged that a crash could lose. Every ``flush_rows`` rows or ``flush_seconds``
seconds (and at shutdown) the sink flushes:

1. under the state lock it closes the current segment ``n`` and opens ``n + 1``,
   taking the finished rows and the events still waiting for their partner;
2. it writes the rows as ``outbox/batch-<time>-<n>.parquet`` (temporary name, fsync,
   rename), then the waiting events as ``carry-<n>.jsonl`` the same way. The carry
   file is the commit point: it holds everything segments ``<= n`` still owe, so
   they, and older carry files, are deleted;
3. committed outbox files are published to the output, complete files only: a
   temporary name then a rename on a local disk, one ``put`` on an object store,
   under the name fixed in step 2, so publishing again after a crash overwrites the
   same file instead of adding a duplicate. A file is removed from the outbox once
   published; when the store is unreachable it stays there and is retried at every
   flush.

On start the sink recovers before it listens: outbox files newer than the newest
carry file belong to a flush that never committed and are dropped (their segments
are still there), the newest carry file and the segments after it are replayed, the
result is flushed, and the outbox is published. So a crash at any point loses no
acknowledged event and publishes no row twice. A torn last journal line (a write cut
short by the crash, never acknowledged) is ignored.

Memory is bounded: rows wait for at most ``flush_rows`` rows or ``flush_seconds``
before a flush (events are refused with 503 when ten times that many are waiting
because flushes keep failing), at most ``max_pending`` events wait for a partner
(the oldest are then written without it), and bodies over ``max_body_bytes`` are
refused with 413. A request whose response has not come after ``pair_timeout_s``
seconds (KServe logs no response for a failed prediction) is written with an empty
prediction; so is every event still waiting at shutdown, since the journal may not
outlive the pod (its partner, if it comes to the next sink, is written alone too).

The journal is local: by default ``<output>/.journal`` for a local output (a hidden
folder that monitoring skips) and ``<tmp>/mlops-sink/<hash of the output>`` for an
object store; in the cluster it sits on the pod's ``emptyDir``, which survives
container restarts (and the sink flushes on SIGTERM before the pod goes). One sink
at a time may use a journal folder: it is locked while the sink runs.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import signal
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path
from typing import Any

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from mlops_suite.atomic import write_bytes
from mlops_suite.errors import DataError, MlopsError
from mlops_suite.monitoring.payloads import (
    RECEIVED_AT_COLUMN,
    REQUEST,
    REQUEST_ID_COLUMN,
    RESERVED_COLUMNS,
    ROW_COLUMN,
    EventError,
    LoggedEvent,
    RowBuilder,
    decode_event,
    load_model_columns,
    parse_cloudevent,
)
from mlops_suite.monitoring.sources import parquet_files

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_FLUSH_ROWS = 10_000
DEFAULT_FLUSH_SECONDS = 60.0
DEFAULT_PAIR_TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_PENDING = 50_000
DEFAULT_MAX_BODY_BYTES = 16 << 20
HEALTH_PATH = "/healthz"
BATCH_PREFIX = "batch-"
BATCH_SUFFIX = ".parquet"
JOURNAL_FOLDER = ".journal"
# Refuse events once this many flushes' worth of rows wait (flushes keep failing).
BUFFERED_FLUSHES = 10
# The flusher looks at the clock at least this often.
_TICK_SECONDS = 1.0
# Keep-alive connections idle longer than this are closed.
_IDLE_SECONDS = 30.0
_SEGMENT = re.compile(r"^segment-(\d{12})\.jsonl$")
_CARRY = re.compile(r"^carry-(\d{12})\.jsonl$")
_OUTBOX = re.compile(r"^batch-\d{8}T\d{12}Z-(\d{12})\.parquet$")
_LOCK_FILE = "LOCK"
_OUTBOX_FOLDER = "outbox"


class SinkUnavailable(MlopsError):
    """The sink cannot record an event now (shutting down, or its disk failed)."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _journal_line(event: LoggedEvent) -> bytes:
    """One journal (segment or carry file) line: compact JSON, newline-ended."""
    line = json.dumps(event.to_json(), separators=(",", ":"), allow_nan=False)
    return line.encode("utf-8") + b"\n"


def _utc_stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S%fZ")


def default_journal_dir(output_uri: str) -> Path:
    """Where the sink keeps its journal for an output, unless told otherwise.

    Args:
        output_uri: The output folder or fsspec URI.

    Returns:
        ``<output>/.journal`` for a local output (monitoring skips hidden
        folders), else ``<tmp>/mlops-sink/<sha256 of the URI, 16 hex>``: stable, so
        a restarted sink finds what its predecessor left.
    """
    fs, root = fsspec.core.url_to_fs(output_uri)
    if isinstance(fs, LocalFileSystem):
        return Path(root) / JOURNAL_FOLDER
    digest = hashlib.sha256(output_uri.encode("utf-8")).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "mlops-sink" / digest


class _Output:
    """The folder batch files are published to: a local path or an fsspec URI."""

    def __init__(self, uri: str):
        self.uri = uri
        try:
            self.fs, self.root = fsspec.core.url_to_fs(uri)
        except (ImportError, ValueError) as exc:
            raise MlopsError(
                f"Output {uri} cannot be opened ({exc}); expected a local folder or "
                "an fsspec URI such as s3://bucket/logs/model/."
            ) from None
        self.root = self.root.rstrip("/") or self.root
        self.local = isinstance(self.fs, LocalFileSystem)

    def prepare(self) -> None:
        if self.local:
            try:
                Path(self.root).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise MlopsError(
                    f"Output folder {self.root} cannot be created ({exc})."
                ) from None

    def publish(self, name: str, data: bytes) -> None:
        if self.local:
            write_bytes(Path(self.root) / name, data)
        else:
            # One PUT: an object store shows the whole object or nothing.
            self.fs.pipe_file(f"{self.root}/{name}", data)


class LogStore:
    """The journal, the pairing of events, and the flushes to Parquet.

    Args:
        output_uri: Folder or fsspec URI the batch files go to.
        journal_dir: Local folder of the journal (see :func:`default_journal_dir`).
        builder: Turns events into rows and rows into tables.
        flush_rows: Flush once this many rows are ready.
        pair_timeout_s: Seconds an event waits for its partner before it is written
            alone.
        max_pending: Events that may wait for a partner; past it the oldest is
            written alone.
    """

    def __init__(
        self,
        output_uri: str,
        journal_dir: str | os.PathLike[str],
        builder: RowBuilder,
        *,
        flush_rows: int = DEFAULT_FLUSH_ROWS,
        pair_timeout_s: float = DEFAULT_PAIR_TIMEOUT_SECONDS,
        max_pending: int = DEFAULT_MAX_PENDING,
    ):
        self.output = _Output(output_uri)
        self.journal = Path(journal_dir)
        self.outbox = self.journal / _OUTBOX_FOLDER
        self.builder = builder
        self.flush_rows = flush_rows
        self.pair_timeout_s = pair_timeout_s
        self.max_pending = max_pending
        self.wake = threading.Event()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._pending: OrderedDict[str, LoggedEvent] = OrderedDict()
        self._rows: list[dict[str, Any]] = []
        self._segment_no = 0
        self._segment_fd: int | None = None
        self._segment_size = 0
        self._events_since_flush = 0
        self._lock_fd: int | None = None
        self._closed = True
        self.last_error: str | None = None

    # ------------------------------------------------------------ opening, recovery
    def open(self) -> int:
        """Lock the journal, recover what a previous run left, and publish it.

        Returns:
            The number of journal events replayed.

        Raises:
            MlopsError: The journal is used by another sink, or cannot be written.
        """
        self.output.prepare()
        try:
            self.outbox.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.journal / _LOCK_FILE, os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            raise MlopsError(
                f"Journal folder {self.journal} cannot be written ({exc})."
            ) from None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise MlopsError(
                f"Journal folder {self.journal} is in use by another sink; expected "
                "one sink per journal (pass another journal folder)."
            ) from None
        try:
            replayed = self._recover()
            self._closed = False
            if replayed:
                self.flush()
            self.publish_outbox()
        except BaseException:
            self._release()
            raise
        return replayed

    def _numbered(self, folder: Path, pattern: re.Pattern[str]) -> dict[int, Path]:
        found = {}
        for path in folder.iterdir():
            match = pattern.match(path.name)
            if match:
                found[int(match.group(1))] = path
        return found

    def _recover(self) -> int:
        for stray in self.journal.glob(".*.tmp"):
            stray.unlink(missing_ok=True)
        for stray in self.outbox.glob(".*.tmp"):
            stray.unlink(missing_ok=True)
        carries = self._numbered(self.journal, _CARRY)
        segments = self._numbered(self.journal, _SEGMENT)
        committed = max(carries, default=-1)
        for number, path in self._numbered(self.outbox, _OUTBOX).items():
            if number > committed:
                # Written by a flush that crashed before its carry file: the rows
                # are still in the segments and are replayed below.
                path.unlink()
        events: list[LoggedEvent] = []
        if committed >= 0:
            events += self._read_journal(carries[committed])
        for number in sorted(segments):
            if number > committed:
                events += self._read_journal(segments[number])
        for event in events:
            self._apply(event)
        # Old segments stay until the next flush commits their replayed content.
        for number, path in carries.items():
            if number < committed:
                path.unlink()
        for number, path in segments.items():
            if number <= committed:
                path.unlink()
        self._segment_no = max([*carries, *segments, committed], default=-1) + 1
        self._open_segment(self._segment_no)
        self._events_since_flush = len(events)
        return len(events)

    def _read_journal(self, path: Path) -> list[LoggedEvent]:
        data = path.read_bytes()
        lines = data.split(b"\n")
        events = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                events.append(LoggedEvent.from_json(json.loads(line)))
            except (ValueError, KeyError, TypeError) as exc:
                if number == len(lines):
                    # The last line without its newline: a write the crash cut
                    # short, so it was never acknowledged.
                    logger.info("Ignoring the torn last line of %s.", path)
                else:
                    logger.warning(
                        "Skipping unreadable line %d of journal %s (%s).",
                        number,
                        path,
                        exc,
                    )
        return events

    # ------------------------------------------------------------ the journal
    def _open_segment(self, number: int) -> None:
        if self._segment_fd is not None:
            os.close(self._segment_fd)
        path = self.journal / f"segment-{number:012d}.jsonl"
        self._segment_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._segment_size = os.fstat(self._segment_fd).st_size
        self._segment_no = number
        _fsync_dir(self.journal)

    def _append(self, event: LoggedEvent) -> None:
        assert self._segment_fd is not None
        data = _journal_line(event)
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._segment_fd, view)
                view = view[written:]
            os.fsync(self._segment_fd)
        except OSError as exc:
            # Cut the partial line off, so the next event starts on a clean line.
            try:
                os.ftruncate(self._segment_fd, self._segment_size)
            except OSError:
                pass
            raise SinkUnavailable(
                f"The journal {self.journal} cannot be written ({exc}); the event was "
                "not recorded."
            ) from None
        self._segment_size += len(data)

    # ------------------------------------------------------------ recording
    def _apply(self, event: LoggedEvent) -> None:
        """Pair ``event`` with its waiting partner, or make it wait (lock held)."""
        partner = self._pending.pop(event.id, None)
        if partner is not None and partner.kind != event.kind:
            request, response = (
                (event, partner) if event.kind == REQUEST else (partner, event)
            )
            self._rows.extend(self.builder.rows(request, response))
            return
        if partner is not None:
            # The same id twice (a client reused Ce-Id): the first goes alone.
            self._rows.extend(self._alone(partner))
        self._pending[event.id] = event
        while len(self._pending) > self.max_pending:
            _, oldest = self._pending.popitem(last=False)
            self._rows.extend(self._alone(oldest))

    def _alone(self, event: LoggedEvent) -> list[dict[str, Any]]:
        if event.kind == REQUEST:
            return self.builder.rows(event, None)
        return self.builder.rows(None, event)

    def record(self, event: LoggedEvent) -> None:
        """Journal an event durably, then pair it; return only once it is on disk.

        Args:
            event: A decoded inference event.

        Raises:
            EventError: The event does not fit the model's features, or its
                predictions do not match its request's instances.
            SinkUnavailable: The sink is closed, too many rows wait for a flush, or
                the journal cannot be written.
        """
        self.builder.check(event)
        with self._lock:
            if self._closed:
                raise SinkUnavailable("The sink is shutting down; event not recorded.")
            if len(self._rows) >= BUFFERED_FLUSHES * self.flush_rows:
                raise SinkUnavailable(
                    f"{len(self._rows)} rows wait for a flush that keeps failing "
                    f"({self.last_error}); event not recorded."
                )
            partner = self._pending.get(event.id)
            if partner is not None and partner.kind != event.kind:
                request, response = (
                    (event, partner) if event.kind == REQUEST else (partner, event)
                )
                reason = self.builder.pair_error(request, response)
                if reason is not None:
                    raise EventError(reason)
            self._append(event)
            self._apply(event)
            self._events_since_flush += 1
            if len(self._rows) >= self.flush_rows:
                self.wake.set()

    # ------------------------------------------------------------ flushing
    def _expire(self, now: datetime, *, everything: bool = False) -> None:
        """Write alone the events that waited too long for a partner (lock held)."""
        while self._pending:
            event = next(iter(self._pending.values()))
            waited = (now - datetime.fromisoformat(event.received_at)).total_seconds()
            if waited < self.pair_timeout_s and not everything:
                break
            self._pending.popitem(last=False)
            self._rows.extend(self._alone(event))

    @property
    def buffered_rows(self) -> int:
        """Rows ready and waiting for the next flush."""
        return len(self._rows)

    @property
    def pending_events(self) -> int:
        """Events waiting for their partner."""
        return len(self._pending)

    def outbox_files(self) -> list[Path]:
        """Committed batch files not yet published, oldest first."""
        return sorted(self._numbered(self.outbox, _OUTBOX).values())

    def flush(self, *, final: bool = False) -> int:
        """Write the finished rows as one batch file and publish the outbox.

        Args:
            final: Also write the events still waiting for a partner, alone (at
                shutdown: the journal may not outlive the pod).

        Returns:
            The number of rows committed by this flush (0 when there was nothing).

        Raises:
            OSError: The journal folder cannot be written; the rows stay in memory
                and in the journal for the next flush.
        """
        with self._flush_lock:
            with self._lock:
                self._expire(datetime.now(UTC), everything=final)
                if not self._rows and not self._events_since_flush:
                    rows: list[dict[str, Any]] = []
                    number = None
                else:
                    number = self._segment_no
                    rows, self._rows = self._rows, []
                    carry = list(self._pending.values())
                    self._open_segment(number + 1)
                    self._events_since_flush = 0
            if number is not None:
                try:
                    self._commit(number, rows, carry)
                except BaseException:
                    with self._lock:
                        self._rows[:0] = rows
                        # The commit did not happen, so the segments still hold
                        # these events; make the next flush cover them again.
                        self._events_since_flush += 1
                    raise
            self.publish_outbox()
            return len(rows)

    def _commit(
        self, number: int, rows: list[dict[str, Any]], carry: list[LoggedEvent]
    ) -> None:
        outbox_file = None
        carry_file = self.journal / f"carry-{number:012d}.jsonl"
        try:
            if rows:
                name = f"{BATCH_PREFIX}{_utc_stamp(datetime.now(UTC))}-{number:012d}"
                outbox_file = self.outbox / f"{name}{BATCH_SUFFIX}"
                buffer = BytesIO()
                pq.write_table(self.builder.table(rows), buffer)
                write_bytes(outbox_file, buffer.getvalue())
                _fsync_dir(self.outbox)
            # The commit point: from here the carry file and the outbox stand for
            # every segment up to ``number``.
            self._write_carry(carry_file, carry)
        except BaseException:
            # Undo in reverse order, so a crash in between never leaves a carry
            # file without the batch it commits.
            carry_file.unlink(missing_ok=True)
            if outbox_file is not None:
                outbox_file.unlink(missing_ok=True)
            raise
        try:
            for path in self.journal.iterdir():
                segment = _SEGMENT.match(path.name)
                old_carry = _CARRY.match(path.name)
                if (segment and int(segment.group(1)) <= number) or (
                    old_carry and int(old_carry.group(1)) < number
                ):
                    path.unlink(missing_ok=True)
        except OSError as exc:  # committed already; recovery skips what is left
            logger.warning("Could not clean the journal %s (%s).", self.journal, exc)

    def _write_carry(self, path: Path, carry: list[LoggedEvent]) -> None:
        write_bytes(path, b"".join(_journal_line(event) for event in carry))
        _fsync_dir(self.journal)

    def publish_outbox(self) -> int:
        """Publish committed batch files to the output, oldest first.

        A file that cannot be published stays in the outbox for the next flush;
        the failure is logged and kept in :attr:`last_error`.

        Returns:
            The number of files published.
        """
        published = 0
        for path in self.outbox_files():
            try:
                self.output.publish(path.name, path.read_bytes())
            except Exception as exc:  # any store failure: keep the file, retry later
                self.last_error = f"{type(exc).__name__}: {exc}"
                logger.warning(
                    "Could not publish %s to %s (%s); it stays in %s and is retried "
                    "at the next flush.",
                    path.name,
                    self.output.uri,
                    self.last_error,
                    self.outbox,
                )
                break
            path.unlink()
            published += 1
        else:
            self.last_error = None
        return published

    def due(self, since_flush_s: float, flush_seconds: float) -> bool:
        """Whether a flush is due: enough rows, or time and something to write."""
        with self._lock:
            if len(self._rows) >= self.flush_rows:
                return True
            if since_flush_s < flush_seconds:
                return False
            work = self._rows or self._events_since_flush or self._pending
        return bool(work) or bool(self.outbox_files())

    # ------------------------------------------------------------ closing
    def close(self, *, flush: bool = True) -> None:
        """Stop recording; flush first unless ``flush`` is False (a simulated crash).

        Args:
            flush: Write and publish what is buffered, events still waiting for
                their partner included. Without it, what was acknowledged stays in
                the journal for the next start.
        """
        with self._lock:
            self._closed = True
        try:
            if flush:
                self.flush(final=True)
        finally:
            self._release()

    def _release(self) -> None:
        with self._lock:
            self._closed = True
            if self._segment_fd is not None:
                os.close(self._segment_fd)
                self._segment_fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # also drops the flock
            self._lock_fd = None


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
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
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


def read_logged(uri: str | os.PathLike[str]) -> pd.DataFrame:
    """Read every batch file the sink published into one DataFrame.

    The same files :func:`~mlops_suite.monitoring.detect_drift` reads when given
    the folder: ``*.parquet`` at any depth, hidden names (the journal) skipped.
    Rows still in the journal (not flushed yet) are not included.

    Args:
        uri: The sink's output folder (local or fsspec URI), or one batch file.

    Returns:
        The rows ordered by ``received_at``, ``request_id``, ``row``; the
        base columns only when no batch was written yet.

    Raises:
        DataError: The folder does not exist, or a batch file cannot be read.
    """
    text = os.fspath(uri)
    try:
        fs, root = fsspec.core.url_to_fs(text)
        exists = fs.exists(root)
    except (ImportError, ValueError, OSError) as exc:
        raise DataError(f"Logged data {text} cannot be opened ({exc}).") from None
    if not exists:
        raise DataError(
            f"Logged data {text} does not exist; expected the sink's output folder."
        )
    root = root.rstrip("/") or root
    files = [root] if fs.isfile(root) else parquet_files(fs, root)
    tables = []
    for path in files:
        try:
            with fs.open(path, "rb") as handle:
                tables.append(pq.read_table(handle))
        except (pa.ArrowException, OSError) as exc:
            raise DataError(
                f"Batch file {path} cannot be read ({exc}); expected a Parquet file "
                "written by the sink."
            ) from None
    if not tables:
        return pd.DataFrame(columns=list(RESERVED_COLUMNS))
    table = pa.concat_tables(tables, promote_options="permissive")
    frame = table.to_pandas()
    return frame.sort_values(
        [RECEIVED_AT_COLUMN, REQUEST_ID_COLUMN, ROW_COLUMN], kind="stable"
    ).reset_index(drop=True)


def add_sink_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flags of ``mlops sink`` to a parser (see :func:`run_sink_from_args`).

    Args:
        parser: The (sub)command's parser.
    """
    parser.add_argument(
        "--output",
        required=True,
        help="folder or fsspec URI of the Parquet batch files, e.g. "
        "s3://mlpipeline/logs/<model>/",
    )
    parser.add_argument(
        "--metadata",
        default=None,
        help="the served model's metadata.json (or folder): feature names and types",
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="listen address (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--flush-rows",
        type=int,
        default=DEFAULT_FLUSH_ROWS,
        help="most rows per batch file (default: %(default)s)",
    )
    parser.add_argument(
        "--flush-seconds",
        type=float,
        default=DEFAULT_FLUSH_SECONDS,
        help="longest wait before buffered rows are written (default: %(default)s)",
    )
    parser.add_argument(
        "--journal-dir",
        default=None,
        help="local journal folder (default: <output>/.journal, or a folder under "
        "the temporary directory for an object store)",
    )
    parser.add_argument(
        "--pair-timeout-seconds",
        type=float,
        default=DEFAULT_PAIR_TIMEOUT_SECONDS,
        help="how long a request waits for its response (default: %(default)s)",
    )


def run_sink_from_args(args: argparse.Namespace) -> None:
    """Run :func:`run_sink` with flags parsed by :func:`add_sink_arguments`.

    Args:
        args: The parsed flags.

    Raises:
        MlopsError: The sink cannot start.
    """
    run_sink(
        args.output,
        host=args.host,
        port=args.port,
        metadata_path=args.metadata,
        flush_rows=args.flush_rows,
        flush_seconds=args.flush_seconds,
        journal_dir=args.journal_dir,
        pair_timeout_s=args.pair_timeout_seconds,
    )


def _main(argv: list[str] | None = None) -> int:
    """``python -m mlops_suite.monitoring.sink``: what ``mlops sink`` runs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sink_arguments(parser)
    args = parser.parse_args(argv)
    try:
        run_sink_from_args(args)
    except MlopsError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())

"""The sink's durable journal, the pairing of events, and the flushes to Parquet.

An event is answered 200 only once it is on disk. Each accepted event is appended to
a local journal segment and fsynced before the answer; nothing is acknowledged that
a crash could lose. Every ``flush_rows`` rows or ``flush_seconds`` seconds (and at
shutdown) the sink flushes:

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

The journal is local: by default ``<output>/.journal`` for a local output (a hidden
folder that monitoring skips) and ``<tmp>/mlops-sink/<hash of the output>`` for an
object store; in the cluster it sits on the pod's ``emptyDir``, which survives
container restarts (and the sink flushes on SIGTERM before the pod goes). One sink
at a time may use a journal folder: it is locked while the sink runs.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import fsspec
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from mlops_suite.atomic import write_bytes
from mlops_suite.errors import MlopsError
from mlops_suite.monitoring.payloads.cloudevents import EventError
from mlops_suite.monitoring.payloads.inference import REQUEST, LoggedEvent
from mlops_suite.monitoring.payloads.rows import RowBuilder
from mlops_suite.monitoring.sink.defaults import (
    DEFAULT_FLUSH_ROWS,
    DEFAULT_MAX_PENDING,
    DEFAULT_PAIR_TIMEOUT_SECONDS,
)
from mlops_suite.monitoring.sink.output import BATCH_PREFIX, BATCH_SUFFIX, BatchOutput

logger = logging.getLogger(__name__)

JOURNAL_FOLDER = ".journal"
# Refuse events once this many flushes' worth of rows wait (flushes keep failing).
BUFFERED_FLUSHES = 10
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
        self.output = BatchOutput(output_uri)
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

"""Read the objects KServe's payload logger writes straight to object storage.

With ``spec.predictor.logger.url: s3://bucket/prefix`` (or ``gs://``, ``abfs://``) and
``logger.storage`` set, KServe's agent stores each request and each successful
response itself instead of posting CloudEvents to a sink (``pkg/logger/store.go``,
``BlobStore``). Every record is one object, at

``<prefix>/<namespace>/<inference service>/<component>/<storage.path>/<id>-<type>.json``

where ``<id>`` is the request id (the CloudEvent ``ce-id``, shared by a request and
its response) and ``<type>`` the last word of the CloudEvent type:
``org.kubeflow.serving.inference.request`` gives ``request``, ``...response`` gives
``response``. The object holds Go's ``json.Marshal`` of the agent's ``LogRequest``,
field names as Go spells them::

    {"Url": {...}, "Bytes": "<the payload, base64>", "ContentType": "...",
     "ReqType": "org.kubeflow.serving.inference.request", "Id": "<ce-id>",
     "SourceUri": {...}, "InferenceService": "...", "Namespace": "...",
     "Component": "predictor", "Endpoint": "...", "Metadata": {...},
     "Annotations": {...}, "CertName": "", "TlsSkipVerify": false}

``Bytes`` is the body exactly as the client sent it (or the model answered). When
the logger batches (``logger.batchSize`` above 1) an object holds a JSON array of such
records, named after its first, which need not share its id or type; so the type and
id of each record are read from ``ReqType`` and ``Id``, never from the object's name.
Nothing in a record says when it was logged: each row's ``received_at`` is its
object's last-modified time.

:func:`find_logged_objects` recognizes such a folder (KServe objects and no Parquet
batch of the sink); :func:`read_logged_objects` decodes every payload with the sink's
decoders (:mod:`.payloads`), pairs each request with its response by id and returns
the rows as one :class:`LoggerStoragePart`, in the sink's schema (``request_id``,
``row``, ``received_at``, ..., the features, ``prediction``, ``proba_<class>``).
A request without its response (a failed prediction, ``mode: request``) becomes rows
with an empty prediction and a response without its request rows with empty
features, as the sink writes them; both are counted. The objects are read once and
held as one Arrow table, so memory grows with the rows read (unlike the sink's
Parquet, which is read batch by batch).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

import fsspec
import pyarrow as pa

from mlops_suite.errors import DataError
from mlops_suite.monitoring.payloads.cloudevents import (
    REQUEST_TYPE,
    RESPONSE_TYPE,
    CloudEvent,
    EventError,
    load_json,
    shown_id,
)
from mlops_suite.monitoring.payloads.columns import ModelColumns
from mlops_suite.monitoring.payloads.inference import REQUEST, LoggedEvent, decode_event
from mlops_suite.monitoring.payloads.rows import RowBuilder
from mlops_suite.monitoring.sources import (
    PARQUET_SUFFIXES,
    Batch,
    Part,
    arrow_kind,
    describe_kind,
)

# <ce-id>-<type>.json, the name BlobStore gives each object (format json).
LOGGED_OBJECT = re.compile(r"^(?P<id>.+)-(?P<type>request|response)\.json$")
# Objects fetched at once: object stores answer many small reads best in parallel.
_FETCH = 256


@dataclass(frozen=True)
class LoggedObjects:
    """The KServe logger objects found under a folder.

    Attributes:
        label: The folder as the user gave it, for messages.
        fs: Its fsspec filesystem.
        paths: Each object's path on ``fs``, in path order.
        modified: Each object's last-modified time (UTC), by path.
    """

    label: str
    fs: Any
    paths: tuple[str, ...]
    modified: dict[str, datetime]

    def name(self, path: str) -> str:
        """How messages name one object: a URI when the folder was given as one."""
        if "://" not in self.label:
            return path
        protocol = self.fs.protocol
        scheme = protocol[0] if isinstance(protocol, tuple) else protocol
        return f"{scheme}://{path}"


@dataclass
class LoggerStoragePart(Part):
    """The rows of a folder of KServe logger objects, paired and held in memory.

    Attributes:
        table: The rows, in the sink's schema, ordered by the time they were logged.
        objects: How many objects were read.
        requests: How many request records they held.
        responses: How many response records they held.
        unpaired_requests: Requests whose response was not found (rows with an
            empty prediction).
        unpaired_responses: Responses whose request was not found (rows with empty
            features).
    """

    table: pa.Table = field(default_factory=pa.table, repr=False)
    objects: int = 0
    requests: int = 0
    responses: int = 0
    unpaired_requests: int = 0
    unpaired_responses: int = 0

    def names(self) -> list[str]:
        return list(self.table.column_names)

    def kinds(self, columns: Sequence[str]) -> dict[str, str | None]:
        return {
            name: arrow_kind(self.table.schema.field(name).type) for name in columns
        }

    def describe(self, column: str) -> str:
        data_type = self.table.schema.field(column).type
        return describe_kind(arrow_kind(data_type), data_type)

    def num_rows(self) -> int:
        return int(self.table.num_rows)

    def batches(self, columns: Sequence[str], batch_rows: int) -> Iterator[Batch]:
        selected = self.table.select(list(columns))
        for batch in selected.to_batches(max_chunksize=batch_rows):
            yield {name: batch.column(name) for name in columns}

    def summary(self) -> str:
        """One sentence: what was read, and what could not be paired."""
        return (
            f"KServe logger storage {self.label}: {_count(self.objects, 'object')}, "
            f"{_count(self.requests, 'request')} and "
            f"{_count(self.responses, 'response')}, "
            f"{_count(self.table.num_rows, 'row')}; unpaired: "
            f"{_count(self.unpaired_requests, 'request')} without a response (rows "
            f"with an empty prediction), {_count(self.unpaired_responses, 'response')} "
            "without a request (rows with empty features)."
        )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def find_logged_objects(source: str) -> LoggedObjects | None:
    """The KServe logger objects of a folder, when it is KServe's logger storage.

    Args:
        source: A local folder or an fsspec URI (``s3://bucket/prefix/ns/model``).

    Returns:
        The objects, or ``None`` when ``source`` is not a folder, holds Parquet
        batch files (the sink's output is read as Parquet), or holds no object
        named ``<id>-request.json`` or ``<id>-response.json``.
    """
    try:
        fs, root = fsspec.core.url_to_fs(source)
        # Object-store clients cache listings per process; new objects keep coming.
        fs.invalidate_cache()
        if not fs.isdir(root):
            return None
        found = fs.find(root, detail=True)
    except (ImportError, ValueError, OSError):
        # open_parts says what is wrong with the source, in its own words.
        return None
    if any(
        PurePosixPath(path).suffix.lower() in PARQUET_SUFFIXES
        and not _hidden(PurePosixPath(path).relative_to(PurePosixPath(root)))
        for path in found
    ):
        return None
    return _logged(fs, root, found, source)


def logged_objects(fs: Any, root: str, label: str) -> LoggedObjects | None:
    """The KServe logger objects under a folder, or ``None`` when there are none.

    Args:
        fs: The folder's fsspec filesystem.
        root: The folder's path on ``fs``.
        label: The folder as the user gave it.

    Returns:
        Every ``<id>-request.json``/``<id>-response.json`` object at any depth
        (none under a folder whose name starts with ``.`` or ``_``), or ``None``.
    """
    return _logged(fs, root, fs.find(root, detail=True), label)


def _logged(
    fs: Any, root: str, found: dict[str, Any], label: str
) -> LoggedObjects | None:
    paths = []
    for path, info in found.items():
        relative = PurePosixPath(path).relative_to(PurePosixPath(root))
        if info.get("type", "file") != "file" or _hidden(relative.parent):
            continue
        if LOGGED_OBJECT.match(relative.name):
            paths.append(path)
    if not paths:
        return None
    paths.sort()
    return LoggedObjects(
        label=label,
        fs=fs,
        paths=tuple(paths),
        modified={path: _modified(found[path]) for path in paths},
    )


def _hidden(relative: PurePosixPath) -> bool:
    return any(part.startswith((".", "_")) for part in relative.parts)


def _modified(info: dict[str, Any]) -> datetime:
    """An object's last-modified time, from what its filesystem's listing says."""
    for key in ("LastModified", "mtime", "updated", "last_modified", "created"):
        value = info.get(key)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    # A store that reports no time: the rows are still read, stamped when read.
    return datetime.now(UTC)


def read_logged_objects(
    found: LoggedObjects, model: ModelColumns | None = None
) -> LoggerStoragePart:
    """Decode, pair and tabulate the records of KServe logger objects.

    Args:
        found: The objects (:func:`find_logged_objects`).
        model: The served model's features, task and classes (from its
            ``metadata.json``); ``None`` when unknown, which works only for named
            instances (V1 objects, V2 one input per column).

    Returns:
        The rows, with the counts of records and of unpaired requests and responses.

    Raises:
        DataError: An object cannot be read, is not JSON, or holds a record that is
            not a KServe inference request or response of this model; a response
            answers another number of instances than its request; or the instances
            are positional and no model names them. The sentence names the object.
    """
    builder = RowBuilder(model)
    requests: dict[str, list[tuple[LoggedEvent, str]]] = {}
    responses: dict[str, list[tuple[LoggedEvent, str]]] = {}
    order: dict[str, int] = {}
    for path, record in _records(found):
        name = found.name(path)
        event = _event(record, name, found.modified[path])
        try:
            builder.check(event)
        except EventError as error:
            raise _unreadable(name, error) from None
        if model is None and event.kind == REQUEST and event.columns is None:
            raise DataError(
                f"KServe logger object {name} holds positional instances (request "
                f"'{shown_id(event.id)}'), which only the served model's metadata "
                "can name; give the model (mlops monitor --registry and "
                "--model-name, or its metadata.json as --reference)"
            )
        side = requests if event.kind == REQUEST else responses
        side.setdefault(event.id, []).append((event, name))
        order.setdefault(event.id, len(order))

    units: list[tuple[datetime, int, LoggedEvent | None, LoggedEvent | None]] = []
    unpaired_requests = unpaired_responses = 0
    for event_id, position in order.items():
        asked = requests.get(event_id, [])
        answered = responses.get(event_id, [])
        # Pairs in the order logged; a client that reuses an id gets one pair each.
        for index in range(max(len(asked), len(answered))):
            request = asked[index] if index < len(asked) else None
            response = answered[index] if index < len(answered) else None
            if request is not None and response is not None:
                reason = builder.pair_error(request[0], response[0])
                if reason is not None:
                    raise DataError(
                        f"KServe logger objects {request[1]} and {response[1]} do "
                        f"not pair ({reason.rstrip('.')})"
                    )
            elif request is not None:
                unpaired_requests += 1
            else:
                unpaired_responses += 1
            first = request or response
            assert first is not None
            units.append(
                (
                    datetime.fromisoformat(first[0].received_at),
                    position,
                    request[0] if request else None,
                    response[0] if response else None,
                )
            )
    units.sort(key=lambda unit: (unit[0], unit[1]))
    rows = [
        row for _, _, asked, answered in units for row in builder.rows(asked, answered)
    ]
    return LoggerStoragePart(
        label=found.label,
        table=builder.table(rows),
        objects=len(found.paths),
        requests=sum(len(events) for events in requests.values()),
        responses=sum(len(events) for events in responses.values()),
        unpaired_requests=unpaired_requests,
        unpaired_responses=unpaired_responses,
    )


def _records(found: LoggedObjects) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every record of every object, in path order, fetched a few hundred at once."""
    for start in range(0, len(found.paths), _FETCH):
        paths = list(found.paths[start : start + _FETCH])
        try:
            contents = found.fs.cat(paths, on_error="return")
        except (OSError, ValueError) as error:
            raise DataError(
                f"KServe logger storage {found.label} cannot be read ({error})"
            ) from None
        for path in paths:
            raw = contents.get(path)
            name = found.name(path)
            if not isinstance(raw, bytes):
                raise DataError(
                    f"KServe logger object {name} cannot be read ({raw}); expected "
                    "an object the logger wrote"
                )
            try:
                loaded = json.loads(raw)
            except (UnicodeDecodeError, ValueError) as error:
                raise DataError(
                    f"KServe logger object {name} is not JSON ({error}); expected "
                    "the logger's records (storage parameter format: json)"
                ) from None
            records = loaded if isinstance(loaded, list) else [loaded]
            if not records or not all(isinstance(item, dict) for item in records):
                raise DataError(
                    f"KServe logger object {name} holds {_shape(loaded)}; expected "
                    "a logged record (a JSON object) or a batch of them (an array "
                    "of objects)"
                )
            for record in records:
                yield path, record


def _shape(value: Any) -> str:
    if isinstance(value, list):
        return "an empty array" if not value else "an array of other values"
    return f"a JSON {type(value).__name__}"


def _event(record: dict[str, Any], name: str, received_at: datetime) -> LoggedEvent:
    """One logged record as the sink's decoders see a CloudEvent of the same event."""
    # Go's decoder matches field names whatever their case; so does this one.
    fields = {str(key).lower(): value for key, value in record.items()}
    event_id = fields.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise DataError(
            f"KServe logger object {name} holds a record without an 'Id'; expected "
            "the request id (ce-id) of a logged request or response"
        )
    shown = shown_id(event_id)
    event_type = fields.get("reqtype")
    if event_type not in (REQUEST_TYPE, RESPONSE_TYPE):
        raise DataError(
            f"KServe logger object {name} holds record '{shown}' of type "
            f"{event_type!r}; expected {REQUEST_TYPE} or {RESPONSE_TYPE}"
        )
    encoded = fields.get("bytes")
    try:
        if not isinstance(encoded, str):
            raise ValueError("no payload")
        payload = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise DataError(
            f"KServe logger object {name} holds record '{shown}' whose 'Bytes' is "
            f"{_described(encoded)}; expected the payload, base64-encoded"
        ) from None
    try:
        data = (
            load_json(payload, f"The payload of record '{shown}'") if payload else None
        )
        if data is None:
            raise EventError(f"Record '{shown}' has an empty payload.")
        event = CloudEvent(
            id=event_id,
            type=str(event_type),
            source=name,
            extensions={
                key: str(fields[field_name])
                for key, field_name in (
                    ("inferenceservicename", "inferenceservice"),
                    ("namespace", "namespace"),
                    ("component", "component"),
                    ("endpoint", "endpoint"),
                )
                if isinstance(fields.get(field_name), str) and fields[field_name]
            },
            data=data,
        )
        return decode_event(event, received_at)
    except EventError as error:
        raise _unreadable(name, error) from None


def _described(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, str):
        return "not base64"
    return f"a JSON {type(value).__name__}"


def _unreadable(name: str, error: EventError) -> DataError:
    return DataError(
        f"KServe logger object {name} is not an inference event the monitor can "
        f"read ({str(error).rstrip('.')})"
    )

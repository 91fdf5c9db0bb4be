"""Objects written the way KServe's logger writes them to storage, for the tests.

KServe's agent (``pkg/logger``) with ``logger.url: s3://bucket/prefix`` and
``logger.storage`` stores each request and each successful response itself:
``BlobStore.getObjectKey`` names the object

``<prefix>/<namespace>/<inference service>/<component>/<storage.path>/<id>-<type>.json``

(Go's ``path.Join`` of the non-empty parts; ``<type>`` is the last word of the
CloudEvent type), and the JSON marshaller writes ``json.Marshal`` of the
``LogRequest``: Go's field names, ``Bytes`` (a ``*[]byte``) as base64, and the two
``*url.URL`` fields as structs (``url.URL`` has no JSON or text marshaller). A batch
of one record is that object; a larger batch (``logger.batchSize``) an array of
them, named after its first record. :class:`LoggerStorage` writes exactly that, with
fsspec, under a folder standing for the logger URL.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import fsspec
from fsspec.implementations.local import LocalFileSystem

from mlops_suite.monitoring.payloads.cloudevents import REQUEST_TYPE, RESPONSE_TYPE


def go_url(text: str) -> dict[str, Any]:
    """``json.Marshal`` of a Go ``*url.URL`` parsed from ``text``."""
    parts = urlsplit(text)
    return {
        "Scheme": parts.scheme,
        "Opaque": "",
        "User": None,
        "Host": parts.netloc,
        "Path": parts.path,
        "RawPath": "",
        "OmitHost": False,
        "ForceQuery": False,
        "RawQuery": parts.query,
        "Fragment": parts.fragment,
        "RawFragment": "",
    }


def go_path_join(*parts: str) -> str:
    """Go's ``path.Join``: the non-empty parts joined by ``/``, then cleaned."""
    joined = "/".join(part for part in parts if part)
    rooted = joined.startswith("/")
    kept: list[str] = []
    for piece in joined.split("/"):
        if piece in ("", "."):
            continue
        if piece == ".." and kept and kept[-1] != "..":
            kept.pop()
        elif piece != ".." or not rooted:
            kept.append(piece)
    cleaned = "/".join(kept)
    return f"/{cleaned}" if rooted else cleaned


@dataclass
class LoggerStorage:
    """KServe's agent storing one InferenceService's traffic under ``url``.

    Attributes:
        url: The folder standing for ``logger.url`` (a local path or fsspec URI).
        namespace: The InferenceService's namespace.
        inference_service: Its name.
        component: The logging component.
        storage_path: ``logger.storage.path``.
        batch_size: Records per object (``logger.batchSize``).
        endpoint: The ``endpoint`` the agent was given.
    """

    url: str
    namespace: str = "kubeflow"
    inference_service: str = "penguins"
    component: str = "predictor"
    storage_path: str = ""
    batch_size: int = 1
    endpoint: str = ""
    written: list[str] = field(default_factory=list)
    _batch: list[dict[str, Any]] = field(default_factory=list)

    @property
    def folder(self) -> str:
        """Where this InferenceService's objects are: what monitoring reads."""
        return f"{self.url.rstrip('/')}/{self.namespace}/{self.inference_service}"

    def record(self, kind: str, event_id: str, payload: Any) -> dict[str, Any]:
        """The ``LogRequest`` the agent makes of one request or response body."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return {
            "Url": go_url(self.url),
            "Bytes": base64.b64encode(body).decode(),
            "ContentType": "application/json",
            "ReqType": REQUEST_TYPE if kind == "request" else RESPONSE_TYPE,
            "Id": event_id,
            "SourceUri": go_url(f"{self.inference_service}-predictor-7d4b9"),
            "InferenceService": self.inference_service,
            "Namespace": self.namespace,
            "Component": self.component,
            "Endpoint": self.endpoint,
            "Metadata": {},
            "Annotations": None,
            "CertName": "",
            "TlsSkipVerify": False,
        }

    def key(self, record: dict[str, Any]) -> str:
        """``BlobStore.getObjectKey`` below the URL's prefix."""
        prefix = go_path_join(
            record["Namespace"],
            record["InferenceService"],
            record["Component"],
            self.storage_path,
        )
        kind = record["ReqType"].rsplit(".", 1)[1]
        return f"{prefix}/{record['Id']}-{kind}.json"

    def log(self, kind: str, event_id: str, payload: Any) -> None:
        """Log one request or response; an object is written when a batch fills."""
        self._batch.append(self.record(kind, event_id, payload))
        if len(self._batch) >= self.batch_size:
            self.flush()

    def log_pair(self, event_id: str, request: Any, response: Any) -> None:
        """Log a request and its response."""
        self.log("request", event_id, request)
        self.log("response", event_id, response)

    def flush(self) -> None:
        """Write the records waiting in the batch as one object."""
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        document: Any = batch[0] if len(batch) == 1 else batch
        # Go's encoder writes compact JSON.
        self.write(self.key(batch[0]), json.dumps(document, separators=(",", ":")))

    def write(self, key: str, text: str | bytes) -> None:
        """Put one object below the URL, as the storage provider uploads it."""
        target = f"{self.url.rstrip('/')}/{key}"
        data = text.encode() if isinstance(text, str) else text
        fs, path = fsspec.core.url_to_fs(target)
        if isinstance(fs, LocalFileSystem):
            fs.makedirs(fs._parent(path), exist_ok=True)
        fs.pipe_file(path, data)
        self.written.append(target)

"""A Kubernetes API server on 127.0.0.1 that knows one resource: InferenceServices.

Hand-written, and kept only for fault injection: a real kube-apiserver with etcd runs
in the tests (tests/support/kube_apiserver.py, the ``apiserver`` tier) and covers the
normal deploy paths; this fake answers the 409/500/503 replies, never-Ready versions,
failed loads and missing-KServe cases a real server cannot be made to produce.

The real ``kubernetes`` client talks to it over HTTP exactly as to a cluster, under
``/apis/serving.kserve.io/v1beta1/namespaces/<ns>/inferenceservices[/<name>[/status]]``:

- ``GET`` an object or the list; a missing object is a ``404`` ``Status`` object.
- ``POST`` creates (``409 AlreadyExists`` when it exists).
- ``PATCH`` with ``application/apply-patch+yaml`` is server-side apply: create or merge,
  ``fieldManager`` required, fields owned per manager (a manager's apply that omits a
  field it applied before removes it; a field another manager set differently is a
  ``409 Conflict`` unless ``force=true``). ``application/merge-patch+json`` merges.
  Other patch types answer ``415``.
- ``PUT`` replaces (``409 Conflict`` on a stale ``metadata.resourceVersion``).
- ``DELETE`` removes and answers a ``Success`` ``Status``.
- ``/status`` reads and writes the status subresource only; writes to the object
  itself ignore ``status``, as for a CRD with a status subresource.

``metadata.generation`` moves only when the spec changes and ``resourceVersion`` only
when something changes, so an identical apply is visibly a no-op. A spec change leaves
the previous status in place (``observedGeneration`` behind), as KServe does until it
reconciles. The "controller" acts on reads: after :attr:`FakeKube.ready_after` reads of
the object since its last spec change, the status becomes Ready with ``url``,
``address.url`` and, in Serverless mode, revisions and a traffic split that honours
``canaryTrafficPercent`` (a change of only that field makes no new revision).

Test hooks: :attr:`FakeKube.never_ready` (storage URIs that never become Ready),
:attr:`FakeKube.failing` (storage URIs whose load fails, reported the way KServe does),
:meth:`FakeKube.fail_next` (answer the next requests with an error ``Status``),
:attr:`FakeKube.serve_url` (the URL reported as ``status.url``/``address.url``), and
:attr:`FakeKube.requests` (every request: method, path, query, content type, body).
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml
from kubernetes import client as k8s

GROUP = "serving.kserve.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "InferenceService"
PLURAL = "inferenceservices"
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
TAG_ROUTING_ANNOTATION = "serving.kserve.io/enable-tag-routing"

_PATH = re.compile(
    rf"^/apis/{re.escape(GROUP)}/{VERSION}/namespaces/(?P<namespace>[^/]+)/{PLURAL}"
    r"(?:/(?P<name>[^/]+)(?P<status>/status)?)?/?$"
)
_REASONS = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}
_PHRASES = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

FieldPath = tuple[str, ...]
_NOW = "2024-01-01T00:00:00Z"


@dataclass(frozen=True)
class Recorded:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    body: Any

    @property
    def is_write(self) -> bool:
        return self.method in {"POST", "PUT", "PATCH", "DELETE"}


@dataclass
class _Entry:
    obj: dict[str, Any]
    owners: dict[str, set[FieldPath]] = field(default_factory=dict)
    settled: bool = False
    reads: int = 0
    revision: int = 1
    revisions: dict[str, str | None] = field(default_factory=dict)
    rolled_out: str | None = None


class _ApiError(Exception):
    def __init__(self, code: int, message: str, name: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.name = name


class FakeKube:
    """The fake API server; use as a context manager so it stops by itself."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._objects: dict[tuple[str, str], _Entry] = {}
        self._versions = itertools.count(1001)
        # [status code, methods or None, requests to skip first, times left]
        self._faults: list[list[Any]] = []
        self._clients: list[k8s.ApiClient] = []
        self.requests: list[Recorded] = []
        # Reads of an object after a spec change before the "controller" acts on it.
        self.ready_after = 1
        self.never_ready: set[str] = set()
        self.failing: dict[str, str] = {}
        self.serve_url: str | None = None
        self.domain = "example.com"
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )

    # Lifecycle -----------------------------------------------------------------

    def __enter__(self) -> FakeKube:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for api_client in self._clients:
            api_client.close()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def client(self) -> k8s.CustomObjectsApi:
        """A real ``CustomObjectsApi`` pointed at this server (closed at exit)."""
        configuration = k8s.Configuration()
        configuration.host = self.url
        api_client = k8s.ApiClient(configuration)
        self._clients.append(api_client)
        return k8s.CustomObjectsApi(api_client)

    def write_kubeconfig(self, path: Path, context: str = "fake") -> Path:
        """A kubeconfig whose ``context`` points at this server."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "not-a-secret"}}],
            "contexts": [
                {"name": context, "context": {"cluster": "fake", "user": "tester"}}
            ],
            "current-context": context,
        }
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return path

    # Test hooks ------------------------------------------------------------------

    def fail_next(
        self,
        code: int,
        times: int = 1,
        methods: set[str] | None = None,
        skip: int = 0,
    ) -> None:
        """Answer ``times`` requests (of ``methods``) with an error Status.

        The first ``skip`` matching requests are served normally before that.
        """
        with self._lock:
            self._faults.append(
                [code, frozenset(methods) if methods else None, skip, times]
            )

    def put(
        self, obj: dict[str, Any], *, ready: bool = True, manager: str = "kubectl"
    ) -> None:
        """Store an object as if created earlier (not recorded as a request)."""
        with self._lock:
            entry = self._create(copy.deepcopy(obj), manager)
            if ready:
                self._settle(entry)

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored object (a copy), without counting as a controller read."""
        with self._lock:
            entry = self._objects.get((namespace, name))
            return copy.deepcopy(entry.obj) if entry else None

    def traffic(self, namespace: str, name: str) -> dict[str | None, int]:
        """Percent of traffic per storage URI, from the Serverless status."""
        with self._lock:
            entry = self._objects[(namespace, name)]
            predictor = (
                entry.obj.get("status", {}).get("components", {}).get("predictor")
            )
            shares: dict[str | None, int] = {}
            for target in (predictor or {}).get("traffic", []):
                uri = entry.revisions.get(target["revisionName"])
                shares[uri] = shares.get(uri, 0) + int(target["percent"])
            return shares

    def writes(self) -> list[Recorded]:
        """The requests that could change something."""
        with self._lock:
            return [r for r in self.requests if r.is_write]

    # Request handling ------------------------------------------------------------

    def handle(
        self, method: str, target: str, content_type: str | None, raw: bytes
    ) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query))
        body = _decode(raw)
        with self._lock:
            self.requests.append(
                Recorded(method, parts.path, query, content_type, body)
            )
            match = _PATH.match(parts.path)
            try:
                fault = self._take_fault(method)
                if fault is not None:
                    raise _ApiError(fault, "injected by the test")
                if match is None:
                    raise _ApiError(404, f"the server could not find {parts.path}")
                namespace, name = match["namespace"], match["name"]
                if name is None:
                    return self._collection(method, namespace, query, body)
                if match["status"]:
                    return self._status(method, namespace, name, content_type, body)
                return self._item(method, namespace, name, query, content_type, body)
            except _ApiError as err:
                name = match["name"] if match else None
                return err.code, _status_object(err.code, str(err), err.name or name)

    def _take_fault(self, method: str) -> int | None:
        for fault in self._faults:
            code, methods, skip, times = fault
            if methods is not None and method not in methods:
                continue
            if skip > 0:
                fault[2] = skip - 1
                return None
            fault[3] = times - 1
            if fault[3] <= 0:
                self._faults.remove(fault)
            return int(code)
        return None

    def _collection(
        self, method: str, namespace: str, query: dict[str, str], body: Any
    ) -> tuple[int, dict[str, Any]]:
        if method == "GET":
            items = [
                copy.deepcopy(e.obj)
                for (ns, _), e in sorted(self._objects.items())
                if ns == namespace
            ]
            return 200, {
                "apiVersion": API_VERSION,
                "kind": f"{KIND}List",
                "metadata": {"resourceVersion": str(next(self._versions))},
                "items": items,
            }
        if method == "POST":
            obj = self._checked(body, namespace, None)
            name = obj["metadata"]["name"]
            if (namespace, name) in self._objects:
                raise _ApiError(409, f'{PLURAL}.{GROUP} "{name}" already exists')
            entry = self._create(obj, query.get("fieldManager", "unknown"))
            return 201, copy.deepcopy(entry.obj)
        raise _ApiError(405, f"method {method} is not allowed on a collection")

    def _item(
        self,
        method: str,
        namespace: str,
        name: str,
        query: dict[str, str],
        content_type: str | None,
        body: Any,
    ) -> tuple[int, dict[str, Any]]:
        entry = self._objects.get((namespace, name))
        if method == "GET":
            if entry is None:
                raise _ApiError(404, f'{PLURAL}.{GROUP} "{name}" not found')
            self._controller_read(entry)
            return 200, copy.deepcopy(entry.obj)
        if method == "DELETE":
            if entry is None:
                raise _ApiError(404, f'{PLURAL}.{GROUP} "{name}" not found')
            del self._objects[(namespace, name)]
            done = _status_object(200, "", name)
            done.update(status="Success", details={"name": name, "group": GROUP})
            return 200, done
        if method == "PUT":
            if entry is None:
                raise _ApiError(404, f'{PLURAL}.{GROUP} "{name}" not found')
            obj = self._checked(body, namespace, name)
            sent = obj["metadata"].get("resourceVersion")
            if sent is not None and sent != entry.obj["metadata"]["resourceVersion"]:
                raise _ApiError(
                    409,
                    f'Operation cannot be fulfilled on {PLURAL}.{GROUP} "{name}": the '
                    "object has been modified; please apply your changes to the latest "
                    "version and try again",
                )
            manager = query.get("fieldManager", "unknown")
            new = _fields(obj)
            entry.owners = {m: p - set(_leaves(new)) for m, p in entry.owners.items()}
            entry.owners[manager] = set(_leaves(new))
            self._commit(entry, new)
            return 200, copy.deepcopy(entry.obj)
        if method == "PATCH":
            return self._patch(entry, namespace, name, query, content_type, body)
        raise _ApiError(405, f"method {method} is not allowed")

    def _patch(
        self,
        entry: _Entry | None,
        namespace: str,
        name: str,
        query: dict[str, str],
        content_type: str | None,
        body: Any,
    ) -> tuple[int, dict[str, Any]]:
        kind = (content_type or "").split(";")[0].strip()
        force = query.get("force", "").lower() in {"true", "1", "t"}
        if kind != APPLY and "force" in query:
            raise _ApiError(
                422, "force: Forbidden: may not be specified for non-apply patch"
            )
        if kind == MERGE:
            if entry is None:
                raise _ApiError(404, f'{PLURAL}.{GROUP} "{name}" not found')
            if not isinstance(body, dict):
                raise _ApiError(400, "the merge patch is not a JSON object")
            new = _fields(_merge(copy.deepcopy(entry.obj), body))
            merger = query.get("fieldManager", "unknown")
            entry.owners.setdefault(merger, set()).update(_leaves(_fields(body)))
            self._commit(entry, new)
            return 200, copy.deepcopy(entry.obj)
        if kind != APPLY:
            raise _ApiError(
                415,
                f"the body of the request was in an unknown format ({kind!r}); "
                f"this fake accepts {APPLY} and {MERGE}",
            )
        manager = query.get("fieldManager")
        if not manager:
            raise _ApiError(
                422, "PATCH: fieldManager: Required value: is required for apply patch"
            )
        obj = self._checked(body, namespace, name)
        applied = _fields(obj)
        if entry is None:
            created = self._create(obj, manager)
            return 201, copy.deepcopy(created.obj)
        paths = _leaves(applied)
        current = _leaves(_fields(entry.obj))
        conflicts = sorted(
            (other, path)
            for other, owned in entry.owners.items()
            if other != manager
            for path in owned & set(paths)
            if current.get(path) != paths[path]
        )
        if conflicts and not force:
            listed = ", ".join(
                f'conflict with "{m}": .{".".join(p)}' for m, p in conflicts
            )
            raise _ApiError(
                409, f"Apply failed with {len(conflicts)} conflicts: {listed}"
            )
        for other, path in conflicts:
            entry.owners[other].discard(path)
        new = _fields(entry.obj)
        for path, value in paths.items():
            _set(new, path, copy.deepcopy(value))
        dropped = entry.owners.get(manager, set()) - set(paths)
        still_owned = set().union(
            *(owned for other, owned in entry.owners.items() if other != manager)
        )
        for path in dropped - still_owned:
            _delete(new, path)
        entry.owners[manager] = set(paths)
        self._commit(entry, new)
        return 200, copy.deepcopy(entry.obj)

    def _status(
        self,
        method: str,
        namespace: str,
        name: str,
        content_type: str | None,
        body: Any,
    ) -> tuple[int, dict[str, Any]]:
        entry = self._objects.get((namespace, name))
        if entry is None:
            raise _ApiError(404, f'{PLURAL}.{GROUP} "{name}" not found')
        if method == "GET":
            return 200, copy.deepcopy(entry.obj)
        if method in {"PUT", "PATCH"} and isinstance(body, dict):
            status = body.get("status") or {}
            if method == "PATCH":
                status = _merge(copy.deepcopy(entry.obj.get("status") or {}), status)
            entry.obj["status"] = status
            entry.obj["metadata"]["resourceVersion"] = str(next(self._versions))
            # A status written by the test stands until the next spec change.
            entry.settled = True
            return 200, copy.deepcopy(entry.obj)
        raise _ApiError(405, f"method {method} is not allowed on status")

    # Object bookkeeping ------------------------------------------------------------

    def _checked(self, body: Any, namespace: str, name: str | None) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _ApiError(400, "the request body is not an object")
        if body.get("apiVersion") != API_VERSION or body.get("kind") != KIND:
            raise _ApiError(
                400,
                f"apiVersion and kind must be {API_VERSION} {KIND}, got "
                f"{body.get('apiVersion')!r} {body.get('kind')!r}",
            )
        metadata = body.get("metadata") or {}
        given = metadata.get("name")
        if name is not None and given not in (None, name):
            raise _ApiError(
                400,
                f"the name of the object ({given}) does not match the name on the URL "
                f"({name})",
            )
        if metadata.get("namespace") not in (None, namespace):
            raise _ApiError(
                400,
                f"the namespace of the object ({metadata['namespace']}) does not match "
                f"the namespace on the request ({namespace})",
            )
        obj = copy.deepcopy(body)
        obj.setdefault("metadata", {})["name"] = given or name
        obj["metadata"]["namespace"] = namespace
        if not obj["metadata"]["name"]:
            raise _ApiError(422, "metadata.name: Required value: name is required")
        return obj

    def _create(self, obj: dict[str, Any], manager: str) -> _Entry:
        fields = _fields(obj)
        metadata = fields["metadata"]
        metadata["generation"] = 1
        metadata["resourceVersion"] = str(next(self._versions))
        metadata["uid"] = f"uid-{metadata['namespace']}-{metadata['name']}"
        metadata["creationTimestamp"] = _NOW
        entry = _Entry(obj=fields, owners={manager: set(_leaves(_fields(obj)))})
        entry.revisions[self._revision_name(entry)] = _storage_uri(fields)
        self._objects[(metadata["namespace"], metadata["name"])] = entry
        return entry

    def _commit(self, entry: _Entry, new: dict[str, Any]) -> None:
        """Store ``new`` labels/annotations/spec; bump versions only on a change."""
        old = _fields(entry.obj)
        if _strip(new) == _strip(old):
            return
        metadata = entry.obj["metadata"]
        if new.get("spec") != old.get("spec"):
            metadata["generation"] = int(metadata.get("generation", 1)) + 1
            routing_only = _without_canary(new.get("spec")) == _without_canary(
                old.get("spec")
            )
            if not routing_only:
                entry.revision += 1
                entry.revisions[self._revision_name(entry)] = _storage_uri(new)
            entry.settled = False
            entry.reads = 0
        for key in ("labels", "annotations"):
            if new["metadata"].get(key):
                metadata[key] = new["metadata"][key]
            else:
                metadata.pop(key, None)
        entry.obj["spec"] = new.get("spec", {})
        metadata["resourceVersion"] = str(next(self._versions))

    def _controller_read(self, entry: _Entry) -> None:
        if entry.settled:
            return
        entry.reads += 1
        if entry.reads >= self.ready_after:
            self._settle(entry)

    def _settle(self, entry: _Entry) -> None:
        """Act as KServe's controller on the current generation."""
        obj = entry.obj
        metadata, spec = obj["metadata"], obj.get("spec") or {}
        name, namespace = metadata["name"], metadata["namespace"]
        uri = _storage_uri(obj)
        serverless = (metadata.get("annotations") or {}).get(MODE_ANNOTATION) in {
            "Serverless",
            "Knative",
        }
        status: dict[str, Any] = copy.deepcopy(obj.get("status") or {})
        status["observedGeneration"] = metadata["generation"]
        if uri in self.failing:
            message = self.failing[uri]
            status["conditions"] = [
                _condition(kind, "False", "RevisionFailed", message)
                for kind in ("PredictorReady", "Ready")
            ]
            status["modelStatus"] = {
                "transitionStatus": "BlockedByFailedLoad",
                "states": {"activeModelState": "FailedToLoad"},
                "lastFailureInfo": {"reason": "ModelLoadFailed", "message": message},
            }
        elif uri in self.never_ready:
            status["conditions"] = [
                _condition(
                    kind,
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.",
                )
                for kind in ("PredictorReady", "Ready")
            ]
            status["modelStatus"] = {
                "transitionStatus": "InProgress",
                "states": {
                    "activeModelState": "Pending",
                    "targetModelState": "Loading",
                },
            }
        else:
            status["conditions"] = [
                _condition(kind, "True")
                for kind in ("IngressReady", "PredictorReady", "Ready")
            ]
            status["modelStatus"] = {
                "transitionStatus": "UpToDate",
                "states": {"activeModelState": "Loaded", "targetModelState": "Loaded"},
            }
            internal = (
                f"http://{name}.{namespace}.svc.cluster.local"
                if serverless
                else f"http://{name}-predictor.{namespace}.svc.cluster.local"
            )
            status["url"] = self.serve_url or f"http://{name}-{namespace}.{self.domain}"
            status["address"] = {"url": self.serve_url or internal}
            status["components"] = {
                "predictor": self._predictor_status(entry, spec, serverless)
            }
        obj["status"] = status
        metadata["resourceVersion"] = str(next(self._versions))
        entry.settled = True

    def _predictor_status(
        self, entry: _Entry, spec: dict[str, Any], serverless: bool
    ) -> dict[str, Any]:
        metadata = entry.obj["metadata"]
        name, namespace = metadata["name"], metadata["namespace"]
        if not serverless:
            return {"url": f"http://{name}-predictor-{namespace}.{self.domain}"}
        latest = self._revision_name(entry)
        canary = (spec.get("predictor") or {}).get("canaryTrafficPercent")
        previous = entry.rolled_out
        if canary is None or canary >= 100 or previous is None or previous == latest:
            traffic = [{"latestRevision": True, "percent": 100, "revisionName": latest}]
            entry.rolled_out = latest
        else:
            new = {"latestRevision": True, "percent": canary, "revisionName": latest}
            old = {
                "latestRevision": False,
                "percent": 100 - canary,
                "revisionName": previous,
            }
            traffic = [{**new, "tag": "latest"}, {**old, "tag": "prev"}]
        if (metadata.get("annotations") or {}).get(TAG_ROUTING_ANNOTATION) == "true":
            for target in traffic:
                tag = target.get("tag", "latest")
                # Where the test's model server listens, when it set one.
                target["url"] = (
                    self.serve_url
                    or f"http://{tag}-{name}-predictor.{namespace}.{self.domain}"
                )
        return {
            "latestCreatedRevision": latest,
            "latestReadyRevision": latest,
            "latestRolledoutRevision": entry.rolled_out,
            "traffic": traffic,
            "url": f"http://{name}-predictor-{namespace}.{self.domain}",
        }

    def _revision_name(self, entry: _Entry) -> str:
        return f"{entry.obj['metadata']['name']}-predictor-{entry.revision:05d}"


def _handler(fake: FakeKube) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            code, payload = fake.handle(
                self.command, self.path, self.headers.get("Content-Type"), raw
            )
            data = json.dumps(payload).encode("utf-8")
            self.send_response(code, _PHRASES.get(code))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Keep test output quiet."""

    return Handler


def _condition(
    kind: str, status: str, reason: str | None = None, message: str | None = None
) -> dict[str, Any]:
    condition = {"type": kind, "status": status, "lastTransitionTime": _NOW}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def _status_object(code: int, message: str, name: str | None) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": _REASONS.get(code, "Unknown"),
        "details": {"name": name, "group": GROUP, "kind": PLURAL},
        "code": code,
    }


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8")
    try:
        return json.loads(text)
    except ValueError:
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            return text


def _fields(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without status (a subresource), as stored."""
    kept = copy.deepcopy({k: v for k, v in obj.items() if k != "status"})
    kept.setdefault("metadata", {})
    kept.setdefault("spec", {})
    return kept


def _strip(obj: dict[str, Any]) -> dict[str, Any]:
    """Labels, annotations and spec: what a write can change."""
    metadata = obj.get("metadata") or {}
    return {
        "labels": metadata.get("labels") or {},
        "annotations": metadata.get("annotations") or {},
        "spec": obj.get("spec") or {},
    }


def _leaves(obj: dict[str, Any]) -> dict[FieldPath, Any]:
    """Owned leaf fields (lists are atomic) of labels, annotations and spec."""
    out: dict[FieldPath, Any] = {}

    def walk(value: Any, path: FieldPath) -> None:
        if isinstance(value, dict) and value:
            for key, item in value.items():
                walk(item, (*path, str(key)))
        elif not isinstance(value, dict):
            out[path] = value

    metadata = obj.get("metadata") or {}
    walk(metadata.get("labels") or {}, ("metadata", "labels"))
    walk(metadata.get("annotations") or {}, ("metadata", "annotations"))
    walk(obj.get("spec") or {}, ("spec",))
    return out


def _set(obj: dict[str, Any], path: FieldPath, value: Any) -> None:
    node = obj
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value


def _delete(obj: dict[str, Any], path: FieldPath) -> None:
    parents: list[tuple[dict[str, Any], str]] = []
    node = obj
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            return
        parents.append((node, key))
        node = child
    node.pop(path[-1], None)
    # Prune the maps the removal left empty, as server-side apply does, but keep the
    # top-level metadata and spec.
    while not node and len(parents) > 1:
        parent, key = parents.pop()
        del parent[key]
        node = parent


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = target if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


def _storage_uri(obj: dict[str, Any]) -> str | None:
    model = ((obj.get("spec") or {}).get("predictor") or {}).get("model") or {}
    uri = model.get("storageUri")
    return str(uri) if uri else None


def _without_canary(spec: Any) -> Any:
    trimmed = copy.deepcopy(spec or {})
    (trimmed.get("predictor") or {}).pop("canaryTrafficPercent", None)
    return trimmed


def iter_patch_bodies(fake: FakeKube) -> Iterator[dict[str, Any]]:
    """The bodies of the server-side apply requests, in order."""
    for request in fake.writes():
        if request.method == "PATCH" and request.content_type == APPLY:
            yield request.body

"""Fakes for the submission tests: KFP and Vertex AI REST APIs on 127.0.0.1.

The real clients (``kfp.Client``, ``aiplatform.PipelineJob``, ``Model``, ``Endpoint``)
talk to small threaded HTTP servers that record every request, so tests assert on
the exact bodies a real backend would receive. Every unmarked test also runs with:

* a socket guard that refuses any connection or name lookup off the loopback
  interface (nothing may leave 127.0.0.1), and
* an isolated Google environment: no ADC file, no GOOGLE_APPLICATION_CREDENTIALS,
  and the GCE metadata probe pointed at a local server that answers 404.

Tests marked ``kind`` or ``vertex`` talk to real targets and skip both.
"""

import errno
import ipaddress
import itertools
import json
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

PROJECT = "demo-project"
PROJECT_NUMBER = "123456789012"
REGION = "us-central1"
SERVICE_ACCOUNT = "runner@demo-project.iam.gserviceaccount.com"
PIPELINE_NAME = "tiny-pipeline"
# Type URL prefix of Vertex AI v1 messages packed in long-running operation results.
V1_TYPES = "type.googleapis.com/google.cloud.aiplatform.v1"

Response = tuple[int, Any]


# ---------------------------------------------------------------- tiny pipelines


def _compile(tmp: Path, name: str, build: Callable[[], Any]) -> Path:
    from kfp import compiler

    path = tmp / f"{name}.yaml"
    compiler.Compiler().compile(build(), str(path))
    return path


def _tiny_pipeline() -> Any:
    from kfp import dsl

    @dsl.component(base_image="python:3.11-slim")
    def make_message(message: str, scale: float) -> str:
        return f"{message} x{scale}"

    @dsl.component(base_image="python:3.11-slim")
    def shout(text: str) -> str:
        return text.upper()

    @dsl.pipeline(name=PIPELINE_NAME)
    def tiny(message: str, scale: float = 1.0):
        made = make_message(message=message, scale=scale)
        shout(text=made.output)

    return tiny


def _typed_pipeline() -> Any:
    from kfp import dsl

    @dsl.component(base_image="python:3.11-slim")
    def echo(
        text: str, ratio: float, count: int, flag: bool, config: dict, items: list
    ) -> str:
        return f"{text}{ratio}{count}{flag}{config}{items}"

    @dsl.pipeline(name="typed-pipeline")
    def typed(
        text: str = "a",
        ratio: float = 0.5,
        count: int = 1,
        flag: bool = False,
        config: dict = {"k": 1},  # noqa: B006 - a compiled default, never mutated
        items: list = [1],  # noqa: B006 - a compiled default, never mutated
    ):
        echo(text=text, ratio=ratio, count=count, flag=flag, config=config, items=items)

    return typed


def _kubernetes_pipeline() -> Any:
    from kfp import dsl, kubernetes

    @dsl.component(base_image="python:3.11-slim")
    def hello(message: str) -> str:
        return message

    @dsl.pipeline(name="k8s-pipeline")
    def k8s(message: str = "hi"):
        task = hello(message=message)
        kubernetes.set_image_pull_secrets(task, ["regcred"])

    return k8s


def _big_machine_pipeline() -> Any:
    from kfp import dsl

    @dsl.component(base_image="python:3.11-slim")
    def crunch(message: str) -> str:
        return message

    @dsl.pipeline(name="big-machine")
    def big(message: str = "hi"):
        crunch(message=message).set_cpu_limit("128").set_memory_limit("1000G")

    return big


@pytest.fixture(scope="session")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Compiled pipeline files: tiny (str + float params), typed, k8s, big machine."""
    tmp = tmp_path_factory.mktemp("pipelines")
    return {
        "tiny": _compile(tmp, "tiny", _tiny_pipeline),
        "typed": _compile(tmp, "typed", _typed_pipeline),
        "k8s": _compile(tmp, "k8s", _kubernetes_pipeline),
        "big": _compile(tmp, "big", _big_machine_pipeline),
    }


@pytest.fixture
def tiny_yaml(compiled: dict[str, Path]) -> Path:
    """The tiny two-step pipeline: ``message: str`` (required), ``scale: float``."""
    return compiled["tiny"]


# ------------------------------------------------------------------ fake servers


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


def _error(code: int, status: str, message: str) -> Response:
    return code, {"error": {"code": code, "status": status, "message": message}}


class FakeKfp(FakeServer):
    """The KFP v2beta1 REST API: healthz, experiments, runs (spec sent inline)."""

    def __init__(self) -> None:
        self.experiments: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        # States returned by successive GET /runs/{id}; the last one repeats.
        self.run_states: list[str] = ["SUCCEEDED"]
        self.refuse_runs: str | None = None
        super().__init__()

    def add_experiment(self, name: str) -> str:
        experiment_id = str(uuid.uuid4())
        self.experiments[experiment_id] = {
            "experiment_id": experiment_id,
            "display_name": name,
            "storage_state": "AVAILABLE",
        }
        return experiment_id

    def handle(self, request: Recorded) -> Response:
        route = (request.method, request.path)
        if route == ("GET", "/apis/v2beta1/healthz"):
            return 200, {"multi_user": False}
        if route == ("GET", "/apis/v2beta1/experiments"):
            wanted = None
            if "filter" in request.query:
                predicates = json.loads(request.query["filter"][0])["predicates"]
                wanted = next(
                    p["stringValue"] for p in predicates if p["key"] == "display_name"
                )
            found = [
                e
                for e in self.experiments.values()
                if wanted is None or e["display_name"] == wanted
            ]
            return 200, (
                {"experiments": found, "total_size": len(found)} if found else {}
            )
        if route == ("POST", "/apis/v2beta1/experiments"):
            experiment_id = self.add_experiment(request.json["display_name"])
            return 200, self.experiments[experiment_id]
        if route == ("POST", "/apis/v2beta1/runs"):
            if self.refuse_runs:
                return 400, {
                    "error": self.refuse_runs,
                    "code": 3,
                    "message": self.refuse_runs,
                }
            run_id = str(uuid.uuid4())
            self.runs[run_id] = {**request.json, "run_id": run_id, "state": "PENDING"}
            return 200, self.runs[run_id]
        match = re.fullmatch(r"/apis/v2beta1/runs/([^/]+)", request.path)
        if request.method == "GET" and match and match.group(1) in self.runs:
            state = (
                self.run_states.pop(0)
                if len(self.run_states) > 1
                else self.run_states[0]
            )
            self.runs[match.group(1)]["state"] = state
            return 200, self.runs[match.group(1)]
        return 404, {"error": "not found", "code": 5, "message": f"no route {route}"}


class FakeVertex(FakeServer):
    """Vertex AI v1 REST (pipeline jobs, metadata, models, endpoints, operations),
    the OAuth token endpoint, and the Cloud Storage bucket lookup.

    Every Vertex call must carry a bearer token this server can verify: a JWT signed
    by the test service account's key, or a token it issued or was told about.
    """

    def __init__(self, public_pem: bytes | None = None) -> None:
        self.public_pem = public_pem
        self.accepted_tokens: set[str] = set()
        self.pipeline_jobs: dict[str, dict[str, Any]] = {}
        self.job_states: list[str] = ["PIPELINE_STATE_SUCCEEDED"]
        self.contexts: dict[str, dict[str, Any]] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.fail_next: Response | None = None
        self._ids = itertools.count(1001)
        super().__init__()

    def refuse_next(
        self, message: str, code: int = 400, status: str = "INVALID_ARGUMENT"
    ) -> None:
        """Answer the next authorized Vertex call with this API error."""
        self.fail_next = _error(code, status, message)

    # -- auth
    def _authorized(self, request: Recorded) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return False
        token = header.removeprefix("Bearer ")
        if token in self.accepted_tokens:
            return True
        if self.public_pem is None or token.count(".") != 2:
            return False
        from google.auth import jwt

        try:
            jwt.decode(token, certs=self.public_pem, verify=True, audience=None)
        except ValueError:
            return False
        return True

    def _token(self, request: Recorded) -> Response:
        form = parse_qs(request.body.decode())
        from google.auth import jwt

        try:
            jwt.decode(
                form["assertion"][0],
                certs=self.public_pem,
                verify=True,
                audience=f"{self.url}/token",
            )
        except (KeyError, ValueError):
            return 400, {"error": "invalid_grant"}
        token = f"ya29.fake-{next(self._ids)}"
        self.accepted_tokens.add(token)
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    # -- helpers
    def _operation(self, parent: str, response: dict[str, Any]) -> Response:
        name = f"{parent}/operations/{next(self._ids)}"
        self.operations[name] = {"name": name, "done": True, "response": response}
        return 200, {"name": name, "done": False}

    def handle(self, request: Recorded) -> Response:
        path, method = request.path, request.method
        if path == "/token" and method == "POST":
            return self._token(request)
        bucket = re.fullmatch(r"/storage/v1/b/([^/]+)", path)
        if bucket:
            return 200, {
                "name": bucket.group(1),
                "kind": "storage#bucket",
                "projectNumber": PROJECT_NUMBER,
            }
        if not self._authorized(request):
            return _error(401, "UNAUTHENTICATED", "missing or invalid bearer token")
        if self.fail_next is not None:
            failure, self.fail_next = self.fail_next, None
            return failure
        path = re.sub(r"^/(v1|v1beta1|ui)/", "", path)
        for pattern, handler in self._routes():
            match = re.fullmatch(pattern, f"{method} {path}")
            if match:
                return handler(request, *match.groups())
        return _error(404, "NOT_FOUND", f"fake Vertex has no route {method} {path}")

    def _routes(self) -> list[tuple[str, Callable[..., Response]]]:
        loc = r"(projects/[^/]+/locations/[^/]+)"
        return [
            (
                r"GET projects/-/serviceAccounts/[^/]+/allowedLocations",
                lambda r: (200, {"locations": [], "encodedLocations": "0x0"}),
            ),
            (rf"POST {loc}/pipelineJobs", self._create_job),
            (rf"GET ({loc}/pipelineJobs/[^/]+)", self._get_job),
            (rf"GET ({loc}/metadataStores/default)", self._get_store),
            (rf"GET ({loc}/metadataStores/default/contexts/[^/:]+)", self._get_context),
            (rf"POST ({loc}/metadataStores/default)/contexts", self._create_context),
            (
                rf"POST ({loc}/metadataStores/default/contexts/[^/:]+)"
                r":addContextChildren",
                lambda r, name, _loc: (200, {}),
            ),
            (r"GET (.+/operations/[^/]+)", self._get_operation),
            (rf"POST {loc}/models:upload", self._upload_model),
            (rf"GET ({loc}/models/[^/@]+)(?:@([^/]+))?", self._get_model),
            (rf"GET {loc}/endpoints", self._list_endpoints),
            (rf"POST {loc}/endpoints", self._create_endpoint),
            (rf"GET ({loc}/endpoints/[^/:]+)", self._get_endpoint),
            (rf"POST ({loc}/endpoints/[^/:]+):deployModel", self._deploy_model),
        ]

    # -- pipeline jobs
    def _create_job(self, request: Recorded, parent: str) -> Response:
        job_id = request.query["pipelineJobId"][0]
        job = {
            **request.json,
            "name": f"{parent}/pipelineJobs/{job_id}",
            "state": "PIPELINE_STATE_PENDING",
            "createTime": "2024-05-01T12:00:00Z",
        }
        self.pipeline_jobs[job["name"]] = job
        return 200, job

    def _get_job(self, request: Recorded, name: str, parent: str) -> Response:
        if name not in self.pipeline_jobs:
            return _error(404, "NOT_FOUND", f"{name} not found")
        job = self.pipeline_jobs[name]
        job["state"] = (
            self.job_states.pop(0) if len(self.job_states) > 1 else self.job_states[0]
        )
        run_context = (
            f"{parent}/metadataStores/default/contexts/{name.rsplit('/', 1)[1]}"
        )
        job["jobDetail"] = {
            "pipelineRunContext": {
                "name": run_context,
                "schemaTitle": "system.PipelineRun",
            }
        }
        return 200, job

    # -- metadata (Vertex AI Experiments)
    def _get_store(self, request: Recorded, name: str, parent: str) -> Response:
        return 200, {"name": name}

    def _get_context(self, request: Recorded, name: str, parent: str) -> Response:
        if name in self.contexts:
            return 200, self.contexts[name]
        return _error(404, "NOT_FOUND", f"{name} not found")

    def _create_context(self, request: Recorded, store: str, parent: str) -> Response:
        name = f"{store}/contexts/{request.query['contextId'][0]}"
        self.contexts[name] = {**request.json, "name": name}
        return 200, self.contexts[name]

    def _get_operation(self, request: Recorded, name: str) -> Response:
        if name not in self.operations:
            return _error(404, "NOT_FOUND", f"{name} not found")
        return 200, self.operations[name]

    # -- models
    def _upload_model(self, request: Recorded, parent: str) -> Response:
        body = request.json
        if body.get("parentModel"):
            name = body["parentModel"]
            if name not in self.models:
                return _error(404, "NOT_FOUND", f"{name} not found")
        else:
            name = f"{parent}/models/{body.get('modelId') or next(self._ids)}"
            if name in self.models:
                return _error(409, "ALREADY_EXISTS", f"{name} already exists")
            self.models[name] = {"versions": {}}
        version = str(len(self.models[name]["versions"]) + 1)
        self.models[name]["versions"][version] = {
            **body["model"],
            "name": name,
            "versionId": version,
            "supportedDeploymentResourcesTypes": ["DEDICATED_RESOURCES"],
        }
        return self._operation(
            name,
            {
                "@type": f"{V1_TYPES}.UploadModelResponse",
                "model": name,
                "modelVersionId": version,
            },
        )

    def _get_model(
        self, request: Recorded, name: str, parent: str, version: str | None
    ) -> Response:
        versions = self.models.get(name, {}).get("versions", {})
        wanted = version or str(len(versions))  # no version: the newest one
        if wanted not in versions:
            return _error(404, "NOT_FOUND", f"{name}@{version} not found")
        return 200, versions[wanted]

    # -- endpoints
    def _list_endpoints(self, request: Recorded, parent: str) -> Response:
        wanted = re.search(
            r'display_name="([^"]*)"', request.query.get("filter", [""])[0]
        )
        found = [
            e
            for e in self.endpoints.values()
            if wanted is None or e["displayName"] == wanted.group(1)
        ]
        return 200, {"endpoints": found}

    def _create_endpoint(self, request: Recorded, parent: str) -> Response:
        name = f"{parent}/endpoints/{next(self._ids)}"
        self.endpoints[name] = {
            **request.json,
            "name": name,
            "deployedModels": [],
            "trafficSplit": {},
        }
        return self._operation(
            name,
            {
                "@type": f"{V1_TYPES}.Endpoint",
                **self.endpoints[name],
            },
        )

    def _get_endpoint(self, request: Recorded, name: str, parent: str) -> Response:
        if name not in self.endpoints:
            return _error(404, "NOT_FOUND", f"{name} not found")
        return 200, self.endpoints[name]

    def _deploy_model(self, request: Recorded, name: str, parent: str) -> Response:
        endpoint = self.endpoints[name]
        deployed = {**request.json["deployedModel"], "id": str(next(self._ids))}
        endpoint["deployedModels"].append(deployed)
        split = {
            (deployed["id"] if key == "0" else key): value
            for key, value in request.json.get("trafficSplit", {}).items()
        }
        endpoint["trafficSplit"] = split
        return self._operation(
            name,
            {
                "@type": f"{V1_TYPES}.DeployModelResponse",
                "deployedModel": deployed,
            },
        )


class FakeMetadataServer(FakeServer):
    """Stands in for the GCE metadata server: always 404, never "Metadata-Flavor"."""


# --------------------------------------------------------------------- fixtures


def _is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _real_target(request: pytest.FixtureRequest) -> bool:
    return any(request.node.get_closest_marker(m) for m in ("kind", "vertex"))


@pytest.fixture(autouse=True)
def loopback_only(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[Any]]:
    """Refuse every connection and name lookup that would leave 127.0.0.1."""
    attempts: list[Any] = []
    if _real_target(request):
        yield attempts
        return
    for proxy in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(proxy, raising=False)
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(address: Any) -> None:
        if isinstance(address, tuple) and not _is_loopback(str(address[0])):
            attempts.append(address)
            raise OSError(errno.ENETUNREACH, f"test guard: {address} is not loopback")

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_loopback(
            str(host.decode() if isinstance(host, bytes) else host)
        ):
            attempts.append(host)
            raise socket.gaierror(
                socket.EAI_NONAME, f"test guard: {host} is not loopback"
            )
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    # gRPC resolves and connects in C, out of reach of the socket module: guard the
    # places every gRPC channel is made.
    import grpc
    from google.api_core import grpc_helpers

    def guard_channel(make: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(target: str, *args: Any, **kwargs: Any) -> Any:
            host = re.sub(r"^[a-z]+:(//)?", "", str(target)).rsplit(":", 1)[0]
            if not _is_loopback(host.strip("[]")):
                attempts.append(target)
                raise OSError(errno.ENETUNREACH, f"test guard: gRPC to {target}")
            return make(target, *args, **kwargs)

        return guarded

    for module, name in (
        (grpc_helpers, "create_channel"),
        (grpc, "secure_channel"),
        (grpc, "insecure_channel"),
    ):
        monkeypatch.setattr(module, name, guard_channel(getattr(module, name)))
    yield attempts
    assert not attempts, f"the test tried to leave 127.0.0.1: {attempts}"


@pytest.fixture(scope="session")
def metadata_server() -> Iterator[FakeMetadataServer]:
    server = FakeMetadataServer()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def isolated_google_env(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    metadata_server: FakeMetadataServer,
) -> FakeMetadataServer:
    """No ADC anywhere; the GCE metadata probe goes to a local 404 server."""
    if _real_target(request):
        return metadata_server
    for name in (
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GOOGLE_CLOUD_PROJECT",
        "GCLOUD_PROJECT",
        "STORAGE_EMULATOR_HOST",
        "KF_PIPELINES_ENDPOINT",
        "KF_PIPELINES_UI_ENDPOINT",
        "KF_PIPELINES_DEFAULT_EXPERIMENT_NAME",
        "KF_PIPELINES_OVERRIDE_EXPERIMENT_NAME",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud-config"))
    local = metadata_server.url.removeprefix("http://")
    for name in ("GCE_METADATA_HOST", "GCE_METADATA_ROOT", "GCE_METADATA_IP"):
        monkeypatch.setenv(name, local)
    from google.auth.compute_engine import _metadata

    # google-auth reads the metadata host once at import time, and trusts the DMI
    # product name on GCE VMs; pin both so the probe stays local and deterministic.
    monkeypatch.setattr(_metadata, "_GCE_METADATA_HOST", local)
    monkeypatch.setattr(_metadata, "_GCE_PRODUCT_NAME_FILE", str(tmp_path / "no-dmi"))
    metadata_server.requests.clear()
    return metadata_server


@pytest.fixture
def fake_kfp() -> Iterator[FakeKfp]:
    server = FakeKfp()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def signing_key() -> tuple[bytes, bytes]:
    """An RSA key pair (private PKCS8 PEM, public PEM) for the fake service account."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


USER_TOKEN = "ya29.user-access-token"


@pytest.fixture
def fake_vertex(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    isolated_google_env: FakeMetadataServer,
) -> Iterator[FakeVertex]:
    """A fake Vertex AI, and user credentials found the ordinary ADC way.

    The credentials file is what ``gcloud auth application-default login`` writes,
    plus a live access token so google-auth needs no refresh (a refresh of user
    credentials always goes to Google). GOOGLE_APPLICATION_CREDENTIALS names it, so
    google.auth.default() finds it; Cloud Storage calls go to the same fake.
    """
    from google.cloud.aiplatform.utils import resource_manager_utils

    server = FakeVertex()
    server.accepted_tokens.add(USER_TOKEN)
    # Before submitting, the SDK checks that the pipeline root's bucket belongs to
    # the project, asking Resource Manager for the project number over gRPC at its
    # public endpoint (api_endpoint does not apply). The fake answers instead.
    monkeypatch.setattr(
        resource_manager_utils,
        "get_project_number",
        lambda project_id, credentials=None: PROJECT_NUMBER,
    )
    adc = tmp_path / "application_default_credentials.json"
    adc.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "client.apps.googleusercontent.com",
                "client_secret": "client-secret",
                "refresh_token": "refresh-token",
                "token": USER_TOKEN,
                "expiry": "2999-01-01T00:00:00Z",
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
    yield server
    server.stop()


@pytest.fixture
def service_account_key(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    signing_key: tuple[bytes, bytes],
    fake_vertex: FakeVertex,
) -> str:
    """A service-account key file whose token URI is the fake's; returns the email.

    google-auth looks up a service account's regional access boundary at
    iamcredentials.googleapis.com in a background thread; that lookup is pointed at
    the fake too, which answers like the real service.
    """
    from google.auth import _regional_access_boundary_utils as rab

    private, public = signing_key
    fake_vertex.public_pem = public
    email = f"submitter@{PROJECT}.iam.gserviceaccount.com"
    key_file = tmp_path / "service-account.json"
    key_file.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": PROJECT,
                "private_key_id": "test-key-1",
                "private_key": private.decode(),
                "client_email": email,
                "client_id": "1234567890",
                "token_uri": f"{fake_vertex.url}/token",
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    monkeypatch.setattr(
        rab,
        "get_service_account_rab_endpoint",
        lambda account: (
            f"{fake_vertex.url}/v1/projects/-/serviceAccounts/{account}/allowedLocations"
        ),
    )
    return email


@pytest.fixture
def web_server() -> Iterator[FakeServer]:
    """Some web server that is not a pipeline backend: 404 for every path."""
    server = FakeServer()
    yield server
    server.stop()


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RegistryVersion:
    """A registry version folder on Cloud Storage and its metadata.json."""

    uri: str
    metadata: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def registry_version() -> RegistryVersion:
    model_sha = "ab" * 32
    return RegistryVersion(
        uri="gs://demo-registry/penguins/v3",
        metadata={
            "features": [{"name": "bill_length_mm", "type": "numeric"}],
            "label": "species",
            "task": "classification",
            "classes": ["Adelie", "Chinstrap", "Gentoo"],
            "estimator": "random_forest",
            "hyperparameters": {"n_estimators": 50},
            "seed": 0,
            "sklearn_version": "1.5.2",
            "data_sha256": "cd" * 32,
            "model_sha256": model_sha,
            "version": 3,
            "lineage": {
                "data_sha256": "cd" * 32,
                "schema_sha256": "ef" * 32,
                "hyperparameters": {"n_estimators": 50},
                "metrics": {"accuracy": 0.97},
                "approval_reason": "accuracy 0.97 >= 0.9 and beats champion 0.95",
                "package_version": "0.1.0",
                "git_commit": "0123456789abcdef0123",
                "component_image": "ghcr.io/example/kfp-mlops-suite:0.1.0",
                "pipeline_run_id": "Run_42.A",
                "registered_at": "2024-05-01T12:00:00+00:00",
                "model_sha256": model_sha,
            },
        },
    )

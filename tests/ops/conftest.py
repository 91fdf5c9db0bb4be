"""Fixtures for the ops tests: compiled tiny pipelines, fake backends, a safe network.

The fakes of the KFP and Vertex AI REST APIs live in ``tests/support`` (``kfp_fake``,
``vertex_fake``); the fixtures here start them on 127.0.0.1 for one test. Every
unmarked test also runs with:

* a socket guard that refuses any connection or name lookup off the loopback
  interface (nothing may leave 127.0.0.1), and
* an isolated Google environment: no ADC file, no GOOGLE_APPLICATION_CREDENTIALS,
  and the GCE metadata probe pointed at a local server that answers 404.

Tests marked ``kind`` or ``vertex`` talk to real targets and skip both.
"""

import errno
import ipaddress
import json
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from http_fake import FakeServer
from kfp_fake import FakeKfp
from vertex_fake import PROJECT, PROJECT_NUMBER, FakeMetadataServer, FakeVertex

PIPELINE_NAME = "tiny-pipeline"


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


# ------------------------------------------------------ network guard and fakes


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

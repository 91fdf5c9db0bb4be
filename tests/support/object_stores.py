"""Real object-store servers on 127.0.0.1 for the ``stores`` test tier.

Two servers that no one here wrote, both installed from PyPI by the ``stores`` extra
(``pip install -e ".[stores]"``, which ``make install`` does):

* **S3**: moto's server, ``moto_server -H 127.0.0.1 -p PORT``;
* **GCS**: ``gcp-storage-emulator start --host=127.0.0.1 --port=PORT --in-memory``.

Each is started once per test session on a free port, waited for (a bounded wait, with
its log in the failure message), given a bucket, and stopped at the end of the session.
A missing server program skips the tests that need it, saying what to install.

Clients find the servers the way users point them at any S3- or GCS-compatible store,
with no setting of this project's own: ``AWS_ENDPOINT_URL`` (botocore, so s3fs) and
``STORAGE_EMULATOR_HOST`` (gcsfs and google-cloud-storage). :meth:`ObjectStore.apply`
puts those variables in ``os.environ``, so the subprocesses a test starts (the steps of
a kfp.local pipeline, ``mlops`` itself) reach the same server.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

# How long a server may take to answer after it starts, and to exit when asked.
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
BUCKET = "mlops-tests"
# The access token in the Google credentials file the GCS tests use.
GOOGLE_TOKEN = "ya29.stores-test-token"
# moto accepts any keys unless told otherwise; these only have to be present.
_S3_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_INSTALL = 'pip install -c constraints.txt -e ".[stores]"'
# Variables that would point a client somewhere else than the test's server.
_FOREIGN = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL_S3",
    "FSSPEC_S3_ENDPOINT_URL",
    "FSSPEC_GCS_ENDPOINT_URL",
    "GOOGLE_CLOUD_PROJECT",
    "GCLOUD_PROJECT",
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _program(name: str) -> str | None:
    """The server program: next to this Python first (a venv not on PATH), then PATH."""
    search = os.pathsep.join(
        [str(Path(sys.executable).parent), os.environ.get("PATH", "")]
    )
    return shutil.which(name, path=search)


@dataclass(frozen=True)
class ObjectStore:
    """One running server, a bucket on it, and a folder of that bucket for one test.

    Attributes:
        kind: ``"s3"``, ``"gcs"`` or ``"s3-iam"`` (credentials checked).
        scheme: The URI scheme clients use (``s3`` or ``gs``).
        endpoint: ``http://127.0.0.1:PORT``.
        bucket: The bucket the session made.
        env: The variables a client needs to reach this server.
        prefix: A folder of the bucket that belongs to one test.
        user_keys: On a server that checks credentials, each user's keys
            (``env`` holds the writer's).
    """

    kind: str
    scheme: str
    endpoint: str
    bucket: str
    env: dict[str, str] = field(default_factory=dict)
    prefix: str = ""
    user_keys: dict[str, dict[str, str]] = field(default_factory=dict)

    def uri(self, *parts: str) -> str:
        """``<scheme>://<bucket>/<prefix>/<parts...>``."""
        path = "/".join(p.strip("/") for p in (self.prefix, *parts) if p)
        return f"{self.scheme}://{self.bucket}/{path}".rstrip("/")

    def for_test(self) -> ObjectStore:
        """The same server, with a fresh folder of the bucket."""
        return replace(self, prefix=f"t-{uuid.uuid4().hex[:12]}")

    def apply(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point every client of this process and its children at this server."""
        for name in _FOREIGN:
            monkeypatch.delenv(name, raising=False)
        for name, value in self.env.items():
            monkeypatch.setenv(name, value)
        forget_clients()

    def filesystem(self) -> Any:
        """A new fsspec filesystem for this server, sharing no cache with the code's."""
        import fsspec

        return fsspec.filesystem(self.scheme, skip_instance_cache=True)

    def act_as(self, user: str, monkeypatch: pytest.MonkeyPatch) -> None:
        """Use another user's keys, in this process and its children."""
        for name, value in self.user_keys[user].items():
            monkeypatch.setenv(name, value)
        forget_clients()

    def path(self, *parts: str) -> str:
        """:meth:`uri` without the scheme, as fsspec filesystems take paths."""
        return self.uri(*parts).split("://", 1)[1]


def forget_clients() -> None:
    """Drop fsspec's cached s3fs/gcsfs instances: they keep the endpoint they met."""
    for module, name in (("s3fs", "S3FileSystem"), ("gcsfs", "GCSFileSystem")):
        if module in sys.modules:
            getattr(sys.modules[module], name).clear_instance_cache()


class ServerProcess:
    """A server program run for the session, its output kept in a log file."""

    def __init__(
        self,
        name: str,
        command: list[str],
        url: str,
        log: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name, self.command, self.url, self.log = name, command, url, log
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the program and wait until it answers HTTP at ``url``."""
        with self.log.open("wb") as out:
            # Its own session: a signal to the test run's group does not reach it
            # twice, and stop() ends exactly this process.
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **(self.env or {})},
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with code {self.process.returncode} before "
                    f"answering: {self.output()}"
                )
            if self._answers():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"{self.name} did not answer at {self.url} within "
                    f"{START_TIMEOUT_S:.0f} s: {self.output()}"
                )
            time.sleep(0.2)

    def _answers(self) -> bool:
        try:
            with _DIRECT.open(self.url, timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # an HTTP error is still an answer
        except OSError:
            return False

    def output(self) -> str:
        """The last lines the program wrote."""
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no output)"
        return " | ".join(lines[-15:]) or "(no output)"

    def stop(self) -> None:
        """Ask the program to stop, then kill it if it does not within the bound."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)  # both servers shut down cleanly on it
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)


def _request(method: str, url: str, body: bytes | None = None) -> None:
    headers = {"Content-Type": "application/json"} if body else {}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    with _DIRECT.open(request, timeout=10):
        pass


def _require(program: str, client: str) -> str:
    found = _program(program)
    if found is None:
        pytest.skip(f"{program} is not installed, so this tier cannot run ({_INSTALL})")
    if importlib.util.find_spec(client) is None:
        pytest.skip(f"{client} is not installed, so this tier cannot run ({_INSTALL})")
    return found


def _hermetic_google(tmp: Path) -> dict[str, str]:
    """Credentials found the ordinary way, and nothing of the developer's or Google's.

    The credentials file is what ``gcloud auth application-default login`` writes, plus
    a live access token so google-auth never refreshes it (that goes to Google); the
    emulator takes any token. Without it, google-auth would ask the GCE metadata server:
    its address is pointed at a closed port on 127.0.0.1 as well, for the programs
    that look anyway.
    """
    adc = tmp / "application_default_credentials.json"
    adc.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "client.apps.googleusercontent.com",
                "client_secret": "client-secret",
                "refresh_token": "refresh-token",
                "token": GOOGLE_TOKEN,
                "expiry": "2999-01-01T00:00:00Z",
            }
        )
    )
    nowhere = f"127.0.0.1:{free_port()}"
    return {
        "GOOGLE_APPLICATION_CREDENTIALS": str(adc),
        "CLOUDSDK_CONFIG": str(tmp / "gcloud"),
        "GCE_METADATA_HOST": nowhere,
        "GCE_METADATA_IP": nowhere,
    }


def start_s3(tmp: Path) -> Iterator[ObjectStore]:
    """moto's S3 server with :data:`BUCKET`; stopped when the generator closes."""
    with _moto(tmp, "moto") as (endpoint, env):
        _request("PUT", f"{endpoint}/{BUCKET}")
        yield ObjectStore(
            kind="s3", scheme="s3", endpoint=endpoint, bucket=BUCKET, env=env
        )


# The users of the server that checks credentials, and what each may do.
_READ = ["s3:GetObject", "s3:ListBucket"]
USERS: dict[str, list[dict[str, Any]]] = {
    "writer": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": "*"}],
    "reader": [{"Effect": "Allow", "Action": _READ, "Resource": "*"}],
    # May claim a version number, not write its files: a write refused mid-way.
    "claimer": [
        {"Effect": "Allow", "Action": [*_READ, "s3:DeleteObject"], "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": f"arn:aws:s3:::{BUCKET}/*/.claims/*",
        },
    ],
}
# What that server does before it checks: the bucket, then three actions per user.
_UNCHECKED_ACTIONS = 1 + 3 * len(USERS)


def start_s3_checking_credentials(tmp: Path) -> Iterator[ObjectStore]:
    """A moto S3 server that checks keys and permissions the way AWS IAM does.

    Its first :data:`_UNCHECKED_ACTIONS` actions go unchecked (moto's
    ``INITIAL_NO_AUTH_ACTION_COUNT``): they make the bucket and the :data:`USERS`.
    The store's ``env`` holds the writer's keys; ``user_keys`` every user's.
    """
    import boto3

    checking = {"INITIAL_NO_AUTH_ACTION_COUNT": str(_UNCHECKED_ACTIONS)}
    with _moto(tmp, "moto-iam", checking) as (endpoint, env):
        options = {
            "endpoint_url": endpoint,
            "region_name": "us-east-1",
            "aws_access_key_id": _S3_KEYS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": _S3_KEYS["AWS_SECRET_ACCESS_KEY"],
        }
        boto3.client("s3", **options).create_bucket(Bucket=BUCKET)
        iam = boto3.client("iam", **options)
        keys = {}
        for user, statements in USERS.items():
            iam.create_user(UserName=user)
            iam.put_user_policy(
                UserName=user,
                PolicyName=f"{user}-policy",
                PolicyDocument=json.dumps(
                    {"Version": "2012-10-17", "Statement": statements}
                ),
            )
            key = iam.create_access_key(UserName=user)["AccessKey"]
            keys[user] = {
                "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
            }
        yield ObjectStore(
            kind="s3-iam",
            scheme="s3",
            endpoint=endpoint,
            bucket=BUCKET,
            env={**env, **keys["writer"]},
            user_keys=keys,
        )


@contextmanager
def _moto(
    tmp: Path, name: str, server_env: dict[str, str] | None = None
) -> Iterator[tuple[str, dict[str, str]]]:
    """A moto server; yields its endpoint and the variables its clients need."""
    program = _require("moto_server", "s3fs")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = ServerProcess(
        "moto_server",
        [program, "-H", "127.0.0.1", "-p", str(port)],
        f"{endpoint}/moto-api/",
        tmp / f"{name}.log",
        server_env,
    )
    server.start()
    try:
        yield (
            endpoint,
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_DEFAULT_REGION": "us-east-1",
                # No developer profile or keys may take part.
                "AWS_CONFIG_FILE": str(tmp / "aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "aws-credentials"),
                "NO_PROXY": "127.0.0.1,localhost",
                **_S3_KEYS,
            },
        )
    finally:
        server.stop()


def start_gcs(tmp: Path) -> Iterator[ObjectStore]:
    """The GCS emulator with :data:`BUCKET`; stopped when the generator closes."""
    program = _require("gcp-storage-emulator", "gcsfs")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = ServerProcess(
        "gcp-storage-emulator",
        [program, "start", "--host=127.0.0.1", f"--port={port}", "--in-memory"],
        f"{endpoint}/storage/v1/b",
        tmp / "gcs-emulator.log",
    )
    server.start()
    try:
        body = json.dumps({"name": BUCKET}).encode()
        _request("POST", f"{endpoint}/storage/v1/b?project=test", body)
        yield ObjectStore(
            kind="gcs",
            scheme="gs",
            endpoint=endpoint,
            bucket=BUCKET,
            env={
                "STORAGE_EMULATOR_HOST": endpoint,
                # Otherwise gcsfs asks the server for the bucket's layout over gRPC
                # with TLS, which the emulator does not speak: 60 s per bucket.
                "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
                "GOOGLE_CLOUD_PROJECT": "test",
                "NO_PROXY": "127.0.0.1,localhost",
                **_hermetic_google(tmp),
            },
        )
    finally:
        server.stop()


# ------------------------------------------------------------------ fixtures
# Imported by the conftest.py of the tests that use them (tests/stores/).


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    """moto's S3 server for the session."""
    yield from start_s3(tmp_path_factory.mktemp("s3-server"))


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    """The GCS emulator for the session."""
    yield from start_gcs(tmp_path_factory.mktemp("gcs-server"))


@pytest.fixture(params=["s3", "gcs"])
def store(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ObjectStore]:
    """Each store in turn, reachable by this process and its children, with a fresh
    folder of the bucket for the test."""
    server: ObjectStore = request.getfixturevalue(f"{request.param}_server")
    current = server.for_test()
    current.apply(monkeypatch)
    yield current
    forget_clients()


@pytest.fixture(scope="session")
def s3_iam_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    """A moto S3 server that checks credentials, for the session."""
    yield from start_s3_checking_credentials(tmp_path_factory.mktemp("s3-iam"))


@pytest.fixture
def s3_iam(
    s3_iam_server: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ObjectStore]:
    """The credential-checking S3 server, as its writer."""
    current = s3_iam_server.for_test()
    current.apply(monkeypatch)
    yield current
    forget_clients()


@pytest.fixture
def gcs(
    gcs_server: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ObjectStore]:
    """The GCS emulator alone, for what only Google Cloud does (Vertex AI)."""
    current = gcs_server.for_test()
    current.apply(monkeypatch)
    yield current
    forget_clients()

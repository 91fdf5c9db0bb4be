"""A real kube-apiserver with etcd on 127.0.0.1, started and stopped by the tests.

:func:`running_apiserver` starts etcd (Debian's ``etcd-server``) and the kube-apiserver
that ``scripts/build-apiserver.sh`` (``make apiserver``) builds once per machine, each
on a free port with its data in a temporary folder, and stops both when the block
ends. The apiserver authorizes with RBAC, authenticates a static admin token (group
``system:masters``) and service-account tokens signed by a key made here, and serves
KServe's CRDs, less their ``default: ""`` lines, which 1.20 refuses ("Invalid value:
null"). There is no controller manager: nothing reconciles, so a test plays any
controller it needs. :func:`prerequisites` says what is missing to run one.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from kubernetes import client as k8s

from mlops_suite.serving.server_process import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build-apiserver.sh"
ISSUER = "https://kubernetes.default.svc.cluster.local"
STARTUP_TIMEOUT_S = 120.0


@dataclass
class KubeApiserver:
    """The running server: its URL, admin credentials and a kubectl bound to it."""

    url: str
    token: str
    ca_file: Path
    kubeconfig: Path
    workdir: Path

    def client(self, token: str | None = None) -> k8s.ApiClient:
        """A real client of this server, as admin or with ``token``; close it after."""
        configuration = k8s.Configuration()
        configuration.host = self.url
        configuration.ssl_ca_cert = str(self.ca_file)
        configuration.api_key = {"authorization": token or self.token}
        configuration.api_key_prefix = {"authorization": "Bearer"}
        return k8s.ApiClient(configuration)

    def write_kubeconfig(self, path: Path, token: str) -> Path:
        """A kubeconfig that reaches this server with ``token``."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "test",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority": str(self.ca_file),
                    },
                }
            ],
            "users": [{"name": "user", "user": {"token": token}}],
            "contexts": [
                {"name": "test", "context": {"cluster": "test", "user": "user"}}
            ],
            "current-context": "test",
        }
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return path

    def kubectl(
        self,
        *args: str,
        stdin: str | None = None,
        check: bool = True,
        timeout_s: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl as admin against this server; ``check`` asserts exit 0."""
        done = subprocess.run(
            [
                "kubectl",
                f"--kubeconfig={self.kubeconfig}",
                # Discovery is cached per server address; keep it with the server.
                f"--cache-dir={self.workdir / 'kubectl-cache'}",
                *args,
            ],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if check:
            assert done.returncode == 0, (
                f"kubectl {' '.join(args)} failed ({done.returncode}):\n{done.stderr}"
            )
        return done

    def service_account_token(self, namespace: str, name: str) -> str:
        """A token of ServiceAccount ``namespace/name`` (created when missing)."""
        with self.client() as api_client:
            core = k8s.CoreV1Api(api_client)
            try:
                core.create_namespace(k8s.V1Namespace(metadata={"name": namespace}))
            except k8s.ApiException as exc:
                if exc.status != 409:
                    raise
            try:
                core.create_namespaced_service_account(
                    namespace, k8s.V1ServiceAccount(metadata={"name": name})
                )
            except k8s.ApiException as exc:
                if exc.status != 409:
                    raise
            request = k8s.AuthenticationV1TokenRequest(
                spec=k8s.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
            )
            issued = core.create_namespaced_service_account_token(
                name, namespace, request
            )
        return str(issued.status.token)


@dataclass(frozen=True)
class Prerequisites:
    """What :func:`running_apiserver` needs, found on this machine."""

    apiserver: Path
    etcd: Path
    crds: Path


def prerequisites(crds: Path) -> Prerequisites | str:
    """The binaries and CRDs to start a server with, or why one cannot start here."""
    if shutil.which("kubectl") is None:
        return "kubectl is not installed; the apiserver tier drives it"
    etcd = shutil.which("etcd")
    if etcd is None:
        return "etcd is not installed (make apiserver installs etcd-server)"
    where = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--path"],
        capture_output=True,
        text=True,
        check=True,
    )
    binary = Path(where.stdout.strip())
    if not os.access(binary, os.X_OK):
        return f"no kube-apiserver at {binary}; build it with `make apiserver`"
    if not sorted(crds.glob("serving.kserve.io_*.yaml")):
        return f"KServe CRDs not found in {crds}"
    return Prerequisites(apiserver=binary, etcd=Path(etcd), crds=crds)


def _without_empty_defaults(node: Any) -> Any:
    """The CRD without its ``default: ""`` schema entries, which 1.20 refuses."""
    if isinstance(node, dict):
        return {
            key: _without_empty_defaults(value)
            for key, value in node.items()
            if not (key == "default" and value == "")
        }
    if isinstance(node, list):
        return [_without_empty_defaults(item) for item in node]
    return node


def _write_service_account_keys(folder: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = folder / "sa.key"
    public = folder / "sa.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def _start(command: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            list(command), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _tail(log: Path, lines: int = 15) -> str:
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def _wait_ready(
    process: subprocess.Popen[bytes], url: str, token: str, ca: Path, log: Path
) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"kube-apiserver exited with {process.returncode}:\n{_tail(log)}"
            )
        if ca.exists():
            try:
                answer = requests.get(
                    f"{url}/readyz",
                    headers={"Authorization": f"Bearer {token}"},
                    verify=str(ca),
                    timeout=5,
                )
                if answer.status_code == 200:
                    return
            except requests.RequestException:
                pass
        time.sleep(0.5)
    raise RuntimeError(
        f"kube-apiserver was not ready within {STARTUP_TIMEOUT_S:g} s:\n{_tail(log)}"
    )


def _install_crds(server: KubeApiserver, crds: Path) -> None:
    """Create the CRDs (stripped) and wait until the server serves them."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with server.client() as api_client:
        extensions = k8s.ApiextensionsV1Api(api_client)
        names = []
        for source in sorted(crds.glob("serving.kserve.io_*.yaml")):
            crd = yaml.load(source.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506
            # Not kubectl: its client-side validation of 2 MB of schema takes long.
            extensions.create_custom_resource_definition(_without_empty_defaults(crd))
            names.append(crd["metadata"]["name"])
        deadline = time.monotonic() + 60
        while names:
            conditions = extensions.read_custom_resource_definition(
                names[0]
            ).status.conditions
            if any(
                c.type == "Established" and c.status == "True" for c in conditions or []
            ):
                names.pop(0)
            elif time.monotonic() > deadline:
                raise RuntimeError(f"CRD {names[0]} was not established within 60 s")
            else:
                time.sleep(0.2)


@contextmanager
def running_apiserver(found: Prerequisites) -> Iterator[KubeApiserver]:
    """etcd plus kube-apiserver (RBAC) on 127.0.0.1 with KServe's CRDs installed.

    Args:
        found: The binaries and CRDs (see :func:`prerequisites`).

    Yields:
        The running server; both processes stop when the block ends.

    Raises:
        RuntimeError: The apiserver exited or was not ready in time; the message
            ends with its last log lines.
    """
    binary, etcd, crds = found.apiserver, found.etcd, found.crds
    with tempfile.TemporaryDirectory(prefix="kube-apiserver-") as scratch:
        workdir = Path(scratch)
        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        etcd_log = workdir / "etcd.log"
        etcd_process = _start(
            [
                str(etcd),
                "--name=test",
                f"--data-dir={workdir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=test={peer_url}",
                # The KServe InferenceService CRD alone is about 1 MB as JSON.
                "--max-request-bytes=10485760",
                "--log-level=warn",
            ],
            etcd_log,
        )
        api_log = workdir / "kube-apiserver.log"
        token = secrets.token_hex(16)
        (workdir / "tokens.csv").write_text(
            f'{token},admin,admin,"system:masters"\n', encoding="utf-8"
        )
        signing_key, public_key = _write_service_account_keys(workdir)
        certs = workdir / "certs"
        api_process = _start(
            [
                str(binary),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                "--insecure-port=0",
                f"--cert-dir={certs}",
                f"--token-auth-file={workdir / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                f"--service-account-issuer={ISSUER}",
                f"--service-account-key-file={public_key}",
                f"--service-account-signing-key-file={signing_key}",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--enable-priority-and-fairness=false",
                "--profiling=false",
            ],
            api_log,
        )
        try:
            url = f"https://127.0.0.1:{api_port}"
            # The self-signed serving certificate the apiserver writes at start.
            ca_file = certs / "apiserver.crt"
            _wait_ready(api_process, url, token, ca_file, api_log)
            server = KubeApiserver(
                url=url,
                token=token,
                ca_file=ca_file,
                kubeconfig=workdir / "admin.kubeconfig",
                workdir=workdir,
            )
            server.write_kubeconfig(server.kubeconfig, token)
            _install_crds(server, crds)
            yield server
        finally:
            _stop(api_process)
            _stop(etcd_process)

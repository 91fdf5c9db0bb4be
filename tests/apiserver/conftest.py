"""The session's real kube-apiserver (``kube``) for the tests marked ``apiserver``.

Started once, on 127.0.0.1, by ``tests/support/kube_apiserver.py``, with KServe's CRDs
from ``../shared/schemas/kserve`` beside the checkout (``MLOPS_KSERVE_CRDS`` names
another folder). Every test using it is skipped, saying why, when the binary
(``make apiserver``), etcd, kubectl or the CRDs are missing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from kube_apiserver import REPO_ROOT, KubeApiserver, prerequisites, running_apiserver

KSERVE_CRDS = REPO_ROOT.parent / "shared" / "schemas" / "kserve"


@pytest.fixture(scope="session")
def kube() -> Iterator[KubeApiserver]:
    """etcd plus kube-apiserver (RBAC) on 127.0.0.1 with KServe's CRDs installed."""
    found = prerequisites(Path(os.environ.get("MLOPS_KSERVE_CRDS") or KSERVE_CRDS))
    if isinstance(found, str):
        pytest.skip(found)
    with running_apiserver(found) as server:
        yield server

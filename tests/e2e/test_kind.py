"""The kind path: needs Docker, kind and the cluster from ``make kind-up``.

Runs ``make image`` and ``make kind-e2e`` (submit with deploy=true, predict through the
InferenceService). Skipped with a reason wherever no such cluster is reachable, as on
machines without a Docker engine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
CLUSTER = os.environ.get("CLUSTER_NAME", "kfp-mlops-suite")


def _cluster_reachable() -> str | None:
    for tool in ("docker", "kind", "kubectl"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True)
    if info.returncode != 0:
        return "no Docker engine is running"
    clusters = subprocess.run(
        ["kind", "get", "clusters"], capture_output=True, text=True
    )
    if CLUSTER not in clusters.stdout.split():
        return f"no kind cluster {CLUSTER!r} (run `make kind-up`)"
    return None


@pytest.mark.kind
def test_training_pipeline_deploys_and_predicts_on_kind() -> None:
    reason = _cluster_reachable()
    if reason:
        pytest.skip(f"needs a kind cluster with KServe and KFP: {reason}")
    image = os.environ.get("IMAGE", "ghcr.io/kfp-mlops-suite/components:kind-test")
    for target in ("image", "kind-e2e"):
        subprocess.run(["make", target, f"IMAGE={image}"], cwd=ROOT, check=True)

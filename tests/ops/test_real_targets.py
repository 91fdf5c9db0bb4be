"""The tiny pipeline on real backends; skipped unless the environment names them.

* ``MLOPS_KFP_HOST``: a Kubeflow Pipelines API/UI URL, e.g. ``http://localhost:8080``
  after ``make kind-up`` and a port-forward of ``ml-pipeline-ui``.
* ``MLOPS_VERTEX_PROJECT`` and ``MLOPS_VERTEX_PIPELINE_ROOT`` (``gs://...``), with
  Application Default Credentials; optional ``MLOPS_VERTEX_REGION``
  (``us-central1``), ``MLOPS_VERTEX_SERVICE_ACCOUNT`` and ``MLOPS_VERTEX_WAIT=1``.
"""

from __future__ import annotations

import os

import pytest

from mlops_suite.ops.kfp_backend import submit_kfp
from mlops_suite.ops.vertex_backend import submit_vertex

PARAMS = {"message": "hello from kfp-mlops-suite", "scale": 2.0}


@pytest.mark.kind
def test_tiny_pipeline_succeeds_on_kubeflow_pipelines(tiny_yaml):
    host = os.environ.get("MLOPS_KFP_HOST")
    if not host:
        pytest.skip("set MLOPS_KFP_HOST (e.g. http://localhost:8080) to run on KFP")
    result = submit_kfp(
        tiny_yaml,
        host=host,
        experiment="kfp-mlops-suite-tests",
        params=PARAMS,
        wait=True,
        timeout_s=900,
        poll_interval_s=5,
    )
    assert result.state == "SUCCEEDED", result.summary()


@pytest.mark.vertex
def test_tiny_pipeline_is_accepted_by_vertex_ai(tiny_yaml):
    project = os.environ.get("MLOPS_VERTEX_PROJECT")
    root = os.environ.get("MLOPS_VERTEX_PIPELINE_ROOT")
    if not (project and root):
        pytest.skip(
            "set MLOPS_VERTEX_PROJECT and MLOPS_VERTEX_PIPELINE_ROOT (gs://...) to "
            "submit to Vertex AI Pipelines"
        )
    wait = os.environ.get("MLOPS_VERTEX_WAIT") == "1"
    result = submit_vertex(
        tiny_yaml,
        project=project,
        region=os.environ.get("MLOPS_VERTEX_REGION", "us-central1"),
        pipeline_root=root,
        service_account=os.environ.get("MLOPS_VERTEX_SERVICE_ACCOUNT"),
        params=PARAMS,
        labels={"purpose": "integration-test"},
        wait=wait,
        timeout_s=1800,
        poll_interval_s=15,
    )
    expected = {"SUCCEEDED"} if wait else {"QUEUED", "PENDING", "RUNNING"}
    assert result.state in expected, result.summary()

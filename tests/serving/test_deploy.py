"""Deploying through faults a real API server will not produce on demand (k8s_fake.py).

The normal paths (first deploy, identical re-apply, canary promotion, rollback on a
failed smoke, a conflict with another field manager, a 403) run against a real
kube-apiserver in tests/apiserver/. These tests keep the hand-written fake only to
inject what a real server cannot be made to answer: 409/500/503 replies, a version
that never gets Ready or fails to load, an unreachable server, a cluster without
KServe, and the kubeconfig fallbacks.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import k8s_fake
import pytest
import yaml
from kubernetes import client as k8s

from mlops_suite.errors import DeploymentError
from mlops_suite.serving.deploy import deploy
from mlops_suite.serving.inference_service import build_inference_service
from mlops_suite.serving.kube import DEPLOY_ROLE, load_kube_api
from mlops_suite.serving.rollout import DeploymentRolledBack
from mlops_suite.serving.server_process import free_port

NAMESPACE = "serving"
NAME = "penguins"
FAST: dict[str, Any] = {"timeout_s": 5.0, "poll_s": 0.01}


def uri(version: int) -> str:
    return f"s3://mlpipeline/registry/{NAME}/v{version}"


def isvc(version: int, mode: str = "raw", **extra: Any) -> dict[str, Any]:
    return build_inference_service(
        name=NAME,
        namespace=NAMESPACE,
        storage_uri=uri(version),
        model_version=version,
        model_sha256=f"{version:x}" * 64,
        mode=mode,  # type: ignore[arg-type]
        **extra,
    )


def served(fake: Any) -> dict[str, Any]:
    obj = fake.get(NAMESPACE, NAME)
    assert obj is not None
    return obj


def served_uri(fake: Any) -> str:
    return str(served(fake)["spec"]["predictor"]["model"]["storageUri"])


def applied(fake: Any) -> list[tuple[str, int | None]]:
    """(storageUri, canaryTrafficPercent) of every server-side apply, in order."""
    return [
        (
            body["spec"]["predictor"]["model"]["storageUri"],
            body["spec"]["predictor"].get("canaryTrafficPercent"),
        )
        for body in k8s_fake.iter_patch_bodies(fake)
    ]


class Smoke:
    """Records the URLs it was called with; fails when told to."""

    def __init__(self, fail_with: str | None = None) -> None:
        self.urls: list[str] = []
        self.fail_with = fail_with

    def __call__(self, url: str) -> None:
        self.urls.append(url)
        if self.fail_with:
            raise DeploymentError(self.fail_with)


def test_raw_update_waits_for_the_new_generation_before_smoking(
    fake: Any, api: k8s.CustomObjectsApi
) -> None:
    fake.put(isvc(1))
    fake.ready_after = 4
    seen: list[tuple[int, int]] = []

    def smoke(url: str) -> None:
        obj = served(fake)
        seen.append(
            (obj["metadata"]["generation"], obj["status"]["observedGeneration"])
        )

    result = deploy(isvc(2), api=api, smoke=smoke, **FAST)

    assert result.action == "updated"
    assert result.previous_model_version == "v1"
    assert served_uri(fake) == uri(2)
    # Ready left over from v1's generation did not count: KServe had seen v2's spec.
    assert seen == [(2, 2)]
    assert applied(fake) == [(uri(2), None)]


def test_the_canary_share_comes_from_the_object(
    fake: Any, api: k8s.CustomObjectsApi
) -> None:
    fake.put(isvc(1, "serverless"))
    shares: list[dict[str | None, int]] = []
    deploy(
        isvc(2, "serverless", canary_traffic_percent=25),
        api=api,
        smoke=lambda url: shares.append(fake.traffic(NAMESPACE, NAME)),
        **FAST,
    )
    assert shares == [{uri(2): 25, uri(1): 75}]


def test_a_version_that_never_gets_ready_times_out_and_is_rolled_back(
    fake: Any, api: k8s.CustomObjectsApi
) -> None:
    fake.put(isvc(1))
    fake.never_ready.add(uri(2))
    started = time.monotonic()
    with pytest.raises(DeploymentError) as raised:
        deploy(isvc(2), api=api, timeout_s=0.3, poll_s=0.02)

    assert time.monotonic() - started < 5
    message = str(raised.value)
    assert "timed out after 0.3 s waiting for Ready" in message
    assert "MinimumReplicasUnavailable" in message
    assert f"{NAMESPACE}/{NAME}" in message and "v1 was restored" in message
    assert served_uri(fake) == uri(1)


def test_a_failed_model_load_is_reported_without_waiting_for_the_timeout(
    fake: Any, api: k8s.CustomObjectsApi
) -> None:
    fake.put(isvc(1))
    fake.failing[uri(2)] = "model.joblib could not be unpickled"
    started = time.monotonic()
    with pytest.raises(DeploymentError) as raised:
        deploy(isvc(2), api=api, timeout_s=60, poll_s=0.01)

    assert time.monotonic() - started < 5
    assert "ModelLoadFailed: model.joblib could not be unpickled" in str(raised.value)
    assert served_uri(fake) == uri(1)


def test_a_conflict_on_apply_is_a_clear_error_and_changes_nothing(
    fake: Any, api: k8s.CustomObjectsApi
) -> None:
    fake.put(isvc(1))
    before = served(fake)
    fake.fail_next(409, methods={"PATCH"})
    with pytest.raises(DeploymentError) as raised:
        deploy(isvc(2), api=api, **FAST)

    message = str(raised.value)
    assert "409 Conflict when applying it" in message
    assert "v1 keeps serving" in message
    assert served(fake) == before


def test_a_server_error_when_reading_is_a_clear_error(
    fake: Any, api: k8s.CustomObjectsApi
) -> None:
    fake.put(isvc(1))
    fake.fail_next(500)
    with pytest.raises(DeploymentError) as raised:
        deploy(isvc(2), api=api, **FAST)

    message = str(raised.value)
    assert "500 Internal Server Error when reading it" in message
    assert f"InferenceService {NAMESPACE}/{NAME}" in message
    assert "nothing was changed" in message
    assert not fake.writes()


@pytest.mark.parametrize(("method", "verb"), [("GET", "get"), ("PATCH", "patch")])
def test_a_forbidden_request_names_the_verb_resource_and_namespace(
    fake: Any, api: k8s.CustomObjectsApi, method: str, verb: str
) -> None:
    fake.put(isvc(1))
    before = served(fake)
    fake.fail_next(403, methods={method})
    with pytest.raises(DeploymentError) as raised:
        deploy(isvc(2), api=api, **FAST)

    message = str(raised.value)
    assert (
        f"refused to let this step {verb} inferenceservices.serving.kserve.io "
        f"in namespace {NAMESPACE} (403 Forbidden: injected by the test)"
    ) in message
    assert f"Role such as {DEPLOY_ROLE}" in message
    assert f"InferenceService {NAMESPACE}/{NAME}" in message
    assert "\n" not in message
    assert served(fake) == before


def test_the_role_a_forbidden_error_names_is_the_one_we_ship() -> None:
    rbac = Path(__file__).resolve().parents[2] / "manifests" / "base" / "rbac.yaml"
    (role,) = [
        doc
        for doc in yaml.safe_load_all(rbac.read_text(encoding="utf-8"))
        if doc["kind"] == "Role"
    ]
    assert role["metadata"]["name"] == DEPLOY_ROLE
    (rule,) = role["rules"]
    assert {"get", "patch"} <= set(rule["verbs"])


def test_a_transient_error_while_waiting_is_retried(
    fake: Any, api: k8s.CustomObjectsApi
) -> None:
    fake.ready_after = 2
    # The first GET (the initial read) passes; the next two polls get 503.
    fake.fail_next(503, times=2, methods={"GET"}, skip=1)
    result = deploy(isvc(1), api=api, **FAST)
    assert result.action == "created"
    assert sum(1 for r in fake.requests if r.method == "GET") >= 4


def test_a_first_deploy_that_fails_says_there_was_nothing_to_restore(
    fake: Any, api: k8s.CustomObjectsApi
) -> None:
    with pytest.raises(DeploymentError) as raised:
        deploy(isvc(1), api=api, smoke=Smoke("connection refused"), **FAST)
    assert not isinstance(raised.value, DeploymentRolledBack)
    assert "nothing was serving before" in str(raised.value)
    assert "left in place for inspection" in str(raised.value)


def test_a_cluster_without_kserve_is_told_apart_from_a_missing_service(
    fake: Any,
) -> None:
    configuration = k8s.Configuration()
    # Every path under this prefix is unknown to the server, like a cluster that
    # has no serving.kserve.io API group.
    configuration.host = f"{fake.url}/no-kserve"
    api_client = k8s.ApiClient(configuration)
    try:
        with pytest.raises(DeploymentError, match="is KServe installed") as raised:
            deploy(isvc(1), api=api_client, **FAST)
    finally:
        api_client.close()
    assert "nothing was changed" in str(raised.value)
    assert not fake.writes()


def test_an_unreachable_api_server_is_named() -> None:
    port = free_port()  # free a moment ago: nothing listens there
    configuration = k8s.Configuration()
    configuration.host = f"http://127.0.0.1:{port}"
    api_client = k8s.ApiClient(configuration)
    try:
        with pytest.raises(DeploymentError) as raised:
            deploy(isvc(1), api=api_client, **FAST)
    finally:
        api_client.close()
    message = str(raised.value)
    assert (
        f"Kubernetes API server at http://127.0.0.1:{port} cannot be reached" in message
    )
    assert "Connection refused" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda obj: obj["metadata"].pop("namespace"), "metadata.namespace"),
        (lambda obj: obj["spec"]["predictor"]["model"].pop("storageUri"), "storageUri"),
        (
            lambda obj: obj["metadata"]["annotations"].pop(
                "serving.kserve.io/deploymentMode"
            ),
            "mode='raw'",
        ),
        (
            lambda obj: obj["spec"]["predictor"].update(canaryTrafficPercent=10),
            "RawDeployment mode",
        ),
    ],
)
def test_an_object_deploy_cannot_serve_is_refused_before_any_request(
    fake: Any, api: k8s.CustomObjectsApi, change: Any, named: str
) -> None:
    obj = isvc(1)
    change(obj)
    with pytest.raises(DeploymentError, match=named):
        deploy(obj, api=api, **FAST)
    assert fake.requests == []


def test_the_mode_argument_must_agree_with_the_annotation(
    fake: Any, api: k8s.CustomObjectsApi
) -> None:
    with pytest.raises(DeploymentError, match="make them agree"):
        deploy(isvc(1, "raw"), api=api, mode="serverless", **FAST)
    unannotated = isvc(1)
    del unannotated["metadata"]["annotations"]["serving.kserve.io/deploymentMode"]
    result = deploy(unannotated, api=api, mode="raw", **FAST)
    assert result.action == "created"
    annotations = served(fake)["metadata"]["annotations"]
    assert annotations["serving.kserve.io/deploymentMode"] == "RawDeployment"


def test_load_kube_api_falls_back_to_the_kubeconfig_outside_a_working_pod(
    fake: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Looks like a pod, but there is no service-account token to use.
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.setenv("KUBECONFIG", str(fake.write_kubeconfig(tmp_path / "config")))
    api = load_kube_api()
    try:
        assert api.api_client.configuration.host == fake.url
    finally:
        api.api_client.close()


def test_load_kube_api_says_what_it_tried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    missing = tmp_path / "no-such-kubeconfig"
    with pytest.raises(DeploymentError) as raised:
        load_kube_api(missing)
    message = str(raised.value)
    assert str(missing) in message and "\n" not in message

    with pytest.raises(DeploymentError, match="in-cluster"):
        load_kube_api(in_cluster=True)

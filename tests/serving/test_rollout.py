"""The rollout on its own: promote after a passing smoke request, restore on failure.

Pure: the cluster is one InferenceService held in memory (:class:`MemoryCluster`),
which KServe "reconciles" as soon as it is applied, so each test reads as the steps a
user would see: what was applied, what the smoke request saw, what serves at the end
and the sentence they are told.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest

from mlops_suite.errors import DeploymentError
from mlops_suite.serving.inference_service import build_inference_service
from mlops_suite.serving.kube import ApiFailure
from mlops_suite.serving.rollout import (
    DeploymentRolledBack,
    DeployResult,
    Smoke,
    run_rollout,
)
from mlops_suite.serving.target import Target, managed

NAMESPACE = "serving"
NAME = "penguins"
WHERE = f"InferenceService {NAMESPACE}/{NAME}"
INTERNAL = f"http://{NAME}-predictor.{NAMESPACE}.svc.cluster.local"


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


class MemoryCluster:
    """One InferenceService in memory, Ready (or failed) as soon as it is applied.

    Attributes:
        obj: The live object, with ``metadata.generation`` and a ``status``.
        applied: Every manifest applied, in order.
        failing: Storage URIs whose load fails, reported the way KServe does.
    """

    def __init__(self, serving: Mapping[str, Any] | None = None) -> None:
        self.obj: dict[str, Any] | None = None
        self.applied: list[dict[str, Any]] = []
        self.failing: dict[str, str] = {}
        if serving is not None:
            self._store(serving)

    def get(self) -> dict[str, Any] | None:
        return copy.deepcopy(self.obj)

    def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        self.applied.append(copy.deepcopy(dict(manifest)))
        self._store(manifest)
        return copy.deepcopy(self.obj) or {}

    def _store(self, manifest: Mapping[str, Any]) -> None:
        obj = copy.deepcopy(dict(manifest))
        old = self.obj
        generation = 1
        if old is not None:
            generation = old["metadata"]["generation"] + (old["spec"] != obj["spec"])
        obj["metadata"]["generation"] = generation
        status: dict[str, Any] = {
            "observedGeneration": generation,
            "conditions": [{"type": "Ready", "status": "True"}],
            "url": f"http://{NAME}.{NAMESPACE}.example.com",
            "address": {"url": INTERNAL},
        }
        failure = self.failing.get(obj["spec"]["predictor"]["model"]["storageUri"])
        if failure:
            status["conditions"] = [{"type": "Ready", "status": "False"}]
            status["modelStatus"] = {
                "transitionStatus": "BlockedByFailedLoad",
                "lastFailureInfo": {"reason": "ModelLoadFailed", "message": failure},
            }
        obj["status"] = status
        self.obj = obj

    def serving(self) -> tuple[str, int | None]:
        """(storageUri, canaryTrafficPercent) of the live object."""
        assert self.obj is not None
        predictor = self.obj["spec"]["predictor"]
        return predictor["model"]["storageUri"], predictor.get("canaryTrafficPercent")

    def applies(self) -> list[tuple[str, int | None]]:
        """(storageUri, canaryTrafficPercent) of every apply, in order."""
        return [
            (
                body["spec"]["predictor"]["model"]["storageUri"],
                body["spec"]["predictor"].get("canaryTrafficPercent"),
            )
            for body in self.applied
        ]


class RefusingCluster(MemoryCluster):
    """Answers every read with a failure the API server would not take back."""

    def get(self) -> dict[str, Any] | None:
        raise ApiFailure(
            "the Kubernetes API answered 401 Unauthorized", transient=False
        )


def roll(
    isvc: dict[str, Any], cluster: MemoryCluster, smoke: Smoke | None = None
) -> DeployResult:
    return run_rollout(
        Target.of(isvc, None),
        cluster,
        timeout_s=1.0,
        poll_s=0.01,
        smoke=smoke,
        prefer_internal_url=True,
    )


def failing_smoke(reason: str) -> Smoke:
    def smoke(url: str) -> None:
        raise DeploymentError(reason)

    return smoke


def test_a_serverless_canary_is_promoted_once_its_smoke_request_passes() -> None:
    cluster = MemoryCluster(isvc(1, "serverless"))
    seen: list[tuple[str, tuple[str, int | None]]] = []

    result = roll(
        isvc(2, "serverless"),
        cluster,
        lambda url: seen.append((url, cluster.serving())),
    )

    assert result.action == "promoted"
    # Checked while it had its 10 % share, then given all the traffic.
    assert seen == [(INTERNAL, (uri(2), 10))]
    assert cluster.applies() == [(uri(2), 10), (uri(2), 100)]
    assert cluster.serving() == (uri(2), 100)
    assert (result.model_version, result.storage_uri) == ("v2", uri(2))
    assert (result.previous_model_version, result.previous_storage_uri) == (
        "v1",
        uri(1),
    )
    assert result.smoke_url == INTERNAL


def test_a_raw_update_is_applied_once_and_smoked() -> None:
    cluster = MemoryCluster(isvc(1))
    urls: list[str] = []
    result = roll(isvc(2), cluster, urls.append)
    assert result.action == "updated"
    assert cluster.applies() == [(uri(2), None)]
    assert urls == [INTERNAL]


def test_a_failed_smoke_restores_the_previous_spec_and_says_so() -> None:
    previous = isvc(1, logger_url="http://kfp-mlops-log-sink/")
    cluster = MemoryCluster(previous)

    with pytest.raises(DeploymentRolledBack) as raised:
        roll(isvc(2), cluster, failing_smoke("3 of 5 predictions differ."))

    assert str(raised.value) == (
        f"Deploying v2 to {WHERE} failed: the smoke request to {INTERNAL} failed "
        "(3 of 5 predictions differ); v1 was restored and is serving again."
    )
    assert cluster.obj is not None
    # Spec, labels and annotations as they were, the logger v2 dropped included.
    assert managed(cluster.obj) == managed(previous)
    assert raised.value.result.action == "rolled_back"
    assert raised.value.result.model_version == "v1"


def test_a_failed_canary_never_gets_more_than_its_share() -> None:
    cluster = MemoryCluster(isvc(1, "serverless"))
    with pytest.raises(DeploymentRolledBack):
        roll(isvc(2, "serverless"), cluster, failing_smoke("HTTP 500"))
    # The old spec comes back at 0 % first (traffic pinned to v1's revision), then
    # exactly as it was.
    assert cluster.applies() == [(uri(2), 10), (uri(1), 0), (uri(1), None)]
    assert cluster.serving() == (uri(1), None)


def test_a_failed_load_is_rolled_back_without_a_smoke_request() -> None:
    cluster = MemoryCluster(isvc(1))
    cluster.failing[uri(2)] = "model.joblib could not be unpickled"
    smoked: list[str] = []

    with pytest.raises(DeploymentRolledBack) as raised:
        roll(isvc(2), cluster, smoked.append)

    assert str(raised.value) == (
        f"Deploying v2 to {WHERE} failed: KServe reports the rollout failed "
        "(ModelLoadFailed: model.joblib could not be unpickled); v1 was restored and "
        "is serving again."
    )
    assert smoked == []
    assert cluster.serving() == (uri(1), None)


def test_the_version_already_serving_is_checked_but_not_written() -> None:
    cluster = MemoryCluster(isvc(1))
    urls: list[str] = []
    result = roll(isvc(1), cluster, urls.append)
    assert result.action == "unchanged"
    assert cluster.applied == []
    assert urls == [INTERNAL]


def test_a_first_version_that_fails_has_nothing_to_restore() -> None:
    cluster = MemoryCluster()
    with pytest.raises(DeploymentError) as raised:
        roll(isvc(1), cluster, failing_smoke("connection refused"))
    assert not isinstance(raised.value, DeploymentRolledBack)
    assert str(raised.value) == (
        f"Deploying v1 to {WHERE} failed: the smoke request to {INTERNAL} failed "
        "(connection refused); nothing was serving before, so there is no version to "
        "restore and the failed InferenceService is left in place for inspection."
    )


def test_a_refused_first_read_changes_nothing() -> None:
    cluster = RefusingCluster()
    with pytest.raises(DeploymentError) as raised:
        roll(isvc(1), cluster)
    assert str(raised.value) == (
        f"Cannot deploy v1 to {WHERE}: the Kubernetes API answered 401 Unauthorized; "
        "nothing was changed."
    )
    assert cluster.applied == []


@pytest.mark.parametrize(
    ("mode", "requested", "canary", "final"),
    [
        ("serverless", None, 10, 100),
        ("serverless", 25, 25, 100),
        ("serverless", 100, None, 100),
        ("raw", None, None, None),
    ],
)
def test_the_target_settles_the_canary_share(
    mode: str, requested: int | None, canary: int | None, final: int | None
) -> None:
    target = Target.of(isvc(1, mode, canary_traffic_percent=requested), None)
    assert target.canary_percent == canary
    assert target.final["spec"]["predictor"].get("canaryTrafficPercent") == final

"""Reading a live InferenceService: when it is Ready, when KServe gave up, where it is.

Pure: each test hands the functions an object shaped as the API server returns it.
"""

from __future__ import annotations

from typing import Any

from mlops_suite.serving.status import (
    Readiness,
    Urls,
    model_version,
    readiness,
    storage_uri,
    urls,
)

URI = "s3://mlpipeline/registry/penguins/v3"


def live(
    *,
    generation: int = 2,
    observed: int | None = 2,
    conditions: list[dict[str, Any]] | None = None,
    **status: Any,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "metadata": {"name": "penguins", "generation": generation},
        "spec": {"predictor": {"model": {"storageUri": URI}}},
        "status": {"conditions": conditions or [], **status},
    }
    if observed is not None:
        obj["status"]["observedGeneration"] = observed
    return obj


def condition(kind: str, state: str, reason: str = "", message: str = "") -> Any:
    found = {"type": kind, "status": state}
    if reason:
        found["reason"] = reason
    if message:
        found["message"] = message
    return found


def test_ready_at_the_generation_written() -> None:
    assert readiness(live(conditions=[condition("Ready", "True")])) == Readiness(
        True, None, "Ready=True"
    )


def test_a_ready_left_over_from_the_previous_spec_does_not_count() -> None:
    state = readiness(
        live(generation=3, observed=2, conditions=[condition("Ready", "True")])
    )
    assert not state.ready and state.failure is None
    assert state.summary == (
        "KServe has not yet acted on generation 3, still reporting generation 2"
    )


def test_not_ready_yet_is_summarised_for_the_timeout_message() -> None:
    state = readiness(
        live(
            conditions=[
                condition(
                    "Ready",
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.",
                )
            ]
        )
    )
    assert state == Readiness(
        False,
        None,
        "Ready=False MinimumReplicasUnavailable: "
        "Deployment does not have minimum availability",
    )


def test_no_status_at_all_is_not_ready() -> None:
    obj = {"metadata": {"name": "penguins", "generation": 1}}
    assert readiness(obj) == Readiness(False, None, "Ready=absent")


def test_a_failed_model_load_is_a_failure_kserve_will_not_retry() -> None:
    state = readiness(
        live(
            conditions=[condition("Ready", "False")],
            modelStatus={
                "transitionStatus": "BlockedByFailedLoad",
                "lastFailureInfo": {
                    "reason": "ModelLoadFailed",
                    "message": "model.joblib could not be unpickled",
                },
            },
        )
    )
    assert not state.ready
    assert state.failure == "ModelLoadFailed: model.joblib could not be unpickled"


def test_a_failed_revision_is_a_failure() -> None:
    state = readiness(
        live(
            conditions=[
                condition("Ready", "False"),
                condition(
                    "PredictorReady", "False", "RevisionFailed", "image pull backoff"
                ),
            ]
        )
    )
    assert state.failure == "PredictorReady RevisionFailed: image pull backoff"


def test_urls_external_internal_and_the_latest_revisions_tag() -> None:
    obj = live(
        url="http://penguins.serving.example.com",
        address={"url": "http://penguins.serving.svc.cluster.local"},
        components={
            "predictor": {
                "traffic": [
                    {"revisionName": "p-1", "percent": 90, "url": "http://prev-x"},
                    {
                        "revisionName": "p-2",
                        "percent": 10,
                        "latestRevision": True,
                        "url": "http://latest-penguins",
                    },
                ]
            }
        },
    )
    assert urls(obj) == Urls(
        "http://penguins.serving.example.com",
        "http://penguins.serving.svc.cluster.local",
        "http://latest-penguins",
    )


def test_urls_not_reported_are_none() -> None:
    assert urls(live()) == Urls(None, None, None)


def test_the_version_comes_from_its_label_else_the_registry_folder() -> None:
    obj = live()
    assert storage_uri(obj) == URI
    assert model_version(obj) == "v3"
    obj["metadata"]["labels"] = {"kfp-mlops-suite.io/model-version": "v7"}
    assert model_version(obj) == "v7"
    assert model_version({"metadata": {}, "spec": {}}) is None
    assert storage_uri({"spec": {"predictor": {}}}) is None

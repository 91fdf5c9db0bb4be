"""The fake API server behind the deploy tests answers the client as a cluster does.

If the fake drifted from the Kubernetes API, the deploy tests would prove nothing; these
pin the protocol details they rely on, through the real ``kubernetes`` client.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

GROUP, VERSION, PLURAL, NS = "serving.kserve.io", "v1beta1", "inferenceservices", "ns"


def obj(storage: str = "s3://r/m/v1", **predictor: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InferenceService",
        "metadata": {"name": "m", "labels": {"team": "ml"}},
        "spec": {"predictor": {"model": {"storageUri": storage}, **predictor}},
    }


def apply(
    api: k8s.CustomObjectsApi, body: dict[str, Any], manager: str, force: bool = False
) -> dict[str, Any]:
    query = [("fieldManager", manager)] + ([("force", "true")] if force else [])
    result: dict[str, Any] = api.api_client.call_api(
        f"/apis/{GROUP}/{VERSION}/namespaces/{NS}/{PLURAL}/m",
        "PATCH",
        query_params=query,
        header_params={
            "Content-Type": "application/apply-patch+yaml",
            "Accept": "application/json",
        },
        body=body,
        response_type="object",
        _return_http_data_only=True,
    )
    return result


def status_of(exc: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body)
    return body


def test_missing_objects_are_404_status_objects(api: k8s.CustomObjectsApi) -> None:
    with pytest.raises(ApiException) as raised:
        api.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "m")
    assert raised.value.status == 404
    status = status_of(raised.value)
    assert (status["kind"], status["reason"], status["code"]) == (
        "Status",
        "NotFound",
        404,
    )
    assert status["details"]["name"] == "m"


def test_create_replace_merge_and_delete(api: k8s.CustomObjectsApi) -> None:
    created = api.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, obj())
    assert created["metadata"]["generation"] == 1
    with pytest.raises(ApiException) as raised:
        api.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, obj())
    assert raised.value.status == 409

    stale = obj("s3://r/m/v2")
    stale["metadata"]["resourceVersion"] = "1"
    with pytest.raises(ApiException) as raised:
        api.replace_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "m", stale)
    assert "has been modified" in status_of(raised.value)["message"]
    fresh = obj("s3://r/m/v2")
    fresh["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    replaced = api.replace_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "m", fresh
    )
    assert replaced["metadata"]["generation"] == 2

    merged = api.patch_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "m", {"metadata": {"labels": {"team": None}}}
    )
    assert "labels" not in merged["metadata"]
    assert merged["metadata"]["generation"] == 2, "metadata changes keep the generation"

    api.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "m")
    assert api.list_namespaced_custom_object(GROUP, VERSION, NS, PLURAL)["items"] == []


def test_server_side_apply_owns_fields_per_manager(
    fake: Any, api: k8s.CustomObjectsApi
) -> None:
    first = apply(api, obj(canaryTrafficPercent=10), "kubectl")
    again = apply(api, obj(canaryTrafficPercent=10), "kubectl")
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]

    with pytest.raises(ApiException) as raised:
        apply(api, obj(canaryTrafficPercent=100), "deployer")
    assert raised.value.status == 409
    assert 'conflict with "kubectl"' in status_of(raised.value)["message"]

    taken = apply(api, obj(canaryTrafficPercent=100), "deployer", force=True)
    assert taken["spec"]["predictor"]["canaryTrafficPercent"] == 100
    assert taken["metadata"]["generation"] == 2
    # The deployer now owns the field, so leaving it out of its next apply removes it.
    dropped = apply(api, obj(), "deployer", force=True)
    assert "canaryTrafficPercent" not in dropped["spec"]["predictor"]
    assert fake.writes()[-1].query == {"fieldManager": "deployer", "force": "true"}


def test_apply_needs_a_field_manager_and_other_patch_types_are_refused(
    api: k8s.CustomObjectsApi,
) -> None:
    with pytest.raises(ApiException) as raised:
        apply(api, obj(), "")
    assert "fieldManager" in status_of(raised.value)["message"]
    apply(api, obj(), "deployer")
    with pytest.raises(ApiException) as raised:
        api.api_client.call_api(
            f"/apis/{GROUP}/{VERSION}/namespaces/{NS}/{PLURAL}/m",
            "PATCH",
            header_params={"Content-Type": "application/strategic-merge-patch+json"},
            body={"spec": {}},
            response_type="object",
        )
    assert raised.value.status == 415


def test_status_is_a_subresource_and_readiness_follows_reads(
    fake: Any, api: k8s.CustomObjectsApi
) -> None:
    fake.ready_after = 2
    body = obj()
    body["status"] = {"url": "http://ignored"}
    apply(api, body, "deployer")
    first = api.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "m")
    assert "url" not in first.get("status", {}), "status in a main write is ignored"
    second = api.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "m")
    ready = {c["type"]: c["status"] for c in second["status"]["conditions"]}
    assert ready["Ready"] == "True"
    assert second["status"]["observedGeneration"] == 1

    patched = api.patch_namespaced_custom_object_status(
        GROUP, VERSION, NS, PLURAL, "m", {"status": {"url": "http://set-by-test"}}
    )
    assert patched["status"]["url"] == "http://set-by-test"
    assert patched["metadata"]["generation"] == 1


def test_injected_errors_come_as_status_objects(
    fake: Any, api: k8s.CustomObjectsApi
) -> None:
    fake.fail_next(500, times=2)
    for _ in range(2):
        with pytest.raises(ApiException) as raised:
            api.list_namespaced_custom_object(GROUP, VERSION, NS, PLURAL)
        assert status_of(raised.value)["reason"] == "InternalError"
    assert api.list_namespaced_custom_object(GROUP, VERSION, NS, PLURAL)["items"] == []
    assert [r.method for r in fake.requests] == ["GET", "GET", "GET"]

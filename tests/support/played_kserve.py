"""KServe's controller, played by a test against a real kube-apiserver.

The apiserver the ``apiserver`` tier starts runs no controllers, so nothing would ever
write an InferenceService's status; :class:`PlayedController` writes what KServe's
controller writes once the predictor is up, through the status subresource, so code
that waits for Ready (``deploy()``) can be run against the real API.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
MODE = "serving.kserve.io/deploymentMode"
TAG_ROUTING = "serving.kserve.io/enable-tag-routing"


@dataclass
class _Revision:
    name: str
    storage_uri: str
    template: dict[str, Any]


class PlayedController:
    """Writes the status KServe's controller would, for one namespace.

    It lists the InferenceServices every 50 ms and, for each generation it has not
    answered yet, patches the status subresource: ``observedGeneration``, the
    ``Ready``, ``PredictorReady`` and ``IngressReady`` conditions, ``url`` and
    ``address.url``. A storage URI missing from ``routes`` is a failed model load,
    reported as KServe reports one. In Serverless mode a change of the predictor
    other than ``canaryTrafficPercent`` makes a new revision; the new revision takes
    ``canaryTrafficPercent`` of the traffic while an older revision is rolled out,
    else all of it; with tag routing each revision gets its own URL (``routes`` of
    its storage URI), as Knative's tagged routes do.
    """

    def __init__(
        self, api_client: k8s.ApiClient, namespace: str, routes: dict[str, str]
    ) -> None:
        self.api = k8s.CustomObjectsApi(api_client)
        self.namespace = namespace
        self.routes = routes
        self._revisions: dict[str, list[_Revision]] = {}
        self._rolled_out: dict[str, _Revision] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> PlayedController:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self.error is not None:
            raise AssertionError(f"the played controller failed: {self.error!r}")

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                listed = self.api.list_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, PLURAL
                )
                for obj in listed["items"]:
                    status = obj.get("status") or {}
                    if (
                        status.get("observedGeneration")
                        != obj["metadata"]["generation"]
                    ):
                        self._reconcile(obj)
            except Exception as exc:  # surfaced by __exit__
                self.error = exc
                return

    def _reconcile(self, obj: dict[str, Any]) -> None:
        metadata, predictor = obj["metadata"], obj["spec"]["predictor"]
        name, annotations = metadata["name"], metadata.get("annotations") or {}
        storage_uri = predictor["model"]["storageUri"]
        status: dict[str, Any] = {
            "observedGeneration": metadata["generation"],
            "url": f"http://{name}.{self.namespace}.example.com",
        }
        if storage_uri not in self.routes:
            message = f"no model could be loaded from {storage_uri}"
            status["conditions"] = _conditions("False", "ModelLoadFailed", message)
            status["modelStatus"] = {
                "transitionStatus": "BlockedByFailedLoad",
                "lastFailureInfo": {"reason": "ModelLoadFailed", "message": message},
            }
        elif annotations.get(MODE) != "Serverless":
            status["conditions"] = _conditions("True")
            status["address"] = {"url": self.routes[storage_uri]}
        else:
            status.update(self._serverless(name, predictor, annotations))
        self.api.patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            name,
            {"status": status},
            field_manager="kserve-controller",
        )

    def _serverless(
        self, name: str, predictor: dict[str, Any], annotations: dict[str, str]
    ) -> dict[str, Any]:
        template = copy.deepcopy(predictor)
        canary = template.pop("canaryTrafficPercent", None)
        revisions = self._revisions.setdefault(name, [])
        if not revisions or revisions[-1].template != template:
            revisions.append(
                _Revision(
                    f"{name}-predictor-{len(revisions) + 1:05d}",
                    predictor["model"]["storageUri"],
                    template,
                )
            )
        latest, rolled_out = revisions[-1], self._rolled_out.get(name)
        if rolled_out is None or rolled_out is latest or canary in (None, 100):
            self._rolled_out[name] = rolled_out = latest
            shares = [(latest, 100)]
        else:
            shares = [(latest, canary), (rolled_out, 100 - canary)]
        tagged = annotations.get(TAG_ROUTING) == "true"
        traffic = []
        for revision, percent in shares:
            entry: dict[str, Any] = {
                "revisionName": revision.name,
                "percent": percent,
                "latestRevision": revision is latest,
                "tag": "latest" if revision is latest else "prev",
            }
            if tagged:
                entry["url"] = self.routes.get(revision.storage_uri)
            traffic.append(entry)
        return {
            "conditions": _conditions("True"),
            "address": {"url": self.routes.get(rolled_out.storage_uri)},
            "components": {
                "predictor": {
                    "latestCreatedRevision": latest.name,
                    "latestReadyRevision": latest.name,
                    "latestRolledoutRevision": rolled_out.name,
                    "traffic": traffic,
                }
            },
        }


def _conditions(
    state: str, reason: str | None = None, message: str | None = None
) -> list[dict[str, Any]]:
    extra = {"reason": reason, "message": message} if reason else {}
    return [
        {"type": kind, "status": state, "lastTransitionTime": "2024-01-01T00:00:00Z"}
        | (extra if kind != "IngressReady" else {})
        for kind in ("IngressReady", "PredictorReady", "Ready")
    ]

"""A hand-written fake of the Vertex AI v1 REST API on 127.0.0.1.

A fake because no Vertex AI API runs on this machine (Google offers no emulator for
it): the real ``aiplatform.PipelineJob``, ``ExperimentRun``, ``Model`` and ``Endpoint``
talk to it over REST, and the tests assert on the exact bodies Vertex AI would
receive. It knows pipeline jobs (with the task details a finished run reports: each
step's state and its ``input:``/``output:`` parameters in the execution's metadata),
Vertex ML Metadata contexts as Vertex AI Experiments use them (experiments,
experiment runs, pipeline runs: create, get, update with etag, add children), models,
endpoints and long-running operations, plus the OAuth token endpoint and the Cloud
Storage bucket lookup the SDK makes; ``schedule_fakes.py`` adds schedules. Writes to
the metadata store check the caller's permissions (:meth:`FakeVertex.deny`), as IAM
does. The tests marked ``vertex`` submit to a real project instead.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from http_fake import FakeServer, Recorded, Response

PROJECT = "demo-project"
PROJECT_NUMBER = "123456789012"
REGION = "us-central1"
# Type URL prefix of Vertex AI v1 messages packed in long-running operation results.
V1_TYPES = "type.googleapis.com/google.cloud.aiplatform.v1"


def _error(code: int, status: str, message: str) -> Response:
    return code, {"error": {"code": code, "status": status, "message": message}}


class FakeVertex(FakeServer):
    """Vertex AI v1 REST (pipeline jobs, metadata, models, endpoints, operations),
    the OAuth token endpoint, and the Cloud Storage bucket lookup.

    Every Vertex call must carry a bearer token this server can verify: a JWT signed
    by the test service account's key, or a token it issued or was told about.
    """

    def __init__(self, public_pem: bytes | None = None) -> None:
        self.public_pem = public_pem
        self.accepted_tokens: set[str] = set()
        self.pipeline_jobs: dict[str, dict[str, Any]] = {}
        self.job_states: list[str] = ["PIPELINE_STATE_SUCCEEDED"]
        self.contexts: dict[str, dict[str, Any]] = {}
        self.context_children: dict[str, list[str]] = {}
        self.task_details: list[dict[str, Any]] = []
        self.denied_permissions: set[str] = set()
        self.models: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.fail_next: Response | None = None
        self._ids = itertools.count(1001)
        super().__init__()

    def refuse_next(
        self, message: str, code: int = 400, status: str = "INVALID_ARGUMENT"
    ) -> None:
        """Answer the next authorized Vertex call with this API error."""
        self.fail_next = _error(code, status, message)

    def deny(self, permission: str) -> None:
        """Refuse every call that needs this IAM permission (as a 403).

        Args:
            permission: E.g. ``aiplatform.contexts.create``.
        """
        self.denied_permissions.add(permission)

    def report_task(
        self,
        task_name: str,
        *,
        inputs: dict[str, Any] | None = None,
        outputs: dict[str, Any] | None = None,
        state: str = "SUCCEEDED",
    ) -> None:
        """A step the pipeline run reports in its job detail once it has ended.

        Vertex AI keeps a step's parameters in its execution's metadata, as
        ``input:<name>`` and ``output:<name>``.
        """
        task_id = str(next(self._ids))
        metadata = {f"input:{k}": v for k, v in (inputs or {}).items()}
        metadata.update({f"output:{k}": v for k, v in (outputs or {}).items()})
        self.task_details.append(
            {
                "taskId": task_id,
                "taskName": task_name,
                "state": state,
                "execution": {
                    "name": f"projects/{PROJECT}/locations/{REGION}/metadataStores/"
                    f"default/executions/{task_id}",
                    "displayName": task_name,
                    "schemaTitle": "system.ContainerExecution",
                    "state": "COMPLETE" if state == "SUCCEEDED" else "FAILED",
                    "metadata": metadata,
                },
            }
        )

    def add_experiment(self, name: str) -> str:
        """An experiment someone else created (a ``system.Experiment`` context)."""
        store = f"projects/{PROJECT}/locations/{REGION}/metadataStores/default"
        context = f"{store}/contexts/{name}"
        self.contexts[context] = {
            "name": context,
            "displayName": name,
            "schemaTitle": "system.Experiment",
            "schemaVersion": "0.0.1",
            "metadata": {"experiment_deleted": False},
            "etag": "1",
        }
        return context

    def experiment_runs(self) -> dict[str, dict[str, Any]]:
        """The ``system.ExperimentRun`` contexts, by display name."""
        return {
            c["displayName"]: c
            for c in self.contexts.values()
            if c.get("schemaTitle") == "system.ExperimentRun"
        }

    def _denied(self, permission: str, resource: str) -> Response | None:
        if permission not in self.denied_permissions:
            return None
        return _error(
            403,
            "PERMISSION_DENIED",
            f"Permission '{permission}' denied on resource "
            f"'//aiplatform.googleapis.com/{resource}' (or it may not exist).",
        )

    # -- auth
    def _authorized(self, request: Recorded) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return False
        token = header.removeprefix("Bearer ")
        if token in self.accepted_tokens:
            return True
        if self.public_pem is None or token.count(".") != 2:
            return False
        from google.auth import jwt

        try:
            jwt.decode(token, certs=self.public_pem, verify=True, audience=None)
        except ValueError:
            return False
        return True

    def _token(self, request: Recorded) -> Response:
        form = parse_qs(request.body.decode())
        from google.auth import jwt

        try:
            jwt.decode(
                form["assertion"][0],
                certs=self.public_pem,
                verify=True,
                audience=f"{self.url}/token",
            )
        except (KeyError, ValueError):
            return 400, {"error": "invalid_grant"}
        token = f"ya29.fake-{next(self._ids)}"
        self.accepted_tokens.add(token)
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    # -- helpers
    def _operation(self, parent: str, response: dict[str, Any]) -> Response:
        name = f"{parent}/operations/{next(self._ids)}"
        self.operations[name] = {"name": name, "done": True, "response": response}
        return 200, {"name": name, "done": False}

    def handle(self, request: Recorded) -> Response:
        path, method = request.path, request.method
        if path == "/token" and method == "POST":
            return self._token(request)
        bucket = re.fullmatch(r"/storage/v1/b/([^/]+)", path)
        if bucket:
            return 200, {
                "name": bucket.group(1),
                "kind": "storage#bucket",
                "projectNumber": PROJECT_NUMBER,
            }
        if not self._authorized(request):
            return _error(401, "UNAUTHENTICATED", "missing or invalid bearer token")
        if self.fail_next is not None:
            failure, self.fail_next = self.fail_next, None
            return failure
        path = re.sub(r"^/(v1|v1beta1|ui)/", "", path)
        for pattern, handler in self._routes():
            match = re.fullmatch(pattern, f"{method} {path}")
            if match:
                return handler(request, *match.groups())
        return _error(404, "NOT_FOUND", f"fake Vertex has no route {method} {path}")

    def _routes(self) -> list[tuple[str, Callable[..., Response]]]:
        loc = r"(projects/[^/]+/locations/[^/]+)"
        return [
            (
                r"GET projects/-/serviceAccounts/[^/]+/allowedLocations",
                lambda r: (200, {"locations": [], "encodedLocations": "0x0"}),
            ),
            (rf"POST {loc}/pipelineJobs", self._create_job),
            (rf"GET ({loc}/pipelineJobs/[^/]+)", self._get_job),
            (rf"GET ({loc}/metadataStores/default)", self._get_store),
            (rf"GET ({loc}/metadataStores/default/contexts/[^/:]+)", self._get_context),
            (rf"POST ({loc}/metadataStores/default)/contexts", self._create_context),
            (
                rf"PATCH ({loc}/metadataStores/default/contexts/[^/:]+)",
                self._update_context,
            ),
            (
                rf"POST ({loc}/metadataStores/default/contexts/[^/:]+)"
                r":addContextChildren",
                self._add_context_children,
            ),
            (
                rf"GET ({loc}/metadataStores/default/executions/[^/:]+)",
                lambda r, name, _loc: _error(404, "NOT_FOUND", f"{name} not found"),
            ),
            (r"GET (.+/operations/[^/]+)", self._get_operation),
            (rf"POST {loc}/models:upload", self._upload_model),
            (rf"GET ({loc}/models/[^/@]+)(?:@([^/]+))?", self._get_model),
            (rf"GET {loc}/endpoints", self._list_endpoints),
            (rf"POST {loc}/endpoints", self._create_endpoint),
            (rf"GET ({loc}/endpoints/[^/:]+)", self._get_endpoint),
            (rf"POST ({loc}/endpoints/[^/:]+):deployModel", self._deploy_model),
        ]

    # -- pipeline jobs
    def _create_job(self, request: Recorded, parent: str) -> Response:
        job_id = request.query["pipelineJobId"][0]
        job = {
            **request.json,
            "name": f"{parent}/pipelineJobs/{job_id}",
            "state": "PIPELINE_STATE_PENDING",
            "createTime": "2024-05-01T12:00:00Z",
        }
        self.pipeline_jobs[job["name"]] = job
        return 200, job

    def _get_job(self, request: Recorded, name: str, parent: str) -> Response:
        if name not in self.pipeline_jobs:
            return _error(404, "NOT_FOUND", f"{name} not found")
        job = self.pipeline_jobs[name]
        job["state"] = (
            self.job_states.pop(0) if len(self.job_states) > 1 else self.job_states[0]
        )
        run_context = (
            f"{parent}/metadataStores/default/contexts/{name.rsplit('/', 1)[1]}"
        )
        job["jobDetail"] = {
            "pipelineRunContext": {
                "name": run_context,
                "schemaTitle": "system.PipelineRun",
            }
        }
        if job["state"] in ("PIPELINE_STATE_SUCCEEDED", "PIPELINE_STATE_FAILED"):
            job["jobDetail"]["taskDetails"] = self.task_details
        return 200, job

    # -- metadata (Vertex AI Experiments)
    def _get_store(self, request: Recorded, name: str, parent: str) -> Response:
        return 200, {"name": name}

    def _get_context(self, request: Recorded, name: str, parent: str) -> Response:
        if name in self.contexts:
            return 200, self.contexts[name]
        return _error(404, "NOT_FOUND", f"{name} not found")

    def _create_context(self, request: Recorded, store: str, parent: str) -> Response:
        refused = self._denied("aiplatform.contexts.create", store)
        if refused:
            return refused
        name = f"{store}/contexts/{request.query['contextId'][0]}"
        if name in self.contexts:
            return _error(409, "ALREADY_EXISTS", f"{name} already exists")
        self.contexts[name] = {**request.json, "name": name, "etag": "1"}
        return 200, self.contexts[name]

    def _update_context(self, request: Recorded, name: str, parent: str) -> Response:
        refused = self._denied("aiplatform.contexts.update", name)
        if refused:
            return refused
        if name not in self.contexts:
            return _error(404, "NOT_FOUND", f"{name} not found")
        stored, body = self.contexts[name], request.json
        # Vertex ML Metadata refuses an update made from a stale copy.
        if body.get("etag") and body["etag"] != stored["etag"]:
            return _error(
                409,
                "ABORTED",
                f"Specified Context `etag`: `{body['etag']}` does not match server "
                f"`etag`: `{stored['etag']}`",
            )
        stored.update({k: v for k, v in body.items() if k not in ("name", "etag")})
        stored["etag"] = str(int(stored["etag"]) + 1)
        return 200, stored

    def _add_context_children(
        self, request: Recorded, name: str, parent: str
    ) -> Response:
        refused = self._denied("aiplatform.contexts.addContextChildren", name)
        if refused:
            return refused
        children = self.context_children.setdefault(name, [])
        children.extend(
            c for c in request.json.get("childContexts", []) if c not in children
        )
        return 200, {}

    def _get_operation(self, request: Recorded, name: str) -> Response:
        if name not in self.operations:
            return _error(404, "NOT_FOUND", f"{name} not found")
        return 200, self.operations[name]

    # -- models
    def _upload_model(self, request: Recorded, parent: str) -> Response:
        body = request.json
        if body.get("parentModel"):
            name = body["parentModel"]
            if name not in self.models:
                return _error(404, "NOT_FOUND", f"{name} not found")
        else:
            name = f"{parent}/models/{body.get('modelId') or next(self._ids)}"
            if name in self.models:
                return _error(409, "ALREADY_EXISTS", f"{name} already exists")
            self.models[name] = {"versions": {}}
        version = str(len(self.models[name]["versions"]) + 1)
        self.models[name]["versions"][version] = {
            **body["model"],
            "name": name,
            "versionId": version,
            "supportedDeploymentResourcesTypes": ["DEDICATED_RESOURCES"],
        }
        return self._operation(
            name,
            {
                "@type": f"{V1_TYPES}.UploadModelResponse",
                "model": name,
                "modelVersionId": version,
            },
        )

    def _get_model(
        self, request: Recorded, name: str, parent: str, version: str | None
    ) -> Response:
        versions = self.models.get(name, {}).get("versions", {})
        wanted = version or str(len(versions))  # no version: the newest one
        if wanted not in versions:
            return _error(404, "NOT_FOUND", f"{name}@{version} not found")
        return 200, versions[wanted]

    # -- endpoints
    def _list_endpoints(self, request: Recorded, parent: str) -> Response:
        wanted = re.search(
            r'display_name="([^"]*)"', request.query.get("filter", [""])[0]
        )
        found = [
            e
            for e in self.endpoints.values()
            if wanted is None or e["displayName"] == wanted.group(1)
        ]
        return 200, {"endpoints": found}

    def _create_endpoint(self, request: Recorded, parent: str) -> Response:
        name = f"{parent}/endpoints/{next(self._ids)}"
        self.endpoints[name] = {
            **request.json,
            "name": name,
            "deployedModels": [],
            "trafficSplit": {},
        }
        return self._operation(
            name,
            {
                "@type": f"{V1_TYPES}.Endpoint",
                **self.endpoints[name],
            },
        )

    def _get_endpoint(self, request: Recorded, name: str, parent: str) -> Response:
        if name not in self.endpoints:
            return _error(404, "NOT_FOUND", f"{name} not found")
        return 200, self.endpoints[name]

    def _deploy_model(self, request: Recorded, name: str, parent: str) -> Response:
        endpoint = self.endpoints[name]
        deployed = {**request.json["deployedModel"], "id": str(next(self._ids))}
        endpoint["deployedModels"].append(deployed)
        split = {
            (deployed["id"] if key == "0" else key): value
            for key, value in request.json.get("trafficSplit", {}).items()
        }
        endpoint["trafficSplit"] = split
        return self._operation(
            name,
            {
                "@type": f"{V1_TYPES}.DeployModelResponse",
                "deployedModel": deployed,
            },
        )


class FakeMetadataServer(FakeServer):
    """Stands in for the GCE metadata server: always 404, never "Metadata-Flavor"."""

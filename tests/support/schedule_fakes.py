"""Schedule routes for the fake KFP and Vertex AI API servers.

The servers themselves live in ``kfp_fake.py`` and ``vertex_fake.py`` (the loopback
guard and the isolated Google environment in ``tests/ops/conftest.py``); this module
only teaches a running fake the endpoints that create schedules, so the real
``kfp.Client`` and
``aiplatform.PipelineJob.create_schedule`` can be tested against them:

* KFP v2beta1: ``POST /apis/v2beta1/recurringruns`` (and ``GET .../{id}``),
  validated as the KFP API server does (name, experiment, 1-10 concurrency,
  a cron or a periodic trigger);
* Vertex AI v1: ``POST projects/*/locations/*/schedules`` (and ``GET``), which
  takes a Schedule holding a ``createPipelineJobRequest``.
"""

from __future__ import annotations

import itertools
import re
import uuid
from typing import Any

Response = tuple[int, Any]

RECURRING_RUNS = "/apis/v2beta1/recurringruns"


class KfpRecurringRuns:
    """Adds the recurring-run endpoints to a running ``FakeKfp``.

    Attributes:
        created: Recurring runs by ID, as the server stored them.
        refuse: When set, every create is refused with this message (400).
    """

    def __init__(self, server: Any) -> None:
        self.server = server
        self.created: dict[str, dict[str, Any]] = {}
        self.refuse: str | None = None
        fallback = server.handle

        def handle(request: Any) -> Response:
            answer = self._route(request)
            return answer if answer is not None else fallback(request)

        # The fake's request handler looks ``handle`` up on the instance.
        server.handle = handle

    def _route(self, request: Any) -> Response | None:
        if (request.method, request.path) == ("POST", RECURRING_RUNS):
            return self._create(request.json)
        match = re.fullmatch(rf"{RECURRING_RUNS}/([^/]+)", request.path)
        if request.method == "GET" and match:
            found = self.created.get(match.group(1))
            if found is None:
                return _kfp_error(404, f"recurring run {match.group(1)} not found")
            return 200, found
        return None

    def _create(self, body: dict[str, Any]) -> Response:
        if self.refuse:
            return _kfp_error(400, self.refuse)
        if not body.get("display_name"):
            return _kfp_error(400, "Recurring run name is empty")
        if body.get("experiment_id") not in self.server.experiments:
            return _kfp_error(400, f"experiment {body.get('experiment_id')} not found")
        concurrency = int(body.get("max_concurrency") or 0)
        if not 1 <= concurrency <= 10:
            return _kfp_error(
                400,
                "Max concurrency of a recurring run must be at least 1 and at most "
                f"10. Received {concurrency}",
            )
        trigger = body.get("trigger") or {}
        if not (trigger.get("cron_schedule") or trigger.get("periodic_schedule")):
            return _kfp_error(400, "a trigger is required")
        run_id = str(uuid.uuid4())
        enabled = body.get("mode") == "ENABLE"
        self.created[run_id] = {
            **body,
            "recurring_run_id": run_id,
            "status": "ENABLED" if enabled else "DISABLED",
            "created_at": "2024-05-01T12:00:00Z",
        }
        return 200, self.created[run_id]


def _kfp_error(code: int, message: str) -> Response:
    return code, {"error": message, "code": 3 if code == 400 else 5, "message": message}


class VertexSchedules:
    """Adds the v1 Schedule endpoints to a running ``FakeVertex``.

    Attributes:
        created: Schedules by resource name, as the server stored them.
    """

    def __init__(self, server: Any) -> None:
        self.server = server
        self.created: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(7001)
        routes = server._routes
        loc = r"(projects/[^/]+/locations/[^/]+)"
        mine = [
            (rf"POST {loc}/schedules", self._create),
            (rf"GET ({loc}/schedules/[^/:]+)", self._get),
        ]
        # FakeVertex.handle asks the instance for its routes on every request.
        server._routes = lambda: [*mine, *routes()]

    def _create(self, request: Any, parent: str) -> Response:
        body = request.json
        job_request = body.get("createPipelineJobRequest") or {}
        if not body.get("cron") or not job_request.get("pipelineJob"):
            return _vertex_error(400, "cron and createPipelineJobRequest are required")
        if job_request.get("parent") != parent:
            return _vertex_error(400, f"parent must be {parent}")
        name = f"{parent}/schedules/{next(self._ids)}"
        self.created[name] = {
            **body,
            "name": name,
            "state": "ACTIVE",
            "createTime": "2024-05-01T12:00:00Z",
            "nextRunTime": "2024-05-02T03:00:00Z",
        }
        return 200, self.created[name]

    def _get(self, request: Any, name: str, parent: str) -> Response:
        if name not in self.created:
            return _vertex_error(404, f"{name} not found")
        return 200, self.created[name]


def _vertex_error(code: int, message: str) -> Response:
    status = "INVALID_ARGUMENT" if code == 400 else "NOT_FOUND"
    return code, {"error": {"code": code, "status": status, "message": message}}

"""A hand-written fake of the Kubeflow Pipelines v2beta1 REST API on 127.0.0.1.

Kept only because no real KFP API server runs on this machine: the real
``kfp.Client`` talks to it over HTTP, and the tests assert on the exact bodies a real
backend would receive. It knows healthz, experiments and runs (the spec sent inline);
``schedule_fakes.py`` adds recurring runs. The tests marked ``kind`` submit to a real
Kubeflow Pipelines instead.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from http_fake import FakeServer, Recorded, Response


class FakeKfp(FakeServer):
    """The KFP v2beta1 REST API: healthz, experiments, runs (spec sent inline)."""

    def __init__(self) -> None:
        self.experiments: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        # States returned by successive GET /runs/{id}; the last one repeats.
        self.run_states: list[str] = ["SUCCEEDED"]
        self.refuse_runs: str | None = None
        super().__init__()

    def add_experiment(self, name: str) -> str:
        experiment_id = str(uuid.uuid4())
        self.experiments[experiment_id] = {
            "experiment_id": experiment_id,
            "display_name": name,
            "storage_state": "AVAILABLE",
        }
        return experiment_id

    def handle(self, request: Recorded) -> Response:
        route = (request.method, request.path)
        if route == ("GET", "/apis/v2beta1/healthz"):
            return 200, {"multi_user": False}
        if route == ("GET", "/apis/v2beta1/experiments"):
            wanted = None
            if "filter" in request.query:
                predicates = json.loads(request.query["filter"][0])["predicates"]
                wanted = next(
                    p["stringValue"] for p in predicates if p["key"] == "display_name"
                )
            found = [
                e
                for e in self.experiments.values()
                if wanted is None or e["display_name"] == wanted
            ]
            return 200, (
                {"experiments": found, "total_size": len(found)} if found else {}
            )
        if route == ("POST", "/apis/v2beta1/experiments"):
            experiment_id = self.add_experiment(request.json["display_name"])
            return 200, self.experiments[experiment_id]
        if route == ("POST", "/apis/v2beta1/runs"):
            if self.refuse_runs:
                return 400, {
                    "error": self.refuse_runs,
                    "code": 3,
                    "message": self.refuse_runs,
                }
            run_id = str(uuid.uuid4())
            self.runs[run_id] = {**request.json, "run_id": run_id, "state": "PENDING"}
            return 200, self.runs[run_id]
        match = re.fullmatch(r"/apis/v2beta1/runs/([^/]+)", request.path)
        if request.method == "GET" and match and match.group(1) in self.runs:
            state = (
                self.run_states.pop(0)
                if len(self.run_states) > 1
                else self.run_states[0]
            )
            self.runs[match.group(1)]["state"] = state
            return 200, self.runs[match.group(1)]
        return 404, {"error": "not found", "code": 5, "message": f"no route {route}"}

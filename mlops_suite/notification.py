"""Notifications: tell a webhook how a pipeline run ended.

A run's end is one JSON message POSTed to the ``notify_url`` the run was given: a
Slack-compatible ``text`` (an incoming webhook shows it as it is) and the same facts as
fields, for receivers that read them: ``pipeline``, ``run_id``, ``status``
(``succeeded``/``failed``), ``decision``, ``reason``, ``model_name``, ``version``,
``failed_step`` and ``reports`` (where to look).

Two senders build it with :class:`RunEnd`:

* the pipelines' exit step (``notify``, in the pipeline's ``dsl.ExitHandler``), which
  KFP and Vertex AI run however the steps end. KFP gives an exit step no outputs of the
  steps it guards, only their final status, so it reads what the run did from the
  registry: its history (the events whose actor is the run id) and, for a run that
  registered nothing, the decisions its gate and retraining steps recorded
  (:mod:`mlops_suite.registry.runs`), see :func:`run_end_from_history`;
* ``mlops run``, which knows the run's outputs and its step log
  (:mod:`mlops_suite.ops.local_pipelines`).

A webhook that fails or cannot be reached never fails the run: :func:`send` logs one
line and returns False.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mlops_suite.artifacts import MODEL_CARD_FILE
from mlops_suite.errors import MlopsError

if TYPE_CHECKING:
    from mlops_suite.registry import Event
    from mlops_suite.registry.runs import RunDecision

_log = logging.getLogger(__name__)

SUCCEEDED = "succeeded"
FAILED = "failed"

# What the run decided, as the message's "decision".
APPROVED = "approved"  # a new version is the champion
PENDING_APPROVAL = "pending"  # a new version waits for a person
REJECTED = "rejected"  # the gate did not approve the candidate
UNCHANGED = "unchanged"  # the candidate is identical to the champion: no new version
NOT_RETRAINED = "not-retrained"  # continuous training: the data did not move
NOT_REGISTERED = "not-registered"  # exit step: no version, and no decision recorded
ROLLED_BACK = "rolled-back"  # refused candidate; the previous champion is back
NO_DECISION = "none"  # the run failed before it decided
DECISIONS = (
    APPROVED,
    PENDING_APPROVAL,
    REJECTED,
    UNCHANGED,
    NOT_RETRAINED,
    NOT_REGISTERED,
    ROLLED_BACK,
    NO_DECISION,
)

# A webhook answers in well under a second; a run does not wait on a dead one.
TIMEOUT_S = 10.0
# Vertex AI's final status names the failed tasks in its error message.
_FAILED_TASKS = re.compile(r"failed tasks are: \[([^\]]*)\]")


class NotifyUrlError(MlopsError):
    """A notify URL is not an http(s) URL."""


def check_notify_url(url: str) -> str:
    """Refuse a notify URL that is not http(s); an empty one means "do not notify".

    Args:
        url: The URL as given (CLI flag or pipeline parameter).

    Returns:
        The URL without surrounding blanks; empty when none was given.

    Raises:
        NotifyUrlError: The URL is not ``http://`` or ``https://`` with a host.
    """
    url = url.strip()
    if not url:
        return ""
    split = urlsplit(url)
    if split.scheme not in ("http", "https") or not split.hostname:
        raise NotifyUrlError(
            f"notify URL {url!r} is not an http(s) URL with a host; give the "
            "webhook's address, e.g. https://hooks.slack.com/services/..."
        )
    return url


@dataclass(frozen=True)
class RunEnd:
    """How a run ended, as a notification tells it.

    Attributes:
        pipeline: The pipeline's name, e.g. ``mlops-training``.
        run_id: The run: its id on a cluster, the run folder's name locally.
        status: ``succeeded`` or ``failed``.
        decision: One of :data:`DECISIONS`.
        reason: Why, in the words of the step that decided (or failed).
        model_name: The registered model's name.
        version: The version the run registered (or found identical), else None.
        failed_step: The step that failed, when a step did and it is known.
        reports: Where to look: report files, the log, the model card, the run.
    """

    pipeline: str
    run_id: str
    status: str
    decision: str
    reason: str
    model_name: str
    version: int | None = None
    failed_step: str | None = None
    reports: tuple[str, ...] = ()

    def text(self) -> str:
        """The message's ``text``: what happened, why, and where to look."""
        if self.status == FAILED:
            where = f" at step {self.failed_step}" if self.failed_step else ""
            lines = [f"{self.pipeline} run {self.run_id} failed{where}."]
        else:
            lines = [f"{self.pipeline} run {self.run_id} succeeded: {self._outcome()}"]
        if self.reason:
            lines.append(self.reason)
        lines += [f"See: {where}" for where in self.reports]
        return "\n".join(lines)

    def _outcome(self) -> str:
        name, version = self.model_name, self.version
        return {
            APPROVED: f"{name} v{version} is the new champion.",
            PENDING_APPROVAL: (
                f"{name} v{version} waits for a person's approval "
                "(mlops registry approve)."
            ),
            REJECTED: f"the candidate was rejected; no new version of {name}.",
            UNCHANGED: (
                f"the candidate is identical to champion v{version}; no new version."
            ),
            NOT_RETRAINED: f"no retraining needed; no new version of {name}.",
            NOT_REGISTERED: f"no new version of {name} was registered.",
        }.get(self.decision, f"decision {self.decision}.")

    def message(self) -> dict[str, Any]:
        """The JSON body POSTed to the webhook."""
        return {
            "text": self.text(),
            "pipeline": self.pipeline,
            "run_id": self.run_id,
            "status": self.status,
            "decision": self.decision,
            "reason": self.reason,
            "model_name": self.model_name,
            "version": self.version,
            "failed_step": self.failed_step,
            "reports": list(self.reports),
        }


def send(url: str, message: Mapping[str, Any], *, timeout: float = TIMEOUT_S) -> bool:
    """POST ``message`` as JSON to ``url``; a failure is logged, never raised.

    Args:
        url: The webhook (http or https); empty to send nothing.
        message: The JSON body.
        timeout: Seconds to wait for the webhook's answer.

    Returns:
        True when the webhook answered 2xx; False when nothing was sent or it failed.
    """
    if not url:
        return False
    request = urllib.request.Request(
        url,
        data=json.dumps(message).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
        return True
    except urllib.error.HTTPError as error:
        problem = f"it answered HTTP {error.code}"
    except urllib.error.URLError as error:
        problem = f"it cannot be reached: {error.reason}"
    except (OSError, ValueError, http.client.HTTPException) as error:
        problem = f"it cannot be reached: {error}"
    # The path of a webhook URL is its secret (Slack's are): name only the host.
    _log.warning(
        "mlops: the run-end notification to %s was not delivered (%s); the run's "
        "outcome stands.",
        _host(url),
        problem,
    )
    return False


def _host(url: str) -> str:
    split = urlsplit(url)
    return f"{split.scheme}://{split.netloc.rpartition('@')[2]}"


def failed_step_of(error_message: str) -> str | None:
    """The failed step named in a final status's error message, if it names one.

    Vertex AI writes ``The DAG failed because some tasks failed. The failed tasks
    are: [train-model].``; Kubeflow Pipelines and kfp.local name only the exit
    handler's group, which is no step.

    Args:
        error_message: The final status's ``error_message`` (may be empty).

    Returns:
        The failed tasks (comma-separated when several), or None.
    """
    found = _FAILED_TASKS.search(error_message or "")
    names = found.group(1).strip() if found else ""
    return names or None


def run_end_from_history(
    *,
    pipeline: str,
    run_id: str,
    state: str,
    error_message: str,
    model_name: str,
    events: Iterable[Event],
    job: str = "",
    decisions: Mapping[str, RunDecision] | None = None,
) -> RunEnd:
    """How a run ended, from its final status and what it recorded in the registry.

    The registration step records a ``registered`` event whose actor is the run id
    and whose reason is the gate's, and the rollback step a ``rolled-back`` one with
    both scores. A run that registered nothing left no event, but its gate and its
    retraining decision recorded what they decided (``decisions``): ``rejected``,
    ``unchanged`` (identical to the champion) or ``not-retrained``, with their
    reason. Only when neither says (an older registry, a record that could not be
    read) is the decision ``not-registered``, and its steps' reports say why.

    Args:
        pipeline: The pipeline's name.
        run_id: The run's id (the actor of its registry events).
        state: The final state of the steps: ``SUCCEEDED``, ``FAILED`` or
            ``CANCELLED``.
        error_message: The final status's error message (may be empty).
        model_name: The registered model's name.
        events: The model's history (empty when it could not be read).
        job: The run's resource name, where its reports are.
        decisions: What the run's steps recorded, by step
            (:meth:`~mlops_suite.registry.runs.RunRecords.read`); None or empty
            when nothing was recorded or it could not be read.

    Returns:
        The run's end.
    """
    from mlops_suite.registry.history import PENDING, REGISTERED
    from mlops_suite.registry.history import ROLLED_BACK as ROLLED_BACK_EVENT
    from mlops_suite.registry.runs import APPROVAL_STEP, RETRAINING_STEP

    ran = partial(RunEnd, pipeline=pipeline, run_id=run_id, model_name=model_name)
    reports = (job,) if job else ()
    if state != "SUCCEEDED":
        if state == "CANCELLED":
            reason = "The run was cancelled."
        else:
            reason = error_message.strip() or "A step failed; its log says why."
        return ran(
            status=FAILED,
            decision=NO_DECISION,
            reason=reason,
            failed_step=failed_step_of(error_message),
            reports=reports,
        )
    events = list(events)
    rolled = [e for e in events if e.actor == run_id and e.event == ROLLED_BACK_EVENT]
    if rolled:
        return ran(
            status=SUCCEEDED,
            decision=ROLLED_BACK,
            reason=rolled[-1].reason,
            version=rolled[-1].version,
            reports=reports,
        )
    mine = [e for e in events if e.actor == run_id and e.event == REGISTERED]
    # The gate's verdict says more than the retraining decision it followed.
    recorded = [
        (decisions or {}).get(step) for step in (APPROVAL_STEP, RETRAINING_STEP)
    ]
    said = next(
        (
            d
            for d in recorded
            if d is not None and d.decision in (REJECTED, UNCHANGED, NOT_RETRAINED)
        ),
        None,
    )
    if not mine and said is not None:
        return ran(
            status=SUCCEEDED,
            decision=said.decision,
            reason=said.reason,
            # "identical to champion v<N>": the version the run found unchanged.
            version=said.champion_version if said.decision == UNCHANGED else None,
            reports=reports,
        )
    if not mine:
        return ran(
            status=SUCCEEDED,
            decision=NOT_REGISTERED,
            reason=(
                "This run registered no version: the gate did not approve the "
                "candidate, it was identical to the champion, or (continuous "
                "training) the data did not call for retraining; the run's reports "
                "say which."
            ),
            reports=reports,
        )
    registered = mine[-1]
    pending = registered.details.get("status") == PENDING
    return ran(
        status=SUCCEEDED,
        decision=PENDING_APPROVAL if pending else APPROVED,
        reason=registered.reason,
        version=registered.version,
        reports=reports,
    )


def notify_run_end(
    notify_url: str,
    *,
    pipeline: str,
    run_id: str,
    final_status: Mapping[str, Any],
    registry_uri: str,
    model_name: str,
) -> bool:
    """The exit step's work: read what the run did, and tell the webhook.

    Nothing here fails the run: a bad URL, an unreadable registry or a webhook that
    does not answer are logged in one line.

    Args:
        notify_url: The webhook; empty to do nothing.
        pipeline: The pipeline's name.
        run_id: The run's id, the actor of the events its registration recorded.
        final_status: ``state``, ``error_message`` and ``pipeline_job_resource_name``
            of the steps' final status (``dsl.PipelineTaskFinalStatus``).
        registry_uri: The model registry.
        model_name: The registered model's name.

    Returns:
        True when the webhook received the message.
    """
    try:
        url = check_notify_url(notify_url)
    except NotifyUrlError as error:
        _log.warning("mlops: no run-end notification: %s", error)
        return False
    if not url:
        return False
    from mlops_suite.registry import ModelRegistry

    registry: ModelRegistry | None = None
    events: list[Event] = []
    decisions: dict[str, RunDecision] = {}
    try:
        registry = ModelRegistry(registry_uri)
        events = registry.events.read(model_name)
    except Exception as error:  # the notification goes out whatever the registry says
        _log.warning("mlops: could not read the registry's history: %s", error)
    else:
        try:
            decisions = registry.runs.read(model_name, run_id)
        except Exception as error:  # then the message says only "not-registered"
            _log.warning("mlops: could not read the run's decisions: %s", error)
    end = run_end_from_history(
        pipeline=pipeline,
        run_id=run_id,
        state=str(final_status.get("state") or ""),
        error_message=str(final_status.get("error_message") or ""),
        model_name=model_name,
        events=events,
        job=str(final_status.get("pipeline_job_resource_name") or ""),
        decisions=decisions,
    )
    if registry is not None and end.version is not None:
        card = f"{registry.version_uri(model_name, end.version)}/{MODEL_CARD_FILE}"
        end = replace(end, reports=(card, *end.reports))
    return send(url, end.message())

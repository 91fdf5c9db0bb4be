"""The rollout of one InferenceService: apply, wait, smoke, promote, or restore.

:func:`run_rollout` takes a :class:`~mlops_suite.serving.target.Target` (what to
apply) and a :class:`Cluster` (the live object's read and server-side apply;
:class:`~mlops_suite.serving.kube.InferenceServiceApi` in production) and:

1. reads what is there now; when it already serves this spec and is Ready, it writes
   nothing and reports ``unchanged``;
2. applies the object, so re-running a pipeline is idempotent;
3. waits for the ``Ready`` condition of the generation it wrote (a ``Ready`` left over
   from the previous spec does not count), failing early when KServe reports a failed
   load or revision;
4. sends a smoke request to the service URL;
5. Serverless only, when a version was already serving: the new revision first gets
   ``canaryTrafficPercent`` of the traffic (10 unless the object says otherwise) while
   it is checked, and is promoted to 100 % once the smoke request passes.

On any failure after the first write, the previous object (spec, labels and
annotations) is applied again, so the version that was serving keeps serving, and a
:class:`~mlops_suite.errors.DeploymentError` says in one sentence which
InferenceService, what failed and what was restored. Deleting is never needed (the
deploy Role in ``manifests/base/rbac.yaml`` grants get, create, patch but no delete).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from mlops_suite.errors import DeploymentError, last_clause
from mlops_suite.serving.kube import ApiFailure
from mlops_suite.serving.status import (
    model_version,
    readiness,
    storage_uri,
    urls,
)
from mlops_suite.serving.target import Target, contains, managed

Action = Literal["created", "unchanged", "updated", "promoted", "rolled_back"]
Smoke = Callable[[str], object]


@dataclass(frozen=True)
class DeployResult:
    """What a rollout did.

    Attributes:
        action: ``created`` (nothing served before), ``unchanged`` (this spec was
            already serving; nothing written), ``updated`` (RawDeployment rolled to
            the new version), ``promoted`` (Serverless canary passed and now takes all
            traffic) or ``rolled_back`` (only on
            :attr:`DeploymentRolledBack.result`).
        name: InferenceService name.
        namespace: Its namespace.
        model_version: The version label of what is serving now (``v<N>``).
        storage_uri: The ``storageUri`` serving now.
        url: ``status.url`` (the external URL; may need the ingress to resolve).
        internal_url: ``status.address.url`` (the in-cluster address), if reported.
        smoke_url: The URL the smoke request was sent to, if one was.
        previous_model_version: What served before this call, if anything.
        previous_storage_uri: Its ``storageUri``.
    """

    action: Action
    name: str
    namespace: str
    model_version: str | None
    storage_uri: str | None
    url: str | None = None
    internal_url: str | None = None
    smoke_url: str | None = None
    previous_model_version: str | None = None
    previous_storage_uri: str | None = None


class DeploymentRolledBack(DeploymentError):
    """The new version failed and the previous one was restored and is Ready again."""

    def __init__(self, message: str, result: DeployResult) -> None:
        super().__init__(message)
        self.result = result


class Cluster(Protocol):
    """The live InferenceService a rollout works on; failures raise ``ApiFailure``."""

    def get(self) -> dict[str, Any] | None:
        """The live object, or ``None`` when it does not exist."""
        ...

    def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply ``manifest``; return the object as stored."""
        ...


class _StepFailed(Exception):
    """A rollout step failed; ``str()`` is a clause for a sentence."""


def run_rollout(
    target: Target,
    cluster: Cluster,
    *,
    timeout_s: float,
    poll_s: float,
    smoke: Smoke | None,
    prefer_internal_url: bool,
) -> DeployResult:
    """Roll ``target`` out on ``cluster``, smoke it, restore the previous on failure.

    Args:
        target: What to serve (see :meth:`Target.of`).
        cluster: The live object's read and apply.
        timeout_s: How long each step (new version, promotion, rollback) may take to
            become Ready.
        poll_s: Seconds between reads while waiting.
        smoke: Called with the service URL once Ready; raises on a bad answer.
        prefer_internal_url: Smoke ``status.address.url`` rather than ``status.url``
            when both are known.

    Returns:
        What was done and where the model is served.

    Raises:
        DeploymentRolledBack: The new version failed and the previous one serves.
        DeploymentError: Any other failure, in one sentence.
    """
    try:
        previous = cluster.get()
    except ApiFailure as failure:
        raise DeploymentError(
            f"Cannot deploy {target.version} to {target.where}: {failure}; nothing "
            "was changed."
        ) from failure
    rollout = _Rollout(
        cluster=cluster,
        target=target,
        previous=previous,
        timeout_s=timeout_s,
        poll_s=poll_s,
        smoke=smoke,
        prefer_internal_url=prefer_internal_url,
    )
    if previous is not None and contains(managed(previous), target.final):
        return rollout.confirm_unchanged()
    return rollout.run()


class _Rollout:
    """One rollout: apply, wait, smoke, promote, and restore on failure."""

    def __init__(
        self,
        *,
        cluster: Cluster,
        target: Target,
        previous: dict[str, Any] | None,
        timeout_s: float,
        poll_s: float,
        smoke: Smoke | None,
        prefer_internal_url: bool,
    ) -> None:
        self.cluster = cluster
        self.target = target
        self.previous = previous
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.smoke = smoke
        self.prefer_internal_url = prefer_internal_url
        self.previous_version = (
            model_version(previous) if previous is not None else None
        )

    def run(self) -> DeployResult:
        target = self.target
        canary = (
            target.mode == "serverless"
            and target.canary_percent is not None
            and self.previous is not None
            and readiness(self.previous).ready
        )
        try:
            if canary:
                trial = copy.deepcopy(target.final)
                trial["spec"]["predictor"]["canaryTrafficPercent"] = (
                    target.canary_percent
                )
                self.cluster.apply(trial)
                ready = self._wait_ready()
                smoke_url = self._smoke(ready, canary=True)
                self.cluster.apply(target.final)
                ready = self._wait_ready()
                action: Action = "promoted"
            else:
                self.cluster.apply(target.final)
                ready = self._wait_ready()
                smoke_url = self._smoke(ready, canary=False)
                action = "created" if self.previous is None else "updated"
        except (_StepFailed, ApiFailure) as failure:
            raise self._recover(str(failure)) from failure
        return self._result(action, ready, smoke_url)

    def confirm_unchanged(self) -> DeployResult:
        """The live object already holds this spec: write nothing, only check it."""
        try:
            ready = self._wait_ready()
            smoke_url = self._smoke(ready, canary=False)
        except (_StepFailed, ApiFailure) as failure:
            raise DeploymentError(
                f"{self.target.where} already holds {self.target.version} but "
                f"{failure}; nothing was changed."
            ) from failure
        return self._result("unchanged", ready, smoke_url)

    def _result(
        self, action: Action, ready: Mapping[str, Any], smoke_url: str | None
    ) -> DeployResult:
        found = urls(ready)
        previous = self.previous
        return DeployResult(
            action=action,
            name=self.target.name,
            namespace=self.target.namespace,
            model_version=model_version(ready),
            storage_uri=storage_uri(ready),
            url=found.external,
            internal_url=found.internal,
            smoke_url=smoke_url,
            previous_model_version=self.previous_version,
            previous_storage_uri=storage_uri(previous) if previous else None,
        )

    def _wait_ready(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_s
        last_state = "no status yet"
        last_error = ""
        while True:
            try:
                live = self.cluster.get()
            except ApiFailure as failure:
                if not failure.transient:
                    raise
                last_error = str(failure)
            else:
                if live is None:
                    raise _StepFailed("it was deleted while waiting for Ready")
                state = readiness(live)
                last_state = state.summary
                if state.failure:
                    raise _StepFailed(
                        f"KServe reports the rollout failed ({state.failure})"
                    )
                if state.ready:
                    return live
                last_error = ""
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                also = f"; last API error: {last_error}" if last_error else ""
                raise _StepFailed(
                    f"it timed out after {self.timeout_s:g} s waiting for Ready "
                    f"(last state: {last_state}{also})"
                )
            time.sleep(min(self.poll_s, remaining))

    def _smoke(self, ready: Mapping[str, Any], *, canary: bool) -> str | None:
        if self.smoke is None:
            return None
        found = urls(ready)
        url = found.tagged if canary and found.tagged else None
        url = url or (
            found.internal
            if self.prefer_internal_url and found.internal
            else found.external
        )
        url = url or found.internal
        if not url:
            raise _StepFailed(
                "it became Ready without reporting a URL (status.url, "
                "status.address.url) to send the smoke request to"
            )
        try:
            self.smoke(url)
        except Exception as exc:  # the check is the caller's: any failure fails it
            raise _StepFailed(
                f"the smoke request to {url} failed ({last_clause(exc)})"
            ) from exc
        return url

    def _recover(self, reason: str) -> DeploymentError:
        target = self.target
        head = f"Deploying {target.version} to {target.where} failed: {reason}"
        if self.previous is None:
            try:
                exists = self.cluster.get() is not None
            except ApiFailure:
                exists = True
            left = (
                "the failed InferenceService is left in place for inspection"
                if exists
                else "nothing was created"
            )
            return DeploymentError(
                f"{head}; nothing was serving before, so there is no version to "
                f"restore and {left}."
            )
        try:
            restored, rewritten = self._restore(self.previous)
        except (_StepFailed, ApiFailure) as failure:
            return DeploymentError(
                f"{head}; restoring {self.previous_version} also failed: {failure}."
            )
        outcome = (
            "was restored and is serving again"
            if rewritten
            else "keeps serving, the InferenceService was not changed"
        )
        return DeploymentRolledBack(
            f"{head}; {self.previous_version} {outcome}.",
            self._result("rolled_back", restored, None),
        )

    def _restore(self, previous: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """Apply the previous object again, without a window for the failed one.

        Returns:
            The Ready object, and whether anything had to be written.
        """
        wanted = managed(previous)
        live = self.cluster.get()
        if live is not None and managed(live) == wanted:
            # The failed step never changed the object (the apply itself failed).
            return self._wait_ready(), False
        if self.target.mode == "serverless":
            # Re-applying the old spec makes a new revision; until it is Ready the
            # latest ready revision (the failed one) would take its traffic. A 0 %
            # canary pins all traffic to the last rolled-out revision meanwhile.
            pinned = copy.deepcopy(wanted)
            pinned["spec"].setdefault("predictor", {})["canaryTrafficPercent"] = 0
            self.cluster.apply(pinned)
            self._wait_ready()
        self.cluster.apply(wanted)
        return self._wait_ready(), True

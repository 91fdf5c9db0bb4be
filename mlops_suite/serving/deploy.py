"""Roll a model version out to KServe, check it answers, keep the old one on failure.

:func:`deploy` takes an InferenceService (from
:func:`mlops_suite.serving.inference_service.build_inference_service`) and:

1. reads what is there now; when it already serves this spec and is Ready, it writes
   nothing and reports ``unchanged``;
2. server-side applies the object (``PATCH`` with ``application/apply-patch+yaml``,
   field manager ``kfp-mlops-suite``, ``force=true``), so re-running a pipeline is
   idempotent and the fields it sets are owned by this project;
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
import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
import requests
import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from mlops_suite.errors import DeploymentError
from mlops_suite.serving.inference_service import (
    API_VERSION,
    DEPLOYMENT_MODE_ANNOTATION,
    DEPLOYMENT_MODES,
    GROUP,
    KIND,
    PLURAL,
    VERSION,
    Mode,
    mode_of,
)
from mlops_suite.serving.manifests import MODEL_VERSION_LABEL

FIELD_MANAGER = "kfp-mlops-suite"
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
DEFAULT_CANARY_PERCENT = 10
FULL_TRAFFIC = 100

Action = Literal["created", "unchanged", "updated", "promoted", "rolled_back"]
Smoke = Callable[[str], object]

# KServe gives up on these by itself; anything else may still converge, so keep waiting.
_FAILED_TRANSITIONS = frozenset({"BlockedByFailedLoad", "InvalidSpec"})
_FAILED_REASONS = frozenset(
    {"RevisionFailed", "ProgressDeadlineExceeded", "InvalidSpec", "ModelLoadFailed"}
)
_READY_CONDITIONS = ("Ready", "PredictorReady")
# Worth another poll while waiting: the API server or its proxy was briefly unhappy.
_TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
# Written by `kubectl apply`; re-applying it would freeze a stale copy of the object.
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_IN_CLUSTER_ENV = "KUBERNETES_SERVICE_HOST"


@dataclass(frozen=True)
class DeployResult:
    """What :func:`deploy` did.

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


class _ApiFailure(Exception):
    """A Kubernetes API call failed; ``str()`` is a clause for a sentence."""

    def __init__(self, text: str, *, transient: bool) -> None:
        super().__init__(text)
        self.transient = transient


class _StepFailed(Exception):
    """A rollout step failed; ``str()`` is a clause for a sentence."""


def deploy(
    isvc: Mapping[str, Any],
    *,
    api: k8s.CustomObjectsApi | k8s.ApiClient,
    timeout_s: float = 300,
    poll_s: float = 2,
    smoke: Smoke | None = None,
    mode: Mode | None = None,
    prefer_internal_url: bool = True,
    request_timeout_s: float = 30,
) -> DeployResult:
    """Apply an InferenceService, wait until it is Ready, smoke it, or roll back.

    Args:
        isvc: The InferenceService to serve (a dict, as built by
            :func:`~mlops_suite.serving.inference_service.build_inference_service`);
            ``metadata.namespace`` says where.
        api: A Kubernetes client (see :func:`load_kube_api`).
        timeout_s: How long to wait for each rollout step (new version, promotion,
            rollback) to become Ready.
        poll_s: Seconds between status reads.
        smoke: Called with the service URL once Ready; it raises on a bad answer.
            :func:`v1_smoke_request` through ``functools.partial`` is the usual one.
            In a Serverless canary it gets the new revision's tagged URL when KServe
            reports one (annotation ``serving.kserve.io/enable-tag-routing: "true"``),
            else the service URL, which then reaches the canary for only its share
            of the requests.
        mode: ``"raw"`` or ``"serverless"``; defaults to the object's
            ``serving.kserve.io/deploymentMode`` annotation and must agree with it.
        prefer_internal_url: Smoke ``status.address.url`` (in-cluster, what a
            pipeline step reaches) rather than ``status.url`` when both are known.
        request_timeout_s: Timeout of each Kubernetes API request.

    Returns:
        What was done and where the model is served.

    Raises:
        DeploymentRolledBack: The new version failed (timeout, failed load, API error,
            smoke request) and the previous version was restored; ``.result`` holds
            the details.
        DeploymentError: Any other failure, in one sentence naming the
            InferenceService, its namespace and what failed.
    """
    target = _Target.of(isvc, mode)
    cluster = _Cluster(api, target.namespace, target.name, request_timeout_s)
    try:
        previous = cluster.get()
    except _ApiFailure as failure:
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
    if previous is not None and _contains(_managed(previous), target.final):
        return rollout.confirm_unchanged()
    return rollout.run()


def v1_smoke_request(
    url: str,
    model_name: str,
    instances: Sequence[Any],
    expected: Sequence[Any] | None = None,
    timeout_s: float = 10.0,
) -> list[Any]:
    """Send a KServe V1 predict request and check the answer.

    Args:
        url: The service URL (``http://host[:port]``); ``/v1/models/<name>:predict``
            is appended.
        model_name: The model name KServe serves under, which is the
            InferenceService name for the stock sklearn runtime.
        instances: Rows in the V1 form (lists of feature values in training order);
            NaN and pandas' missing values are sent as ``null``.
        expected: The predictions the model must return, row by row (numbers within
            a relative 1e-6), or ``None`` to only check that there is one per row.
        timeout_s: Timeout of the HTTP request.

    Returns:
        The predictions.

    Raises:
        DeploymentError: The server is unreachable, does not answer 200, answers
            without one prediction per row, or the predictions differ from
            ``expected``.
    """
    endpoint = f"{url.rstrip('/')}/v1/models/{model_name}:predict"
    rows = [_jsonable(row) for row in instances]
    try:
        response = requests.post(
            endpoint,
            data=json.dumps({"instances": rows}, allow_nan=False),
            headers={"Content-Type": "application/json"},
            timeout=timeout_s,
        )
    except requests.RequestException as exc:
        raise DeploymentError(
            f"The smoke request to {endpoint} got no answer "
            f"({type(exc).__name__}: {_last_clause(exc)})."
        ) from exc
    if response.status_code != 200:
        raise DeploymentError(
            f"The smoke request to {endpoint} answered HTTP {response.status_code} "
            f"({_snippet(response.text)}); expected 200 with predictions."
        )
    try:
        body = response.json()
    except ValueError as exc:
        raise DeploymentError(
            f"The smoke request to {endpoint} answered 200 but not JSON "
            f"({_snippet(response.text)})."
        ) from exc
    predictions = body.get("predictions") if isinstance(body, dict) else None
    if not isinstance(predictions, list) or len(predictions) != len(rows):
        got = (
            f"{len(predictions)} predictions"
            if isinstance(predictions, list)
            else f"no 'predictions' list ({_snippet(response.text)})"
        )
        raise DeploymentError(
            f"The smoke request to {endpoint} returned {got} for {len(rows)} rows; "
            "expected one prediction per row."
        )
    if expected is not None:
        wanted = _jsonable(expected)
        if len(wanted) != len(predictions):
            raise DeploymentError(
                f"The smoke check for {endpoint} expects {len(wanted)} predictions but "
                f"sent {len(rows)} rows; pass one expected prediction per row."
            )
        pairs = zip(wanted, predictions, strict=True)
        wrong = [i for i, (w, g) in enumerate(pairs) if not _same(w, g)]
        if wrong:
            first = wrong[0]
            raise DeploymentError(
                f"The smoke request to {endpoint} returned predictions that differ "
                f"from the expected ones at {len(wrong)} of {len(rows)} rows (first: "
                f"row {first} expected {wanted[first]!r}, got {predictions[first]!r})."
            )
    return predictions


def load_kube_api(
    kubeconfig: str | os.PathLike[str] | None = None,
    context: str | None = None,
    in_cluster: bool | None = None,
) -> k8s.CustomObjectsApi:
    """A Kubernetes client: the pod's service account inside a cluster, else kubeconfig.

    Args:
        kubeconfig: Kubeconfig file; defaults to ``$KUBECONFIG`` or ``~/.kube/config``.
        context: Kubeconfig context; defaults to its current context.
        in_cluster: ``True`` to require the in-cluster service account, ``False`` to
            require a kubeconfig; ``None`` tries in-cluster first when running in a
            pod (``KUBERNETES_SERVICE_HOST`` is set and no kubeconfig or context was
            given), then the kubeconfig.

    Returns:
        A ``CustomObjectsApi`` with its own configuration (the client library's global
        default is left alone).

    Raises:
        DeploymentError: No usable credentials, naming what was tried.
    """
    configuration = k8s.Configuration()
    tried: list[str] = []
    auto = in_cluster is None
    if in_cluster or (
        auto
        and kubeconfig is None
        and context is None
        and bool(os.environ.get(_IN_CLUSTER_ENV))
    ):
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
            return k8s.CustomObjectsApi(k8s.ApiClient(configuration))
        except k8s_config.ConfigException as exc:
            tried.append(f"the in-cluster service account failed ({_last_clause(exc)})")
            if not auto:
                raise DeploymentError(
                    f"Cannot use the in-cluster Kubernetes credentials: {tried[0]}; "
                    "run the step in a pod with a service account or pass a kubeconfig."
                ) from exc
    elif auto:
        tried.append(f"not running in a pod ({_IN_CLUSTER_ENV} is unset)")
    # Read $KUBECONFIG now: the client library reads it once, when first imported.
    source = (
        os.fspath(kubeconfig)
        if kubeconfig is not None
        else os.environ.get("KUBECONFIG") or "~/.kube/config"
    )
    try:
        k8s_config.load_kube_config(
            config_file=os.path.expanduser(source),
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    except (k8s_config.ConfigException, OSError, TypeError, ValueError) as exc:
        tried.append(f"kubeconfig {source} is unusable ({_last_clause(exc)})")
        raise DeploymentError(
            f"No usable Kubernetes credentials: {'; '.join(tried)}; pass a valid "
            "kubeconfig (and context) or run inside the cluster."
        ) from exc
    return k8s.CustomObjectsApi(k8s.ApiClient(configuration))


@dataclass(frozen=True)
class _Target:
    """The object to serve, checked, with its mode and the state it should end in."""

    name: str
    namespace: str
    mode: Mode
    version: str
    storage_uri: str
    final: dict[str, Any]
    canary_percent: int | None

    @property
    def where(self) -> str:
        return f"InferenceService {self.namespace}/{self.name}"

    @classmethod
    def of(cls, isvc: Mapping[str, Any], mode: Mode | None) -> _Target:
        if not isinstance(isvc, Mapping):
            raise DeploymentError(
                f"deploy() needs an InferenceService dict, got {type(isvc).__name__}."
            )
        metadata = isvc.get("metadata") or {}
        name, namespace = metadata.get("name"), metadata.get("namespace")
        if not isinstance(name, str) or not name or not isinstance(namespace, str):
            raise DeploymentError(
                f"The InferenceService to deploy names no metadata.name and "
                f"metadata.namespace (got {name!r}, {namespace!r}); both are required."
            )
        where = f"InferenceService {namespace}/{name}"
        if isvc.get("apiVersion") != API_VERSION or isvc.get("kind") != KIND:
            raise DeploymentError(
                f"{where} is {isvc.get('apiVersion')}/{isvc.get('kind')}; expected "
                f"{API_VERSION} {KIND}."
            )
        predictor = (isvc.get("spec") or {}).get("predictor") or {}
        storage_uri = (predictor.get("model") or {}).get("storageUri")
        if not isinstance(storage_uri, str) or not storage_uri:
            raise DeploymentError(
                f"{where} has no spec.predictor.model.storageUri; expected the "
                "registry version folder to serve."
            )
        declared = mode_of(isvc)
        if mode is not None and mode not in DEPLOYMENT_MODES:
            raise DeploymentError(
                f"mode {mode!r} is not a KServe deployment mode; expected 'raw' or "
                "'serverless'."
            )
        if declared is not None and mode is not None and declared != mode:
            raise DeploymentError(
                f"{where} is annotated {DEPLOYMENT_MODE_ANNOTATION}="
                f"{DEPLOYMENT_MODES[declared]} but deploy() was asked for mode "
                f"{mode!r}; make them agree."
            )
        chosen = mode or declared
        if chosen is None:
            raise DeploymentError(
                f"{where} does not say how to serve it; pass mode='raw' or "
                f"'serverless', or set the {DEPLOYMENT_MODE_ANNOTATION} annotation."
            )
        version = _version_of(isvc) or storage_uri

        final = _managed(isvc)
        final["metadata"].setdefault("annotations", {})[DEPLOYMENT_MODE_ANNOTATION] = (
            DEPLOYMENT_MODES[chosen]
        )
        final_predictor = final["spec"]["predictor"]
        requested = final_predictor.get("canaryTrafficPercent")
        canary: int | None = None
        if chosen == "raw":
            if requested is not None:
                raise DeploymentError(
                    f"{where} sets canaryTrafficPercent={requested} but is served in "
                    "RawDeployment mode, which has no traffic split; remove it."
                )
        else:
            if requested is not None and (
                isinstance(requested, bool)
                or not isinstance(requested, int)
                or not 0 <= requested <= FULL_TRAFFIC
            ):
                raise DeploymentError(
                    f"{where} sets canaryTrafficPercent={requested!r}; expected an "
                    "integer from 0 to 100."
                )
            canary = DEFAULT_CANARY_PERCENT if requested is None else requested
            if canary == FULL_TRAFFIC:
                canary = None
            # Fully rolled out is explicit: a canary value some other field manager
            # (kubectl apply of the gke overlay) left behind cannot linger.
            final_predictor["canaryTrafficPercent"] = FULL_TRAFFIC
        return cls(
            name=name,
            namespace=namespace,
            mode=chosen,
            version=version,
            storage_uri=storage_uri,
            final=final,
            canary_percent=canary,
        )


class _Cluster:
    """The few API calls deploy needs, failures turned into sentence clauses."""

    def __init__(
        self,
        api: k8s.CustomObjectsApi | k8s.ApiClient,
        namespace: str,
        name: str,
        request_timeout_s: float,
    ) -> None:
        self.api = (
            api if isinstance(api, k8s.CustomObjectsApi) else k8s.CustomObjectsApi(api)
        )
        self.namespace = namespace
        self.name = name
        self.timeout = request_timeout_s
        self.host = self.api.api_client.configuration.host

    def get(self) -> dict[str, Any] | None:
        """The live object, or ``None`` when it does not exist."""
        try:
            found: dict[str, Any] = self.api.get_namespaced_custom_object(
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                self.name,
                _request_timeout=(self.timeout, self.timeout),
            )
        except ApiException as exc:
            if exc.status == 404 and self._names_this_object(exc):
                return None
            if exc.status == 404:
                raise _ApiFailure(
                    f"the Kubernetes API server at {self.host} does not serve "
                    f"{GROUP}/{VERSION} {PLURAL} (is KServe installed?)",
                    transient=False,
                ) from exc
            raise self._refused(exc, "reading it") from exc
        except urllib3.exceptions.HTTPError as exc:
            raise self._unreachable(exc) from exc
        return found

    def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply ``manifest`` as field manager ``kfp-mlops-suite``."""
        # CustomObjectsApi.patch_* always sends merge-patch+json, so the generic call
        # is used to send the apply content type the API server needs for SSA.
        try:
            applied: dict[str, Any] = self.api.api_client.call_api(
                f"/apis/{GROUP}/{VERSION}/namespaces/{{namespace}}/{PLURAL}/{{name}}",
                "PATCH",
                path_params={"namespace": self.namespace, "name": self.name},
                query_params=[("fieldManager", FIELD_MANAGER), ("force", "true")],
                header_params={
                    "Accept": "application/json",
                    "Content-Type": APPLY_CONTENT_TYPE,
                },
                body=dict(manifest),
                response_type="object",
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
                _request_timeout=(self.timeout, self.timeout),
            )
        except ApiException as exc:
            raise self._refused(exc, "applying it") from exc
        except urllib3.exceptions.HTTPError as exc:
            raise self._unreachable(exc) from exc
        return applied

    def _names_this_object(self, exc: ApiException) -> bool:
        """A 404 about this object, not about the resource type being unknown."""
        try:
            status = json.loads(exc.body or "")
        except (TypeError, ValueError):
            return False
        details = status.get("details") if isinstance(status, dict) else None
        return isinstance(details, dict) and details.get("name") == self.name

    def _refused(self, exc: ApiException, doing: str) -> _ApiFailure:
        message = ""
        try:
            status = json.loads(exc.body or "")
            message = (
                str(status.get("message") or "") if isinstance(status, dict) else ""
            )
        except (TypeError, ValueError):
            message = ""
        detail = f": {message.rstrip('.')}" if message else ""
        return _ApiFailure(
            f"the Kubernetes API answered {exc.status} {exc.reason} when "
            f"{doing}{detail}",
            transient=exc.status in _TRANSIENT_STATUS,
        )

    def _unreachable(self, exc: Exception) -> _ApiFailure:
        cause = getattr(exc, "reason", None) or exc
        return _ApiFailure(
            f"the Kubernetes API server at {self.host} cannot be reached "
            f"({_last_clause(cause)})",
            transient=True,
        )


class _Rollout:
    """One deploy call: apply, wait, smoke, promote, and restore on failure."""

    def __init__(
        self,
        *,
        cluster: _Cluster,
        target: _Target,
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
        self.previous_version = _version_of(previous) if previous is not None else None

    def run(self) -> DeployResult:
        target = self.target
        canary = (
            target.mode == "serverless"
            and target.canary_percent is not None
            and self.previous is not None
            and _state(self.previous)[0]
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
        except (_StepFailed, _ApiFailure) as failure:
            raise self._recover(str(failure)) from failure
        return self._result(action, ready, smoke_url)

    def confirm_unchanged(self) -> DeployResult:
        """The live object already holds this spec: write nothing, only check it."""
        try:
            ready = self._wait_ready()
            smoke_url = self._smoke(ready, canary=False)
        except (_StepFailed, _ApiFailure) as failure:
            raise DeploymentError(
                f"{self.target.where} already holds {self.target.version} but "
                f"{failure}; nothing was changed."
            ) from failure
        return self._result("unchanged", ready, smoke_url)

    def _result(
        self, action: Action, ready: Mapping[str, Any], smoke_url: str | None
    ) -> DeployResult:
        external, internal, _ = _urls(ready)
        previous = self.previous
        return DeployResult(
            action=action,
            name=self.target.name,
            namespace=self.target.namespace,
            model_version=_version_of(ready),
            storage_uri=_storage_uri(ready),
            url=external,
            internal_url=internal,
            smoke_url=smoke_url,
            previous_model_version=self.previous_version,
            previous_storage_uri=_storage_uri(previous) if previous else None,
        )

    def _wait_ready(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_s
        last_state = "no status yet"
        last_error = ""
        while True:
            try:
                live = self.cluster.get()
            except _ApiFailure as failure:
                if not failure.transient:
                    raise
                last_error = str(failure)
            else:
                if live is None:
                    raise _StepFailed("it was deleted while waiting for Ready")
                ready, failed, last_state = _state(live)
                if failed:
                    raise _StepFailed(f"KServe reports the rollout failed ({failed})")
                if ready:
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
        external, internal, tagged = _urls(ready)
        url = tagged if canary and tagged else None
        url = url or (internal if self.prefer_internal_url and internal else external)
        url = url or internal
        if not url:
            raise _StepFailed(
                "it became Ready without reporting a URL (status.url, "
                "status.address.url) to send the smoke request to"
            )
        try:
            self.smoke(url)
        except Exception as exc:  # the check is the caller's: any failure fails it
            raise _StepFailed(
                f"the smoke request to {url} failed ({_last_clause(exc)})"
            ) from exc
        return url

    def _recover(self, reason: str) -> DeploymentError:
        target = self.target
        head = f"Deploying {target.version} to {target.where} failed: {reason}"
        if self.previous is None:
            try:
                exists = self.cluster.get() is not None
            except _ApiFailure:
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
        except (_StepFailed, _ApiFailure) as failure:
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
        wanted = _managed(previous)
        live = self.cluster.get()
        if live is not None and _managed(live) == wanted:
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


def _managed(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What this project applies of an object: identity, labels, annotations, spec."""
    metadata = obj.get("metadata") or {}
    managed_metadata: dict[str, Any] = {
        "name": metadata.get("name"),
        "namespace": metadata.get("namespace"),
    }
    labels = dict(metadata.get("labels") or {})
    annotations = {
        key: value
        for key, value in (metadata.get("annotations") or {}).items()
        if key != _LAST_APPLIED
    }
    if labels:
        managed_metadata["labels"] = labels
    if annotations:
        managed_metadata["annotations"] = annotations
    return {
        "apiVersion": obj.get("apiVersion", API_VERSION),
        "kind": obj.get("kind", KIND),
        "metadata": managed_metadata,
        "spec": copy.deepcopy(dict(obj.get("spec") or {})),
    }


def _contains(live: Any, wanted: Any) -> bool:
    """Whether applying ``wanted`` would leave ``live`` as it is (defaults aside)."""
    if isinstance(wanted, Mapping):
        return isinstance(live, Mapping) and all(
            key in live and _contains(live[key], value) for key, value in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(live, list)
            and len(live) == len(wanted)
            and all(_contains(a, b) for a, b in zip(live, wanted, strict=True))
        )
    return bool(live == wanted)


def _state(obj: Mapping[str, Any]) -> tuple[bool, str | None, str]:
    """``(ready, failure, summary)`` of the generation the object is at now."""
    generation = (obj.get("metadata") or {}).get("generation")
    status = obj.get("status") or {}
    observed = status.get("observedGeneration")
    conditions = {
        c.get("type"): c for c in status.get("conditions") or [] if isinstance(c, dict)
    }
    ready_condition = conditions.get("Ready") or {}
    if generation is not None and observed is not None and observed < generation:
        summary = (
            f"KServe has not yet acted on generation {generation}, "
            f"still reporting generation {observed}"
        )
        return False, None, summary
    summary = f"Ready={ready_condition.get('status', 'absent')}"
    reason, message = ready_condition.get("reason"), ready_condition.get("message")
    message = str(message).rstrip(".") if message else message
    if reason or message:
        summary += f" {reason or ''}{': ' if reason and message else ''}{message or ''}"
    model_status = status.get("modelStatus") or {}
    if model_status.get("transitionStatus") in _FAILED_TRANSITIONS:
        info = model_status.get("lastFailureInfo") or {}
        detail = ": ".join(
            str(part) for part in (info.get("reason"), info.get("message")) if part
        )
        return False, detail or str(model_status["transitionStatus"]), summary
    for kind in _READY_CONDITIONS:
        condition = conditions.get(kind) or {}
        if condition.get("status") == "False" and condition.get("reason") in (
            _FAILED_REASONS
        ):
            text = condition.get("message") or ""
            return False, f"{kind} {condition['reason']}: {text}".rstrip(": "), summary
    return ready_condition.get("status") == "True", None, summary


def _urls(obj: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """``(status.url, status.address.url, the latest revision's tagged URL)``."""
    status = obj.get("status") or {}
    external = status.get("url") or None
    internal = (status.get("address") or {}).get("url") or None
    predictor = (status.get("components") or {}).get("predictor") or {}
    tagged = next(
        (
            entry.get("url")
            for entry in predictor.get("traffic") or []
            if isinstance(entry, dict)
            and entry.get("latestRevision")
            and entry.get("url")
        ),
        None,
    )
    return external, internal, tagged


def _storage_uri(obj: Mapping[str, Any]) -> str | None:
    model = ((obj.get("spec") or {}).get("predictor") or {}).get("model") or {}
    uri = model.get("storageUri")
    return str(uri) if uri else None


def _version_of(obj: Mapping[str, Any]) -> str | None:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if labels.get(MODEL_VERSION_LABEL):
        return str(labels[MODEL_VERSION_LABEL])
    uri = _storage_uri(obj)
    return uri.rstrip("/").rsplit("/", 1)[-1] if uri else None


def _jsonable(value: Any) -> Any:
    """Numpy and pandas values as plain JSON values, missing ones as ``None``."""
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        value = value.tolist()
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is not None and pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    return value


def _same(wanted: Any, got: Any) -> bool:
    numbers = (int, float)
    if (
        isinstance(wanted, numbers)
        and isinstance(got, numbers)
        and not isinstance(wanted, bool)
        and not isinstance(got, bool)
    ):
        return math.isclose(wanted, got, rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(wanted, list) and isinstance(got, list):
        return len(wanted) == len(got) and all(
            _same(a, b) for a, b in zip(wanted, got, strict=True)
        )
    return bool(wanted == got)


def _last_clause(exc: BaseException) -> str:
    """An exception's message without the object reprs urllib3 puts in front."""
    text = str(exc).strip() or type(exc).__name__
    if "Failed to establish a new connection: " in text:
        text = text.split("Failed to establish a new connection: ", 1)[1]
    return _snippet(text.rstrip("."), limit=300)


def _snippet(text: str, limit: int = 200) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."

"""The InferenceService a rollout should end with, checked before any request.

:meth:`Target.of` turns an InferenceService dict into what to apply: the fields this
project manages (:func:`managed`), the deployment mode settled and, in Serverless
mode, the canary share to check the new revision with. :func:`contains` tells whether
a live object already holds it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlops_suite.errors import DeploymentError
from mlops_suite.serving.inference_service import (
    API_VERSION,
    DEPLOYMENT_MODE_ANNOTATION,
    DEPLOYMENT_MODES,
    KIND,
    Mode,
    mode_of,
)
from mlops_suite.serving.status import model_version

DEFAULT_CANARY_PERCENT = 10
FULL_TRAFFIC = 100

# Written by `kubectl apply`; re-applying it would freeze a stale copy of the object.
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@dataclass(frozen=True)
class Target:
    """The object to serve, checked, with its mode and the state it should end in.

    Attributes:
        name: InferenceService name.
        namespace: Its namespace.
        mode: ``raw`` or ``serverless``.
        version: The version it serves (its label, else its storage URI), for messages.
        storage_uri: ``spec.predictor.model.storageUri``.
        final: What to apply once rolled out: the managed fields, the mode annotation
            set, and in Serverless mode ``canaryTrafficPercent: 100``.
        canary_percent: The new revision's traffic share while it is checked, or
            ``None`` for no canary step.
    """

    name: str
    namespace: str
    mode: Mode
    version: str
    storage_uri: str
    final: dict[str, Any]
    canary_percent: int | None

    @property
    def where(self) -> str:
        """``InferenceService <namespace>/<name>``, for messages."""
        return f"InferenceService {self.namespace}/{self.name}"

    @classmethod
    def of(cls, isvc: Mapping[str, Any], mode: Mode | None) -> Target:
        """Check an InferenceService dict and settle its mode and canary share.

        Args:
            isvc: The InferenceService to serve.
            mode: ``raw`` or ``serverless``; ``None`` reads the deployment-mode
                annotation, which must agree when both are given.

        Returns:
            The target.

        Raises:
            DeploymentError: The object cannot be served as it is, in one sentence.
        """
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
        uri = (predictor.get("model") or {}).get("storageUri")
        if not isinstance(uri, str) or not uri:
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
        final = managed(isvc)
        final["metadata"].setdefault("annotations", {})[DEPLOYMENT_MODE_ANNOTATION] = (
            DEPLOYMENT_MODES[chosen]
        )
        return cls(
            name=name,
            namespace=namespace,
            mode=chosen,
            version=model_version(isvc) or uri,
            storage_uri=uri,
            final=final,
            canary_percent=_settle_canary(final, chosen, where),
        )


def _settle_canary(final: dict[str, Any], mode: Mode, where: str) -> int | None:
    """The canary share to check with; sets ``final``'s share to 100 in Serverless."""
    predictor = final["spec"]["predictor"]
    requested = predictor.get("canaryTrafficPercent")
    if mode == "raw":
        if requested is not None:
            raise DeploymentError(
                f"{where} sets canaryTrafficPercent={requested} but is served in "
                "RawDeployment mode, which has no traffic split; remove it."
            )
        return None
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
    # Fully rolled out is explicit: a canary value some other field manager
    # (kubectl apply of the gke overlay) left behind cannot linger.
    predictor["canaryTrafficPercent"] = FULL_TRAFFIC
    return None if canary == FULL_TRAFFIC else canary


def managed(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What this project applies of an object: identity, labels, annotations, spec.

    Args:
        obj: An InferenceService, as built or as read back (status and server-set
            metadata are left out; so is ``kubectl``'s last-applied annotation).

    Returns:
        A new dict, safe to change.
    """
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


def contains(live: Any, wanted: Any) -> bool:
    """Whether applying ``wanted`` would leave ``live`` as it is (defaults aside)."""
    if isinstance(wanted, Mapping):
        return isinstance(live, Mapping) and all(
            key in live and contains(live[key], value) for key, value in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(live, list)
            and len(live) == len(wanted)
            and all(contains(a, b) for a, b in zip(live, wanted, strict=True))
        )
    return bool(live == wanted)

"""What a live InferenceService says about itself: readiness, URLs, what it serves.

Pure functions on the object as the Kubernetes API returns it (a dict), so a rollout
can decide from one read whether to wait, give up, smoke, or report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from mlops_suite.serving.manifests import MODEL_VERSION_LABEL

# KServe gives up on these by itself; anything else may still converge, so keep waiting.
_FAILED_TRANSITIONS = frozenset({"BlockedByFailedLoad", "InvalidSpec"})
_FAILED_REASONS = frozenset(
    {"RevisionFailed", "ProgressDeadlineExceeded", "InvalidSpec", "ModelLoadFailed"}
)
_READY_CONDITIONS = ("Ready", "PredictorReady")


class Readiness(NamedTuple):
    """Where the generation the object is at now stands.

    Attributes:
        ready: KServe has acted on this generation and reports ``Ready=True``.
        failure: Why KServe gave up on it (a failed load, a failed revision), or
            ``None`` while it may still become Ready.
        summary: The state in a few words, for a timeout message.
    """

    ready: bool
    failure: str | None
    summary: str


class Urls(NamedTuple):
    """Where an InferenceService answers.

    Attributes:
        external: ``status.url`` (may need the ingress to resolve).
        internal: ``status.address.url`` (the in-cluster address).
        tagged: The latest revision's own URL in a Serverless traffic split, when
            tag routing is on.
    """

    external: str | None
    internal: str | None
    tagged: str | None


def readiness(obj: Mapping[str, Any]) -> Readiness:
    """Whether the object's current generation is Ready, failed, or neither yet.

    A ``Ready`` condition left over from an earlier generation does not count: until
    ``status.observedGeneration`` reaches ``metadata.generation`` KServe has not yet
    acted on the spec that was written.

    Args:
        obj: The InferenceService as read from the API server.

    Returns:
        Ready or not, KServe's reason for giving up if it did, and a summary.
    """
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
        return Readiness(False, None, summary)
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
        return Readiness(
            False, detail or str(model_status["transitionStatus"]), summary
        )
    for kind in _READY_CONDITIONS:
        condition = conditions.get(kind) or {}
        if condition.get("status") == "False" and condition.get("reason") in (
            _FAILED_REASONS
        ):
            text = condition.get("message") or ""
            failure = f"{kind} {condition['reason']}: {text}".rstrip(": ")
            return Readiness(False, failure, summary)
    return Readiness(ready_condition.get("status") == "True", None, summary)


def urls(obj: Mapping[str, Any]) -> Urls:
    """The URLs the object reports (each ``None`` when not reported).

    Args:
        obj: The InferenceService as read from the API server.

    Returns:
        ``status.url``, ``status.address.url`` and the latest revision's tagged URL.
    """
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
    return Urls(external, internal, tagged)


def storage_uri(obj: Mapping[str, Any]) -> str | None:
    """``spec.predictor.model.storageUri``: the model folder it serves, if set."""
    model = ((obj.get("spec") or {}).get("predictor") or {}).get("model") or {}
    uri = model.get("storageUri")
    return str(uri) if uri else None


def model_version(obj: Mapping[str, Any]) -> str | None:
    """The registry version it serves (``v<N>``).

    Read from the model-version label, else the last part of the storage URI (the
    registry's version folder), else ``None``.
    """
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if labels.get(MODEL_VERSION_LABEL):
        return str(labels[MODEL_VERSION_LABEL])
    uri = storage_uri(obj)
    return uri.rstrip("/").rsplit("/", 1)[-1] if uri else None

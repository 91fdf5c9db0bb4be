"""KServe's logger writing requests and responses to object storage itself.

Instead of posting CloudEvents to the payload sink, KServe's agent can store each
request and response as an object (``spec.predictor.logger.url: s3://...`` with
``logger.storage``; KServe 0.16 and later). :func:`log_storage_logger` is that
``logger`` section, the same for the InferenceService the pipeline deploys
(:mod:`.inference_service`) and the kustomization ``mlops manifest`` writes
(:mod:`.manifests`); :mod:`mlops_suite.monitoring.logger_storage` reads the objects.

The agent writes with the credentials of ``storage.serviceAccountName`` (KServe's
default is ``logger-sa``, which these manifests do not create), so the predictor's
own account is named: it must be allowed to write to the log bucket.
"""

from __future__ import annotations

import re
from typing import Any

from mlops_suite.errors import DeploymentError

# URI schemes KServe's logger stores to, and the storage type each one is.
STORAGE_TYPES: dict[str, str] = {"s3": "s3", "gs": "gs", "abfs": "abfs"}
# The only format monitoring reads (the logger's default).
LOG_FORMAT = "json"
# Requests and responses alike: monitoring pairs them.
LOGGER_MODE = "all"
_URI = re.compile(r"(?P<scheme>[a-z0-9]+)://(?P<bucket>[^/\s]+)(?P<path>/\S*)?")


def log_storage_logger(uri: str, service_account: str | None) -> dict[str, Any]:
    """The predictor's ``logger`` section that stores every request and response.

    Args:
        uri: The bucket and prefix the objects go under, such as
            ``s3://mlpipeline/kserve-logs``; KServe appends
            ``<namespace>/<inference service>/<component>/`` to it.
        service_account: The ServiceAccount whose credentials write the objects;
            ``None`` leaves KServe's default.

    Returns:
        ``{"mode": "all", "url": uri, "storage": {"parameters": {"type", "format":
        "json"}, "serviceAccountName"}}``.

    Raises:
        DeploymentError: The URI is not an ``s3://``, ``gs://`` or ``abfs://``
            bucket URI.
    """
    match = _URI.fullmatch(uri) if isinstance(uri, str) else None
    if match is None or match["scheme"] not in STORAGE_TYPES:
        raise DeploymentError(
            f"log storage {uri!r} is not a bucket KServe's logger writes to; expected "
            f"{', '.join(f'{s}://bucket/prefix' for s in STORAGE_TYPES)}."
        )
    storage: dict[str, Any] = {
        "parameters": {"type": STORAGE_TYPES[match["scheme"]], "format": LOG_FORMAT}
    }
    if service_account:
        storage["serviceAccountName"] = service_account
    return {"mode": LOGGER_MODE, "url": uri, "storage": storage}

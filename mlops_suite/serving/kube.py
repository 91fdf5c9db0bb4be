"""Kubernetes access for deploying: credentials, and the InferenceService API calls.

:func:`load_kube_api` finds credentials (the pod's service account, else a
kubeconfig). :class:`InferenceServiceApi` makes the only two calls a rollout needs on
one InferenceService, reading it and server-side applying it, and turns every API
failure into an :class:`ApiFailure` whose text is a clause for a one-sentence error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from mlops_suite.errors import DeploymentError, last_clause
from mlops_suite.serving.inference_service import GROUP, PLURAL, VERSION

FIELD_MANAGER = "kfp-mlops-suite"
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
# The Role in manifests/base/rbac.yaml that lets a deploy step get and patch.
DEPLOY_ROLE = "kfp-mlops-isvc-deployer"

# Worth another poll while waiting: the API server or its proxy was briefly unhappy.
_TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
_IN_CLUSTER_ENV = "KUBERNETES_SERVICE_HOST"


class ApiFailure(Exception):
    """A Kubernetes API call failed; ``str()`` is a clause for a sentence.

    Attributes:
        transient: Whether asking again may succeed (a 429, a 5xx, no connection).
    """

    def __init__(self, text: str, *, transient: bool) -> None:
        super().__init__(text)
        self.transient = transient


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
            tried.append(f"the in-cluster service account failed ({last_clause(exc)})")
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
        tried.append(f"kubeconfig {source} is unusable ({last_clause(exc)})")
        raise DeploymentError(
            f"No usable Kubernetes credentials: {'; '.join(tried)}; pass a valid "
            "kubeconfig (and context) or run inside the cluster."
        ) from exc
    return k8s.CustomObjectsApi(k8s.ApiClient(configuration))


class InferenceServiceApi:
    """Reads and server-side applies one InferenceService, failures as clauses."""

    def __init__(
        self,
        api: k8s.CustomObjectsApi | k8s.ApiClient,
        namespace: str,
        name: str,
        request_timeout_s: float,
    ) -> None:
        """Talk to ``namespace/name`` through ``api``.

        Args:
            api: A Kubernetes client (see :func:`load_kube_api`).
            namespace: The InferenceService's namespace.
            name: Its name.
            request_timeout_s: Connect and read timeout of each request.
        """
        self.api = (
            api if isinstance(api, k8s.CustomObjectsApi) else k8s.CustomObjectsApi(api)
        )
        self.namespace = namespace
        self.name = name
        self.timeout = request_timeout_s
        self.host = self.api.api_client.configuration.host

    def get(self) -> dict[str, Any] | None:
        """The live object, or ``None`` when it does not exist.

        Raises:
            ApiFailure: The API server refused, failed or could not be reached, or
                does not serve InferenceServices at all.
        """
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
                raise ApiFailure(
                    f"the Kubernetes API server at {self.host} does not serve "
                    f"{GROUP}/{VERSION} {PLURAL} (is KServe installed?)",
                    transient=False,
                ) from exc
            raise self._refused(exc, "get", "reading it") from exc
        except urllib3.exceptions.HTTPError as exc:
            raise self._unreachable(exc) from exc
        return found

    def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply ``manifest`` as field manager ``kfp-mlops-suite``.

        Raises:
            ApiFailure: The API server refused, failed or could not be reached.
        """
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
            raise self._refused(exc, "patch", "applying it") from exc
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

    def _refused(self, exc: ApiException, verb: str, doing: str) -> ApiFailure:
        """The API server's error answer, with its message, as a clause.

        Args:
            exc: The error answer.
            verb: The RBAC verb of the request (``get``, ``patch``).
            doing: What was being done, for other errors (``reading it``).
        """
        message = ""
        try:
            status = json.loads(exc.body or "")
            message = (
                str(status.get("message") or "") if isinstance(status, dict) else ""
            )
        except (TypeError, ValueError):
            message = ""
        detail = f": {message.rstrip('.')}" if message else ""
        if exc.status == 403:
            # Who may do what is the fix, so the verb, resource and namespace a Role
            # must grant are named even when the API server's message is terse.
            return ApiFailure(
                f"the Kubernetes API refused to let this step {verb} "
                f"{PLURAL}.{GROUP} in namespace {self.namespace} "
                f"({exc.status} {exc.reason}{detail}), which a Role such as "
                f"{DEPLOY_ROLE} in manifests/base/rbac.yaml grants",
                transient=False,
            )
        return ApiFailure(
            f"the Kubernetes API answered {exc.status} {exc.reason} when "
            f"{doing}{detail}",
            transient=exc.status in _TRANSIENT_STATUS,
        )

    def _unreachable(self, exc: Exception) -> ApiFailure:
        cause = getattr(exc, "reason", None) or exc
        return ApiFailure(
            f"the Kubernetes API server at {self.host} cannot be reached "
            f"({last_clause(cause)})",
            transient=True,
        )

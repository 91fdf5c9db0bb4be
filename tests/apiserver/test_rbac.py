"""The deploy identity's rights, as the real RBAC authorizer decides them.

Every overlay is applied, then ``kubectl auth can-i --as=<service account>`` asks the
apiserver (``--authorization-mode=RBAC``) what KFP's ``pipeline-runner``, which runs
``deploy_model``, may do: read, create and server-side apply InferenceServices in
the overlay's namespace, as ``deploy()`` does, and nothing more: no Secrets, no other
resource, no status (KServe's to write), no other namespace.
"""

from __future__ import annotations

import itertools

import pytest
import yaml
from kube_apiserver import REPO_ROOT, KubeApiserver

pytestmark = pytest.mark.apiserver

OVERLAYS = sorted(
    path.name
    for path in (REPO_ROOT / "manifests" / "overlays").iterdir()
    if (path / "kustomization.yaml").is_file()
)
DEPLOYER = "system:serviceaccount:kubeflow:pipeline-runner"
ISVC = "inferenceservices.serving.kserve.io"
# deploy(): read the live object, then server-side apply it (a PATCH that creates it
# the first time).
DEPLOY_NEEDS = ("get", "create", "patch")
# What every authenticated identity may do (system:basic-user).
EVERYONE = {
    "selfsubjectaccessreviews.authorization.k8s.io": {"create"},
    "selfsubjectrulesreviews.authorization.k8s.io": {"create"},
}
_fresh = itertools.count(1)


@pytest.fixture(scope="module")
def serving_namespaces(kube: KubeApiserver) -> dict[str, str]:
    """Apply every overlay; return each overlay's InferenceService namespace."""
    kube.kubectl("create", "namespace", "kubeflow", check=False)
    namespaces = {}
    for overlay in OVERLAYS:
        rendered = kube.kubectl(
            "kustomize", str(REPO_ROOT / "manifests" / "overlays" / overlay)
        ).stdout
        kube.kubectl("apply", "--server-side", "-f", "-", stdin=rendered)
        (isvc,) = [
            doc
            for doc in yaml.safe_load_all(rendered)
            if doc and doc["kind"] == "InferenceService"
        ]
        namespaces[overlay] = isvc["metadata"]["namespace"]
    return namespaces


def can_i(
    kube: KubeApiserver, verb: str, resource: str, namespace: str, *extra: str
) -> bool:
    done = kube.kubectl(
        "auth",
        "can-i",
        verb,
        resource,
        "-n",
        namespace,
        f"--as={DEPLOYER}",
        *extra,
        check=False,
    )
    answer = done.stdout.strip()
    assert answer in {"yes", "no"}, f"kubectl auth can-i said {answer!r}: {done.stderr}"
    return answer == "yes"


def allowed_resources(kube: KubeApiserver, namespace: str) -> dict[str, set[str]]:
    """``kubectl auth can-i --list``: resource -> verbs the deployer has there."""
    lines = kube.kubectl(
        "auth", "can-i", "--list", "-n", namespace, f"--as={DEPLOYER}"
    ).stdout.splitlines()
    column = lines[0].index("Non-Resource URLs")
    rights: dict[str, set[str]] = {}
    for line in lines[1:]:
        resource = line[:column].strip()
        if resource:
            verbs = line[line.rindex("[") + 1 : line.rindex("]")].split()
            rights.setdefault(resource, set()).update(verbs)
    return rights


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_deployer_may_roll_out_inference_services_in_the_serving_namespace(
    kube: KubeApiserver, serving_namespaces: dict[str, str], overlay: str
) -> None:
    namespace = serving_namespaces[overlay]
    for verb in DEPLOY_NEEDS:
        assert can_i(kube, verb, ISVC, namespace), f"{DEPLOYER} cannot {verb}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_deployer_may_do_nothing_else_there(
    kube: KubeApiserver, serving_namespaces: dict[str, str], overlay: str
) -> None:
    namespace = serving_namespaces[overlay]
    refused = [
        ("delete", ISVC, ()),
        ("patch", ISVC, ("--subresource=status",)),
        ("get", "secrets", ()),
        ("list", "secrets", ()),
        ("get", "configmaps", ()),
        ("create", "pods", ()),
        ("create", "pods/exec", ()),
        ("patch", "deployments.apps", ()),
        ("patch", "serviceaccounts", ()),
        ("create", "serviceaccounts/token", ()),
        ("patch", "roles.rbac.authorization.k8s.io", ()),
        ("create", "rolebindings.rbac.authorization.k8s.io", ()),
        ("patch", "servingruntimes.serving.kserve.io", ()),
    ]
    allowed = [
        f"{verb} {resource} {' '.join(extra)}".strip()
        for verb, resource, extra in refused
        if can_i(kube, verb, resource, namespace, *extra)
    ]
    assert not allowed, f"{DEPLOYER} may also {allowed} in {namespace}"
    rights = allowed_resources(kube, namespace)
    assert set(rights) == {ISVC, *EVERYONE}, rights
    assert {r: v for r, v in rights.items() if r in EVERYONE} == EVERYONE


def test_the_deployer_has_no_rights_in_any_other_namespace(
    kube: KubeApiserver, serving_namespaces: dict[str, str]
) -> None:
    fresh = f"unrelated-{next(_fresh)}"
    kube.kubectl("create", "namespace", fresh)
    for namespace in ("default", fresh):
        assert namespace not in serving_namespaces.values()
        for verb in DEPLOY_NEEDS:
            assert not can_i(kube, verb, ISVC, namespace)
        assert not can_i(kube, "get", "secrets", namespace)
        assert set(allowed_resources(kube, namespace)) == set(EVERYONE)
    # Nor cluster-wide.
    assert not can_i(kube, "list", ISVC, "default", "--all-namespaces")
    assert not can_i(kube, "list", "namespaces", "default")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_accounts_the_overlay_creates_have_no_rights(
    kube: KubeApiserver, serving_namespaces: dict[str, str], overlay: str
) -> None:
    namespace = serving_namespaces[overlay]
    rendered = kube.kubectl(
        "kustomize", str(REPO_ROOT / "manifests" / "overlays" / overlay)
    ).stdout
    accounts = [
        doc["metadata"]["name"]
        for doc in yaml.safe_load_all(rendered)
        if doc and doc["kind"] == "ServiceAccount"
    ]
    assert accounts
    for account in accounts:
        done = kube.kubectl(
            "auth",
            "can-i",
            "--list",
            "-n",
            namespace,
            f"--as=system:serviceaccount:{namespace}:{account}",
        )
        resources = {
            line.split()[0]
            for line in done.stdout.splitlines()[1:]
            if line and not line[0].isspace()
        }
        assert resources == set(EVERYONE), f"{account} may use {resources}"

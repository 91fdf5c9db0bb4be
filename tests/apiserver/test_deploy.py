"""``deploy()`` against a real kube-apiserver, the test playing KServe's controller.

Each test gets a namespace holding the repository's deploy Role and RoleBinding
(``manifests/base/rbac.yaml``) and deploys as KFP's ``pipeline-runner``, with that
ServiceAccount's own token through :func:`load_kube_api`, as ``deploy_model`` does in
a pod. Nothing in this apiserver reconciles InferenceServices, so
:class:`PlayedController` writes the status subresource KServe's controller would
write: Ready for each new generation, its URLs and, in Serverless mode, revisions and
a traffic split that honours ``canaryTrafficPercent``. Every URL it reports is a real
kserve ModelServer on 127.0.0.1 serving a real model folder, so the smoke requests
are real requests; the ``routes`` say which storage URI loads which model.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from kube_apiserver import REPO_ROOT, KubeApiserver
from kubernetes import client as k8s
from kubernetes import watch
from played_kserve import GROUP, PLURAL, TAG_ROUTING, VERSION, PlayedController

from mlops_suite.errors import DeploymentError
from mlops_suite.model_folder import save_model
from mlops_suite.serving.deploy import deploy
from mlops_suite.serving.inference_service import build_inference_service
from mlops_suite.serving.kube import FIELD_MANAGER, load_kube_api
from mlops_suite.serving.rollout import DeploymentRolledBack
from mlops_suite.serving.server_process import start_server_in_subprocess
from mlops_suite.serving.smoke import v1_smoke_request
from mlops_suite.training.train import to_v1_instances, train_model

pytestmark = pytest.mark.apiserver

NAME = "penguins"
RUNNER = ("kubeflow", "pipeline-runner")
FAST: dict[str, Any] = {"timeout_s": 60.0, "poll_s": 0.05}
_namespaces = itertools.count(1)


def uri(version: int) -> str:
    return f"s3://mlpipeline/registry/{NAME}/v{version}"


# ---------------------------------------------------------------- models, servers


@dataclass(frozen=True)
class Served:
    """Two real ModelServers answering for ``penguins``, and a smoke check."""

    good: str  # serves the model the smoke request expects
    other: str  # serves a model that answers differently
    sha256: str
    instances: list[list[Any]]
    expected: list[Any]

    def smoke(self) -> Callable[[str], object]:
        """The check deploy_model makes: these rows must get these predictions."""
        return partial(
            v1_smoke_request,
            model_name=NAME,
            instances=self.instances,
            expected=self.expected,
        )


@pytest.fixture(scope="module")
def served(
    penguin_splits: tuple[pd.DataFrame, pd.DataFrame],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    """The good model and one trained on shifted labels, each behind a ModelServer."""
    train, test = penguin_splits
    shifted = {"Adelie": "Chinstrap", "Chinstrap": "Gentoo", "Gentoo": "Adelie"}
    good = train_model(train, "species", seed=0)
    other = train_model(
        train.assign(species=train["species"].map(shifted)), "species", seed=0
    )
    root = tmp_path_factory.mktemp("models")
    save_model(good, root / "good")
    save_model(other, root / "other")
    features = good.metadata["features"]
    rows = test[[f["name"] for f in features]].head(5)
    expected = good.pipeline.predict(rows).tolist()
    assert other.pipeline.predict(rows).tolist() != expected
    with ExitStack() as servers:
        yield Served(
            good=servers.enter_context(start_server_in_subprocess(root / "good", NAME)),
            other=servers.enter_context(
                start_server_in_subprocess(root / "other", NAME)
            ),
            sha256=str(good.metadata["model_sha256"]),
            instances=to_v1_instances(rows, features),
            expected=expected,
        )


# ---------------------------------------------------------------- cluster access


@pytest.fixture(scope="module")
def runner_kubeconfig(
    kube: KubeApiserver, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A kubeconfig holding a token of KFP's pipeline-runner ServiceAccount."""
    token = kube.service_account_token(*RUNNER)
    return kube.write_kubeconfig(tmp_path_factory.mktemp("runner") / "config", token)


@pytest.fixture
def runner(runner_kubeconfig: Path) -> Iterator[k8s.CustomObjectsApi]:
    """The client deploy_model builds in its pod, as pipeline-runner."""
    api = load_kube_api(runner_kubeconfig, in_cluster=False)
    yield api
    api.api_client.close()


@pytest.fixture
def admin(kube: KubeApiserver) -> Iterator[k8s.CustomObjectsApi]:
    with kube.client() as api_client:
        yield k8s.CustomObjectsApi(api_client)


def _fresh_namespace(kube: KubeApiserver) -> str:
    namespace = f"deploy-{next(_namespaces)}"
    kube.kubectl("create", "namespace", namespace)
    return namespace


@pytest.fixture
def namespace(kube: KubeApiserver, runner_kubeconfig: Path) -> str:
    """A new namespace with the base overlay's deploy Role bound to pipeline-runner."""
    namespace = _fresh_namespace(kube)
    rendered = kube.kubectl("kustomize", str(REPO_ROOT / "manifests" / "base")).stdout
    access = [
        {**doc, "metadata": {**doc["metadata"], "namespace": namespace}}
        for doc in yaml.safe_load_all(rendered)
        if doc and doc["kind"] in {"Role", "RoleBinding"}
    ]
    assert len(access) == 2
    kube.kubectl("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(access))
    # RBAC decides from a cache the new binding reaches a moment later.
    who = f"--as=system:serviceaccount:{RUNNER[0]}:{RUNNER[1]}"
    for _ in range(100):
        verdict = kube.kubectl(
            "auth",
            "can-i",
            "patch",
            f"{PLURAL}.{GROUP}",
            "-n",
            namespace,
            who,
            check=False,
        )
        if verdict.stdout.strip() == "yes":
            return namespace
    raise AssertionError(f"the deploy RoleBinding never took effect in {namespace}")


def isvc(
    namespace: str, version: int, sha256: str, mode: str = "raw", **extra: Any
) -> dict[str, Any]:
    """The InferenceService deploy_model builds; Serverless ones with tag routing.

    Tag routing gives the canary its own URL for the smoke request; without it the
    request goes to the service URL, which reaches the canary for only its share.
    """
    built = build_inference_service(
        name=NAME,
        namespace=namespace,
        storage_uri=uri(version),
        model_version=version,
        model_sha256=sha256,
        mode=mode,  # type: ignore[arg-type]
        **extra,
    )
    if mode == "serverless":
        built["metadata"]["annotations"][TAG_ROUTING] = "true"
    return built


def live(admin: k8s.CustomObjectsApi, namespace: str) -> dict[str, Any]:
    found: dict[str, Any] = admin.get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, NAME
    )
    return found


def wait_until_answered(admin: k8s.CustomObjectsApi, namespace: str) -> None:
    """Until the played controller has answered the object's current generation."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        obj = live(admin, namespace)
        if (
            obj.get("status", {}).get("observedGeneration")
            == (obj["metadata"]["generation"])
        ):
            return
        time.sleep(0.05)
    raise AssertionError(f"{namespace}/{NAME} got no status within 60 s")


def resource_version(admin: k8s.CustomObjectsApi, namespace: str) -> str:
    listed = admin.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    return str(listed["metadata"]["resourceVersion"])


def stored_specs(
    admin: k8s.CustomObjectsApi, namespace: str, since: str
) -> list[tuple[str, int | None]]:
    """``(storageUri, canaryTrafficPercent)`` of each generation stored since ``since``.

    Read back from the apiserver's own watch history, so every write that changed
    the spec is there, in order.
    """
    seen: dict[int, tuple[str, int | None]] = {}
    stream = watch.Watch().stream(
        admin.list_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        resource_version=since,
        timeout_seconds=1,
    )
    for event in stream:
        obj = event["object"]
        predictor = obj["spec"]["predictor"]
        seen.setdefault(
            obj["metadata"]["generation"],
            (predictor["model"]["storageUri"], predictor.get("canaryTrafficPercent")),
        )
    return [seen[generation] for generation in sorted(seen)]


def owners(obj: dict[str, Any], *path: str) -> set[str]:
    """The field managers that own ``spec.<path>`` of a stored object."""
    found = set()
    for entry in obj["metadata"]["managedFields"]:
        node = entry.get("fieldsV1", {}).get("f:spec", {})
        for step in path:
            node = node.get(f"f:{step}") if isinstance(node, dict) else None
        if node is not None:
            found.add(entry["manager"])
    return found


def missing_fields(stored: Any, wanted: Any, path: str = "") -> list[str]:
    """Paths of ``wanted`` the stored object lacks or holds differently."""
    if isinstance(wanted, dict):
        if not isinstance(stored, dict):
            return [path or "."]
        return [
            miss
            for key, value in wanted.items()
            for miss in missing_fields(stored.get(key), value, f"{path}.{key}")
        ]
    return [] if stored == wanted else [path]


# ---------------------------------------------------------------- the tests


def test_a_first_deploy_is_applied_waited_for_and_smoked(
    namespace: str,
    runner: k8s.CustomObjectsApi,
    admin: k8s.CustomObjectsApi,
    served: Served,
) -> None:
    wanted = isvc(namespace, 1, served.sha256)
    with PlayedController(admin.api_client, namespace, {uri(1): served.good}):
        result = deploy(wanted, api=runner, smoke=served.smoke(), **FAST)

    assert result.action == "created"
    assert (result.model_version, result.storage_uri) == ("v1", uri(1))
    assert result.smoke_url == served.good == result.internal_url
    obj = live(admin, namespace)
    # The CRD's schema kept every field deploy wrote (a structural schema silently
    # drops the ones it does not know).
    assert missing_fields(obj, wanted) == []
    applies = [e for e in obj["metadata"]["managedFields"] if e["operation"] == "Apply"]
    assert [e["manager"] for e in applies] == [FIELD_MANAGER]
    assert owners(obj, "predictor", "model", "storageUri") == {FIELD_MANAGER}


def test_deploying_the_same_version_again_writes_nothing(
    kube: KubeApiserver,
    namespace: str,
    runner: k8s.CustomObjectsApi,
    admin: k8s.CustomObjectsApi,
    served: Served,
) -> None:
    with PlayedController(admin.api_client, namespace, {uri(1): served.good}):
        deploy(isvc(namespace, 1, served.sha256), api=runner, **FAST)
        # Someone labels it by hand; that is no reason to roll anything.
        kube.kubectl("label", "-n", namespace, f"{PLURAL}.{GROUP}/{NAME}", "team=ml")
        before = live(admin, namespace)["metadata"]
        result = deploy(
            isvc(namespace, 1, served.sha256), api=runner, smoke=served.smoke(), **FAST
        )

    assert result.action == "unchanged"
    assert result.smoke_url == served.good, "an unchanged service is still checked"
    after = live(admin, namespace)["metadata"]
    assert after["resourceVersion"] == before["resourceVersion"]
    assert after["generation"] == before["generation"] == 1
    assert after["labels"]["team"] == "ml"


def test_a_serverless_canary_is_smoked_on_its_own_revision_then_promoted(
    kube: KubeApiserver,
    namespace: str,
    runner: k8s.CustomObjectsApi,
    admin: k8s.CustomObjectsApi,
    served: Served,
    tmp_path: Path,
) -> None:
    # v1 was applied by hand with `kubectl apply --server-side`, as the gke overlay
    # is, and loads a model that answers differently from v2's; it keeps its share
    # meanwhile, so a smoke request that reached it would fail.
    first = isvc(namespace, 1, "1" * 64, "serverless", canary_traffic_percent=10)
    (tmp_path / "v1.json").write_text(json.dumps(first))
    routes = {uri(1): served.other, uri(2): served.good}
    with PlayedController(admin.api_client, namespace, routes):
        kube.kubectl("apply", "--server-side", "-f", str(tmp_path / "v1.json"))
        wait_until_answered(admin, namespace)
        since = resource_version(admin, namespace)
        traffic_during_smoke: list[list[tuple[str, int]]] = []

        def smoke(url: str) -> object:
            predictor = live(admin, namespace)["status"]["components"]["predictor"]
            traffic_during_smoke.append(
                [(t["revisionName"], t["percent"]) for t in predictor["traffic"]]
            )
            return served.smoke()(url)

        result = deploy(
            isvc(namespace, 2, served.sha256, "serverless"),
            api=runner,
            smoke=smoke,
            **FAST,
        )

    assert result.action == "promoted"
    assert result.previous_model_version == "v1"
    assert result.smoke_url == served.good
    assert traffic_during_smoke == [
        [(f"{NAME}-predictor-00002", 10), (f"{NAME}-predictor-00001", 90)]
    ]
    assert stored_specs(admin, namespace, since) == [(uri(2), 10), (uri(2), 100)]
    obj = live(admin, namespace)
    traffic = obj["status"]["components"]["predictor"]["traffic"]
    assert [(t["revisionName"], t["percent"]) for t in traffic] == [
        (f"{NAME}-predictor-00002", 100)
    ]
    # The canary share kubectl had set now belongs to the deployer.
    assert owners(obj, "predictor", "canaryTrafficPercent") == {FIELD_MANAGER}


@pytest.mark.parametrize(
    ("mode", "writes"),
    [
        ("raw", [(uri(2), None), (uri(1), None)]),
        ("serverless", [(uri(2), 10), (uri(1), 0), (uri(1), 100)]),
    ],
)
def test_a_failed_smoke_request_rolls_back_to_the_version_that_served(
    namespace: str,
    runner: k8s.CustomObjectsApi,
    admin: k8s.CustomObjectsApi,
    served: Served,
    mode: str,
    writes: list[tuple[str, int | None]],
) -> None:
    # v2 is the model the pipeline validated, but what the cluster loads for it
    # answers differently.
    routes = {uri(1): served.good, uri(2): served.other}
    with PlayedController(admin.api_client, namespace, routes):
        deploy(isvc(namespace, 1, served.sha256, mode), api=runner, **FAST)
        since = resource_version(admin, namespace)
        with pytest.raises(DeploymentRolledBack) as raised:
            deploy(
                isvc(namespace, 2, "2" * 64, mode),
                api=runner,
                smoke=served.smoke(),
                **FAST,
            )
        restored = raised.value.result
        # What serves now answers as expected.
        assert restored.internal_url == served.good
        served.smoke()(restored.internal_url)

    message = str(raised.value)
    assert f"Deploying v2 to InferenceService {namespace}/{NAME} failed" in message
    assert f"the smoke request to {served.other} failed" in message
    assert "differ from the expected ones" in message
    assert message.endswith("v1 was restored and is serving again.")
    assert "\n" not in message
    assert (restored.action, restored.storage_uri) == ("rolled_back", uri(1))
    assert stored_specs(admin, namespace, since) == writes
    obj = live(admin, namespace)
    assert obj["metadata"]["labels"]["kfp-mlops-suite.io/model-version"] == "v1"
    assert obj["metadata"]["annotations"]["kfp-mlops-suite.io/model-sha256"] == (
        served.sha256
    )
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]


def test_another_field_manager_conflicts_with_the_deployer_until_it_forces(
    kube: KubeApiserver,
    namespace: str,
    runner: k8s.CustomObjectsApi,
    admin: k8s.CustomObjectsApi,
    served: Served,
    tmp_path: Path,
) -> None:
    by_hand = isvc(namespace, 2, "2" * 64)
    by_hand["metadata"]["labels"]["team"] = "ml"
    manifest = tmp_path / "v2.json"
    manifest.write_text(json.dumps(by_hand))
    routes = {uri(1): served.good, uri(2): served.good}
    with PlayedController(admin.api_client, namespace, routes):
        deploy(isvc(namespace, 1, served.sha256), api=runner, **FAST)
        before = live(admin, namespace)

        # A person applies another version: the server refuses to take the fields
        # the deployer owns from it without --force-conflicts.
        refused = kube.kubectl(
            "apply", "--server-side", "-f", str(manifest), check=False
        )
        assert refused.returncode != 0
        assert "conflict" in refused.stderr.lower()
        assert f'with "{FIELD_MANAGER}"' in refused.stderr
        assert ".spec.predictor.model.storageUri" in refused.stderr
        assert (
            live(admin, namespace)["metadata"]["resourceVersion"]
            == (before["metadata"]["resourceVersion"])
        )

        kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(manifest))
        taken = live(admin, namespace)
        assert owners(taken, "predictor", "model", "storageUri") == {"kubectl"}

        # The pipeline deploys v1 again: it notices the drift and takes it back.
        result = deploy(
            isvc(namespace, 1, served.sha256), api=runner, smoke=served.smoke(), **FAST
        )

    assert result.action == "updated"
    assert result.previous_model_version == "v2"
    obj = live(admin, namespace)
    assert obj["spec"]["predictor"]["model"]["storageUri"] == uri(1)
    assert owners(obj, "predictor", "model", "storageUri") == {FIELD_MANAGER}
    # A field only the other manager set stays, and stays its.
    assert obj["metadata"]["labels"]["team"] == "ml"


def test_a_namespace_the_deploy_role_does_not_cover_is_refused_in_one_sentence(
    kube: KubeApiserver,
    runner: k8s.CustomObjectsApi,
    admin: k8s.CustomObjectsApi,
    served: Served,
) -> None:
    elsewhere = _fresh_namespace(kube)
    with pytest.raises(DeploymentError) as raised:
        deploy(isvc(elsewhere, 1, served.sha256), api=runner, **FAST)

    message = str(raised.value)
    assert not isinstance(raised.value, DeploymentRolledBack)
    # The verb, the resource and the namespace, then the Role that would grant them.
    assert (
        f"refused to let this step get {PLURAL}.{GROUP} in namespace {elsewhere}"
        in message
    )
    assert (
        f'cannot get resource "{PLURAL}" in API group "{GROUP}" in the namespace '
        f'"{elsewhere}"'
    ) in message
    assert message.endswith("nothing was changed.")
    assert "\n" not in message
    listed = admin.list_namespaced_custom_object(GROUP, VERSION, elsewhere, PLURAL)
    assert listed["items"] == []

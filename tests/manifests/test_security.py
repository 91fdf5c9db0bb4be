"""What the image and the overlays promise about security, checked on what renders.

- The image's user and the sink's pod name the same uid and gid, both at least 10000.
- Only the predictor's request logger reaches the sink, and the sink reaches only DNS
  and its object store (the NetworkPolicies are evaluated, not just looked at).
- No secret reaches a container through its environment.
- Every checkov check the manifests skip is listed, with its reason, in the README.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = REPO_ROOT / "manifests"
OVERLAYS = sorted(
    path.name
    for path in (MANIFESTS / "overlays").iterdir()
    if (path / "kustomization.yaml").is_file()
)
SINK = "kfp-mlops-log-sink"
SINK_PORT = 8080
KUBE_DNS = ({"kubernetes.io/metadata.name": "kube-system"}, {"k8s-app": "kube-dns"})
Render = Callable[[Path], list[dict[str, Any]]]
Peer = dict[str, Any]


def _image_ids() -> tuple[int, int]:
    """The (uid, gid) the Dockerfile's last USER runs as, checked against useradd."""
    text = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")
    uid, gid = (int(n) for n in re.findall(r"^USER (\d+):(\d+)$", text, re.M)[-1])
    assert re.search(rf"useradd [^\n]*--uid {uid}\b[^\n]*--gid {gid}\b", text)
    assert re.search(rf"groupadd --gid {gid}\b", text)
    return uid, gid


def _objects(render: Render, overlay: str) -> list[dict[str, Any]]:
    return render(MANIFESTS / "overlays" / overlay)


def _sink(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = [
        obj
        for obj in objects
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == SINK
    ]
    return deployment


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A label selector with matchLabels only (what our policies use) matches labels."""
    assert set(selector) <= {"matchLabels"}, selector
    return selector.get("matchLabels", {}).items() <= labels.items()


def _policies_for(
    objects: list[dict[str, Any]], pod_labels: dict[str, str], direction: str
) -> list[dict[str, Any]]:
    return [
        obj["spec"]
        for obj in objects
        if obj["kind"] == "NetworkPolicy"
        and direction in obj["spec"]["policyTypes"]
        and _selects(obj["spec"]["podSelector"], pod_labels)
    ]


def _allows(rules: list[dict[str, Any]], peer: Peer, port: int, protocol: str) -> bool:
    """Whether any rule admits this peer on this port (the union NetworkPolicies use).

    A peer is ``{"pod": labels, "namespace": labels}`` for a pod, or ``{"ip": "..."}``
    for an address outside the cluster.
    """
    for rule in rules:
        ports = rule.get("ports")
        if ports and not any(
            p["port"] == port and p.get("protocol", "TCP") == protocol for p in ports
        ):
            continue
        peers = rule.get("from", rule.get("to"))
        if not peers or any(_matches(spec, peer) for spec in peers):
            return True
    return False


def _matches(spec: dict[str, Any], peer: Peer) -> bool:
    if "ipBlock" in spec:
        if "ip" not in peer:
            return False
        address = ipaddress.ip_address(peer["ip"])
        block = spec["ipBlock"]
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(cidr) for cidr in block.get("except", [])
        )
    if "pod" not in peer:
        return False
    namespace = spec.get("namespaceSelector")
    if namespace is None:
        in_namespace = peer["namespace"] == {"same": "true"}
    else:
        in_namespace = _selects(namespace, peer["namespace"])
    return in_namespace and _selects(spec.get("podSelector", {}), peer["pod"])


def _same_namespace(labels: dict[str, str]) -> Peer:
    return {"pod": labels, "namespace": {"same": "true"}}


def test_the_image_runs_as_a_high_uid_and_gid() -> None:
    uid, gid = _image_ids()
    assert uid >= 10000 and gid >= 10000


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_sink_runs_as_the_images_user(render: Render, overlay: str) -> None:
    uid, gid = _image_ids()
    pod = _sink(_objects(render, overlay))["spec"]["template"]["spec"]
    pod_context = pod["securityContext"]
    assert (pod_context["runAsUser"], pod_context["runAsGroup"]) == (uid, gid)
    # Mounted volumes (the journal's emptyDir, kind's Secret) belong to this group.
    assert pod_context["fsGroup"] == gid
    for container in pod["containers"]:
        context = container["securityContext"]
        assert (context["runAsUser"], context["runAsGroup"]) == (uid, gid)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_predictors_logger_reaches_the_sink(
    render: Render, overlay: str
) -> None:
    objects = _objects(render, overlay)
    sink = _sink(objects)
    rules = [
        rule
        for policy in _policies_for(
            objects, sink["spec"]["template"]["metadata"]["labels"], "Ingress"
        )
        for rule in policy.get("ingress", [])
    ]
    (isvc,) = [obj for obj in objects if obj["kind"] == "InferenceService"]
    predictor = _same_namespace(isvc["spec"]["predictor"]["labels"])
    assert _allows(rules, predictor, SINK_PORT, "TCP")
    # Anything else is refused: another pod of the namespace, the sink itself, a pod
    # elsewhere, an address outside, and the predictor on another port.
    assert not _allows(rules, _same_namespace({"app": "other"}), SINK_PORT, "TCP")
    sink_pod = _same_namespace(sink["spec"]["template"]["metadata"]["labels"])
    assert not _allows(rules, sink_pod, SINK_PORT, "TCP")
    elsewhere = {"pod": predictor["pod"], "namespace": {"name": "other"}}
    assert not _allows(rules, elsewhere, SINK_PORT, "TCP")
    assert not _allows(rules, {"ip": "8.8.8.8"}, SINK_PORT, "TCP")
    assert not _allows(rules, predictor, 9000, "TCP")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_sink_reaches_only_dns_and_its_object_store(
    render: Render, overlay: str
) -> None:
    objects = _objects(render, overlay)
    labels = _sink(objects)["spec"]["template"]["metadata"]["labels"]
    rules = [
        rule
        for policy in _policies_for(objects, labels, "Egress")
        for rule in policy.get("egress", [])
    ]
    dns = {"pod": KUBE_DNS[1], "namespace": KUBE_DNS[0]}
    assert _allows(rules, dns, 53, "UDP") and _allows(rules, dns, 53, "TCP")
    seaweedfs = _same_namespace({"app": "seaweedfs"})
    storage_api = {"ip": "142.250.1.207"}  # a public Google address
    if overlay == "kind":
        assert _allows(rules, seaweedfs, 8333, "TCP")
        assert not _allows(rules, storage_api, 443, "TCP")
    else:
        assert _allows(rules, storage_api, 443, "TCP")
        assert _allows(rules, {"ip": "169.254.169.252"}, 988, "TCP")
        assert not _allows(rules, seaweedfs, 8333, "TCP")
    # Nothing else: the Kubernetes API, other pods, private addresses, plain HTTP out.
    for peer, port in [
        ({"ip": "10.96.0.1"}, 443),
        ({"ip": "192.168.1.10"}, 443),
        ({"ip": "172.20.0.5"}, 443),
        (storage_api, 80),
        (_same_namespace({"app": "other"}), 8333),
        (_same_namespace({"app": "ml-pipeline"}), 8888),
        ({"pod": KUBE_DNS[1], "namespace": KUBE_DNS[0]}, 443),
    ]:
        assert not _allows(rules, peer, port, "TCP"), (peer, port)


def test_the_policy_check_catches_a_policy_that_admits_everyone(
    render: Render,
) -> None:
    objects = _objects(render, "kind")
    for obj in objects:
        if obj["kind"] == "NetworkPolicy" and obj["metadata"]["name"] == SINK:
            obj["spec"]["ingress"].append({"from": [{"podSelector": {}}]})
    labels = _sink(objects)["spec"]["template"]["metadata"]["labels"]
    rules = [
        rule
        for policy in _policies_for(objects, labels, "Ingress")
        for rule in policy.get("ingress", [])
    ]
    assert _allows(rules, _same_namespace({"app": "other"}), SINK_PORT, "TCP")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_reaches_a_container_through_its_environment(
    render: Render, overlay: str
) -> None:
    for obj in _objects(render, overlay):
        pod = obj.get("spec", {}).get("template", {}).get("spec", {})
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            for item in container.get("env", []):
                assert "secretKeyRef" not in item.get("valueFrom", {}), item["name"]
            for source in container.get("envFrom", []):
                assert "secretRef" not in source, source


def test_kind_gives_the_sink_its_keys_as_a_read_only_credentials_file(
    render: Render,
) -> None:
    pod = _sink(_objects(render, "kind"))["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    path = Path(env["AWS_SHARED_CREDENTIALS_FILE"])
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    (mount,) = [
        mount
        for mount in container["volumeMounts"]
        if "secret" in volumes[mount["name"]]
    ]
    assert mount["readOnly"] is True
    secret = volumes[mount["name"]]["secret"]
    (item,) = secret["items"]
    assert Path(mount["mountPath"]) / item["path"] == path
    # Readable by the pod's group (the image's user), by no one else.
    assert secret["defaultMode"] == 0o440
    # scripts/kind-up.sh writes that key into the Secret it creates.
    script = (REPO_ROOT / "scripts" / "kind-up.sh").read_text(encoding="utf-8")
    assert "name: ${S3_SECRET_NAME}" in script
    assert re.search(rf"^  {re.escape(item['key'])}: \$\{{", script, re.M)
    assert f'S3_SECRET_NAME="{secret["secretName"]}"' in script


def _skipped_checks(objects: list[dict[str, Any]]) -> set[str]:
    return {
        value.split("=", 1)[0].strip()
        for obj in objects
        for key, value in obj["metadata"].get("annotations", {}).items()
        if key.startswith("checkov.io/skip")
    }


def test_every_skipped_checkov_check_is_listed_in_the_readme(render: Render) -> None:
    skipped = set().union(
        *(_skipped_checks(_objects(render, overlay)) for overlay in OVERLAYS)
    )
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    listed = set(
        re.findall(r"^\s*\| `(CKV2?_K8S_\d+)` [^|]+\|[^|]+\| \w", readme, re.M)
    )
    assert skipped == listed
    assert skipped <= {"CKV_K8S_15", "CKV_K8S_43"}

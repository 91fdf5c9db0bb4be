#!/usr/bin/env bash
# Create the local cluster for `make kind-up` and the tests marked `kind`:
#   kind (manifests/kind/cluster.yaml) + cert-manager + KServe (RawDeployment default)
#   + Kubeflow Pipelines standalone, then the serving prerequisites of
#   manifests/overlays/kind: the S3 credentials Secret and the ServiceAccount / Role /
#   RoleBinding the pipeline's deploy step needs. The InferenceService itself is left to
#   the pipeline (or `kubectl apply -k` on a write_overlay output).
#
# Safe to run again: an existing cluster is reused and every step is an apply.
# Needs: docker (or podman) running, kind, kubectl, curl, git (remote kustomize), python3.
# Budget: about 4 CPUs and 8 GiB for the kind node; the first run pulls many images.
set -euo pipefail

# Pinned releases; override from the environment to try another one.
#  - cert-manager: the version KServe's own dependency file tests against.
#  - KServe: matches the kserve Python SDK pinned in pyproject.toml (0.21.x).
#  - KFP: matches the kfp SDK pinned in pyproject.toml (2.17.x).
CERT_MANAGER_VERSION="${CERT_MANAGER_VERSION:-v1.17.0}"
KSERVE_VERSION="${KSERVE_VERSION:-v0.21.0}"
KFP_VERSION="${KFP_VERSION:-2.17.1}"

CLUSTER_NAME="${CLUSTER_NAME:-kfp-mlops-suite}"
WAIT_TIMEOUT="${WAIT_TIMEOUT:-600s}"
KFP_WAIT_TIMEOUT="${KFP_WAIT_TIMEOUT:-1200s}"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KIND_CONFIG="${REPO_ROOT}/manifests/kind/cluster.yaml"
SERVING_OVERLAY="${REPO_ROOT}/manifests/overlays/kind"
# The kind overlay serves in KFP's namespace (see manifests/README.md for why).
SERVING_NAMESPACE="kubeflow"
S3_SECRET_NAME="kfp-mlops-s3-credentials"
# KFP's object store (SeaweedFS behind the historical MinIO service name).
S3_ENDPOINT="minio-service.kubeflow:9000"

TMP_DIR="$(mktemp -d)"
trap 'rm -rf "${TMP_DIR}"' EXIT

log() { printf '\n==> %s\n' "$*" >&2; }
die() {
    printf 'kind-up: %s\n' "$*" >&2
    exit 1
}

require() {
    local tool
    for tool in "$@"; do
        command -v "${tool}" >/dev/null 2>&1 || die "${tool} is required but not on PATH."
    done
}

# kubectl pinned to this cluster's context: a shell pointed at another cluster is never
# touched, whatever the current context is.
k() { kubectl --context "kind-${CLUSTER_NAME}" "$@"; }

# retry ATTEMPTS DELAY_SECONDS COMMAND...: for steps that race a webhook or the network.
retry() {
    local attempts=$1 delay=$2 n=1
    shift 2
    until "$@"; do
        if ((n >= attempts)); then
            return 1
        fi
        log "attempt ${n}/${attempts} failed, retrying in ${delay}s: $*"
        sleep "${delay}"
        n=$((n + 1))
    done
}

create_cluster() {
    if kind get clusters 2>/dev/null | grep -qx "${CLUSTER_NAME}"; then
        log "Reusing kind cluster ${CLUSTER_NAME}"
    else
        log "Creating kind cluster ${CLUSTER_NAME}"
        kind create cluster --name "${CLUSTER_NAME}" --config "${KIND_CONFIG}" --wait 180s
    fi
    k wait --for=condition=Ready node --all --timeout="${WAIT_TIMEOUT}"
}

install_cert_manager() {
    log "Installing cert-manager ${CERT_MANAGER_VERSION}"
    retry 3 10 k apply -f \
        "https://github.com/cert-manager/cert-manager/releases/download/${CERT_MANAGER_VERSION}/cert-manager.yaml"
    k -n cert-manager wait --for=condition=Available deployment --all --timeout="${WAIT_TIMEOUT}"
}

# RawDeployment by default, and no Ingress objects: nothing on kind would ever give
# them an address, so InferenceServices would never turn Ready. Reach a model with
# `kubectl port-forward svc/<name>-predictor`.
configure_kserve() {
    local patch
    patch="$(k -n kserve get configmap inferenceservice-config -o json | python3 -c '
import json, sys

data = json.load(sys.stdin)["data"]
deploy = json.loads(data.get("deploy") or "{}")
deploy["defaultDeploymentMode"] = "RawDeployment"
ingress = json.loads(data.get("ingress") or "{}")
ingress["disableIngressCreation"] = True
print(json.dumps({"data": {"deploy": json.dumps(deploy), "ingress": json.dumps(ingress)}}))
')" || die "could not read KServe's inferenceservice-config ConfigMap as JSON."
    k -n kserve patch configmap inferenceservice-config --type merge -p "${patch}"
    k -n kserve rollout restart deployment/kserve-controller-manager
    k -n kserve rollout status deployment/kserve-controller-manager --timeout="${WAIT_TIMEOUT}"
}

install_kserve() {
    local base="https://github.com/kserve/kserve/releases/download/${KSERVE_VERSION}"
    log "Installing KServe ${KSERVE_VERSION} (RawDeployment)"
    # Since 0.17 kserve.yaml no longer carries its namespace, and the CRDs come apart.
    k create namespace kserve --dry-run=client -o yaml | k apply -f -
    if curl -fsL --retry 3 -o "${TMP_DIR}/kserve-crds.yaml" "${base}/kserve-crds.yaml"; then
        k apply --server-side --force-conflicts -f "${TMP_DIR}/kserve-crds.yaml"
    else
        log "No kserve-crds.yaml in ${KSERVE_VERSION}: the CRDs ship inside kserve.yaml"
    fi
    curl -fsSL --retry 3 -o "${TMP_DIR}/kserve.yaml" "${base}/kserve.yaml"
    # A second pass creates what the first could not before its CRDs were established.
    retry 3 15 k apply --server-side --force-conflicts -f "${TMP_DIR}/kserve.yaml"
    k wait --for=condition=Established --timeout=120s crd/inferenceservices.serving.kserve.io
    k -n kserve wait --for=condition=Available deployment/kserve-controller-manager \
        --timeout="${WAIT_TIMEOUT}"
    configure_kserve

    curl -fsSL --retry 3 -o "${TMP_DIR}/kserve-cluster-resources.yaml" \
        "${base}/kserve-cluster-resources.yaml"
    # The ClusterServingRuntimes go through KServe's webhook, which answers only once
    # cert-manager has issued its certificate.
    retry 10 15 k apply --server-side --force-conflicts -f "${TMP_DIR}/kserve-cluster-resources.yaml"
    k get clusterservingruntime kserve-sklearnserver >/dev/null \
        || die "KServe ${KSERVE_VERSION} installed no kserve-sklearnserver runtime."
}

install_kfp() {
    local repo="github.com/kubeflow/pipelines/manifests/kustomize"
    log "Installing Kubeflow Pipelines ${KFP_VERSION} (standalone, platform-agnostic)"
    retry 3 15 k apply -k "${repo}/cluster-scoped-resources?ref=${KFP_VERSION}"
    k wait --for=condition=Established --timeout=120s crd --all
    retry 3 15 k apply -k "${repo}/env/platform-agnostic?ref=${KFP_VERSION}"
    log "Waiting up to ${KFP_WAIT_TIMEOUT} for the KFP deployments (image pulls take a while)"
    k -n kubeflow wait --for=condition=Available deployment --all --timeout="${KFP_WAIT_TIMEOUT}"
}

# KServe reads S3 credentials from a Secret listed on the predictor's ServiceAccount and
# the endpoint from the Secret's annotations. Reuse KFP's own object-store credentials
# so nothing secret is ever written to the repository; the values are copied as the
# base64 the API returns and are never printed.
create_s3_secret() {
    local access_key secret_key
    log "Creating Secret ${SERVING_NAMESPACE}/${S3_SECRET_NAME} from KFP's object-store credentials"
    access_key="$(k -n kubeflow get secret mlpipeline-minio-artifact -o jsonpath='{.data.accesskey}')"
    secret_key="$(k -n kubeflow get secret mlpipeline-minio-artifact -o jsonpath='{.data.secretkey}')"
    [[ -n "${access_key}" && -n "${secret_key}" ]] \
        || die "Secret kubeflow/mlpipeline-minio-artifact has no accesskey/secretkey."
    k apply -f - <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: ${S3_SECRET_NAME}
  namespace: ${SERVING_NAMESPACE}
  labels:
    app.kubernetes.io/part-of: kfp-mlops-suite
    app.kubernetes.io/component: serving-access
  annotations:
    serving.kserve.io/s3-endpoint: ${S3_ENDPOINT}
    serving.kserve.io/s3-usehttps: "0"
    serving.kserve.io/s3-verifyssl: "0"
    serving.kserve.io/s3-region: us-east-1
type: Opaque
data:
  AWS_ACCESS_KEY_ID: ${access_key}
  AWS_SECRET_ACCESS_KEY: ${secret_key}
EOF
}

# The deploy step needs its Role before the first run, so apply everything of the
# kind overlay except the InferenceService (selected by label).
apply_serving_access() {
    log "Applying the serving ServiceAccount, Role and RoleBinding (manifests/overlays/kind)"
    kubectl kustomize "${SERVING_OVERLAY}" \
        | k apply -l app.kubernetes.io/component=serving-access -f -
}

main() {
    require kind kubectl curl git python3
    [[ -f "${KIND_CONFIG}" ]] || die "missing ${KIND_CONFIG}."
    create_cluster
    install_cert_manager
    install_kserve
    install_kfp
    create_s3_secret
    apply_serving_access
    log "Cluster kind-${CLUSTER_NAME} is ready"
    cat >&2 <<EOF
KFP UI/API:  kubectl --context kind-${CLUSTER_NAME} -n kubeflow port-forward svc/ml-pipeline-ui 8080:80
Registry:    s3://mlpipeline/registry (served from ${S3_ENDPOINT})
Tear down:   scripts/kind-down.sh
EOF
}

main "$@"

#!/usr/bin/env bash
# Create the local cluster for `make kind-up` and the tests marked `kind`:
#   kind (manifests/kind/cluster.yaml) + cert-manager + KServe (RawDeployment default)
#   + Kubeflow Pipelines standalone, then the serving prerequisites of
#   manifests/overlays/kind: the S3 credentials Secret and the ServiceAccount / Role /
#   RoleBinding the pipeline's deploy step needs. The InferenceService itself is left to
#   the pipeline (or `kubectl apply -k` on a write_overlay output).
#
# Safe to run again: an existing cluster is reused and every step is an apply.
# Needs: docker or podman running (CONTAINER_TOOL=podman selects kind's podman
# provider), kind, kubectl, curl, git (remote kustomize), python3.
# Budget: about 4 CPUs and 8 GiB for the kind node; the first run pulls many images.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '\n==> %s\n' "$*" >&2; }
die() {
    printf 'kind-up: %s\n' "$*" >&2
    exit 1
}

# The pinned releases and KFP's object store are written once, in pipelines/platform.py
# (standard library only), which prints them as DEFAULT_<NAME>=<value>. Override a
# release from the environment to try another one.
command -v python3 >/dev/null 2>&1 || die "python3 is required but not on PATH."
DEFAULTS="$(python3 "${REPO_ROOT}/pipelines/platform.py")" \
    || die "python3 ${REPO_ROOT}/pipelines/platform.py did not print the kind defaults."
eval "${DEFAULTS}"
CERT_MANAGER_VERSION="${CERT_MANAGER_VERSION:-${DEFAULT_CERT_MANAGER_VERSION}}"
KSERVE_VERSION="${KSERVE_VERSION:-${DEFAULT_KSERVE_VERSION}}"
KFP_VERSION="${KFP_VERSION:-${DEFAULT_KFP_VERSION}}"

CLUSTER_NAME="${CLUSTER_NAME:-kfp-mlops-suite}"
CONTAINER_TOOL="${CONTAINER_TOOL:-docker}"
# In seconds, with the unit: kubectl takes it as it is, wait_for_webhook strips the "s".
WAIT_TIMEOUT="${WAIT_TIMEOUT:-600s}"
KFP_WAIT_TIMEOUT="${KFP_WAIT_TIMEOUT:-1200s}"

KIND_CONFIG="${REPO_ROOT}/manifests/kind/cluster.yaml"
SERVING_OVERLAY="${REPO_ROOT}/manifests/overlays/kind"
# The kind overlay serves in KFP's namespace (see manifests/README.md for why).
SERVING_NAMESPACE="${DEFAULT_KFP_NAMESPACE}"
S3_SECRET_NAME="kfp-mlops-s3-credentials"
# KFP's object store as KServe's storage initializer wants it: host:port, no scheme.
S3_ENDPOINT="${DEFAULT_KFP_OBJECT_STORE_HOST}:${DEFAULT_KFP_OBJECT_STORE_PORT}"

TMP_DIR="$(mktemp -d)"
trap 'rm -rf "${TMP_DIR}"' EXIT

require() {
    local tool
    for tool in "$@"; do
        command -v "${tool}" >/dev/null 2>&1 || die "${tool} is required but not on PATH."
    done
}

# kubectl pinned to this cluster's context: a shell pointed at another cluster is never
# touched, whatever the current context is.
k() { kubectl --context "kind-${CLUSTER_NAME}" "$@"; }

# retry ATTEMPTS DELAY_SECONDS COMMAND...: for steps that fetch over the network.
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

# kind drives docker by default; podman through its (experimental) podman provider.
select_container_tool() {
    case "${CONTAINER_TOOL}" in
        docker) ;;
        podman) export KIND_EXPERIMENTAL_PROVIDER=podman ;;
        *) die "CONTAINER_TOOL=${CONTAINER_TOOL} is not supported; use docker or podman." ;;
    esac
    require "${CONTAINER_TOOL}"
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

# download URL FILE: a release asset, or a one-sentence stop naming it.
download() {
    curl -fsSL --retry 3 -o "$2" "$1" \
        || die "could not download $1; check that the release exists and has this asset."
}

# wait_for_webhook NAMESPACE SERVICE: until the webhook Service has a ready endpoint,
# that is, until the API server's admission calls to it can succeed.
wait_for_webhook() {
    local namespace=$1 service=$2 ready="" deadline=$((SECONDS + ${WAIT_TIMEOUT%s}))
    log "Waiting for webhook ${namespace}/${service} to have a ready endpoint"
    while ((SECONDS < deadline)); do
        ready="$(k -n "${namespace}" get endpointslices \
            -l "kubernetes.io/service-name=${service}" \
            -o jsonpath='{.items[*].endpoints[?(@.conditions.ready==true)].addresses[0]}')"
        [[ -n "${ready}" ]] && return 0
        sleep 5
    done
    die "webhook ${namespace}/${service} has no ready endpoint after ${WAIT_TIMEOUT}."
}

# KServe's release assets since 0.17: kserve-crds.yaml (the CRDs), kserve.yaml (the
# controllers, without their namespace) and kserve-cluster-resources.yaml (the
# ClusterServingRuntimes and LLMInferenceServiceConfigs, both checked by webhooks).
install_kserve() {
    local base="https://github.com/kserve/kserve/releases/download/${KSERVE_VERSION}"
    log "Installing KServe ${KSERVE_VERSION} (RawDeployment)"
    download "${base}/kserve-crds.yaml" "${TMP_DIR}/kserve-crds.yaml"
    download "${base}/kserve.yaml" "${TMP_DIR}/kserve.yaml"
    download "${base}/kserve-cluster-resources.yaml" "${TMP_DIR}/kserve-cluster-resources.yaml"

    k create namespace kserve --dry-run=client -o yaml | k apply -f -
    k apply --server-side --force-conflicts -f "${TMP_DIR}/kserve-crds.yaml"
    k wait --for=condition=Established --timeout=120s \
        crd/inferenceservices.serving.kserve.io crd/clusterservingruntimes.serving.kserve.io
    k apply --server-side --force-conflicts -f "${TMP_DIR}/kserve.yaml"
    k -n kserve wait --for=condition=Available deployment/kserve-controller-manager \
        --timeout="${WAIT_TIMEOUT}"
    configure_kserve

    # Both webhooks answer only once cert-manager has issued their certificates and the
    # controllers serve them; the cluster resources go through both.
    k -n kserve wait --for=condition=Ready certificate --all --timeout="${WAIT_TIMEOUT}"
    k -n kserve wait --for=condition=Available deployment/llmisvc-controller-manager \
        --timeout="${WAIT_TIMEOUT}"
    wait_for_webhook kserve kserve-webhook-server-service
    wait_for_webhook kserve llmisvc-webhook-server-service
    k apply --server-side --force-conflicts -f "${TMP_DIR}/kserve-cluster-resources.yaml"
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
# the endpoint from the Secret's annotations; the log sink reads the same keys as an AWS
# shared-credentials file (key "credentials") mounted from that Secret, never from its
# environment. Reuse KFP's own object-store credentials so nothing secret is ever
# written to the repository; the values stay in shell variables and are never printed.
create_s3_secret() {
    local kfp_secret="${DEFAULT_KFP_OBJECT_STORE_SECRET}" access_key secret_key credentials
    log "Creating Secret ${SERVING_NAMESPACE}/${S3_SECRET_NAME} from KFP's object-store credentials"
    access_key="$(k -n "${DEFAULT_KFP_NAMESPACE}" get secret "${kfp_secret}" -o jsonpath='{.data.accesskey}')"
    secret_key="$(k -n "${DEFAULT_KFP_NAMESPACE}" get secret "${kfp_secret}" -o jsonpath='{.data.secretkey}')"
    [[ -n "${access_key}" && -n "${secret_key}" ]] \
        || die "Secret ${DEFAULT_KFP_NAMESPACE}/${kfp_secret} has no accesskey/secretkey."
    credentials="$(printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
        "$(base64 -d <<<"${access_key}")" "$(base64 -d <<<"${secret_key}")" \
        | base64 | tr -d '\n')"
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
  credentials: ${credentials}
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
    require kind kubectl curl git
    select_container_tool
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
Registry:    ${DEFAULT_KFP_REGISTRY_URI} (served from ${DEFAULT_KFP_OBJECT_STORE_ENDPOINT})
Tear down:   scripts/kind-down.sh
EOF
}

main "$@"

#!/usr/bin/env bash
# `make kind-e2e`: the training pipeline on Kubeflow Pipelines in the kind cluster made by
# `make kind-up`, with deploy=true, then a prediction through the InferenceService.
#
#   1. compile the pipelines for $IMAGE (loaded into kind by `make image`);
#   2. submit the KFP variant (object-store credentials for the s3:// registry) through
#      a port-forward to the KFP API, and wait for the run;
#   3. wait for the InferenceService to be Ready, port-forward its predictor, send a V1
#      request, and check the answer.
# Needs: the cluster from `make kind-up`, the image from `make image`, kubectl, curl, .venv.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MLOPS="${REPO_ROOT}/.venv/bin/mlops"
OUT="${REPO_ROOT}/build/pipelines"

k() { kubectl --context "kind-${CLUSTER_NAME}" "$@"; }
log() { printf '\n==> %s\n' "$*" >&2; }
die() {
    printf 'kind-e2e: %s\n' "$*" >&2
    exit 1
}

[ -x "${MLOPS}" ] || die "run 'make install' first (no ${MLOPS})."
# The cluster's namespace, registry and the demo data's path inside the image, as
# pipelines/platform.py defines them for kind-up.sh and the -kfp specs.
DEFAULTS="$("${REPO_ROOT}/.venv/bin/python" "${REPO_ROOT}/pipelines/platform.py")" \
    || die "could not read the kind defaults from pipelines/platform.py."
eval "${DEFAULTS}"

CLUSTER_NAME="${CLUSTER_NAME:-kfp-mlops-suite}"
IMAGE="${IMAGE:?set IMAGE to the component image loaded into kind (make image)}"
NAMESPACE="${NAMESPACE:-${DEFAULT_KFP_NAMESPACE}}"
MODEL_NAME="${MODEL_NAME:-penguins}"
REGISTRY_URI="${REGISTRY_URI:-${DEFAULT_KFP_REGISTRY_URI}}"
KFP_PORT="${KFP_PORT:-8888}"
PREDICT_PORT="${PREDICT_PORT:-8081}"
RUN_TIMEOUT="${RUN_TIMEOUT:-1800}"
# The demo data ships inside the image with the palmerpenguins package.
DATA_URI="${DEFAULT_IMAGE_PENGUINS_CSV}"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "${pid}" 2>/dev/null || true; done; }
trap cleanup EXIT

# port_forward RESOURCE LOCAL:REMOTE: in the background, waiting until it answers.
port_forward() {
    local local_port="${2%%:*}"
    k -n "${NAMESPACE}" port-forward "$1" "$2" >/dev/null 2>&1 &
    pids+=("$!")
    for _ in $(seq 1 60); do
        if curl -s -o /dev/null "http://127.0.0.1:${local_port}/"; then return 0; fi
        sleep 1
    done
    die "port-forward to $1 did not answer on 127.0.0.1:${local_port} within 60 s."
}

k get namespace "${NAMESPACE}" >/dev/null || die "no cluster kind-${CLUSTER_NAME}: run 'make kind-up'."

log "Compiling the pipelines for ${IMAGE}"
"${MLOPS}" compile --output-dir "${OUT}" --image "${IMAGE}"

log "Submitting the training pipeline to Kubeflow Pipelines (deploy=true)"
port_forward svc/ml-pipeline "${KFP_PORT}:8888"
"${MLOPS}" submit "${OUT}/training-kfp.yaml" --target kfp \
    --host "http://127.0.0.1:${KFP_PORT}" --experiment kind-e2e --wait \
    --param "data_uri=${DATA_URI}" --param label=species \
    --param "model_name=${MODEL_NAME}" --param "registry_uri=${REGISTRY_URI}" \
    --param deploy=true --param "serving_namespace=${NAMESPACE}" --param serving_mode=raw \
    || die "the pipeline run did not succeed; see the KFP UI (kubectl -n kubeflow port-forward svc/ml-pipeline-ui 8080:80)."

log "Waiting for InferenceService ${NAMESPACE}/${MODEL_NAME}"
k -n "${NAMESPACE}" wait --for=condition=Ready "inferenceservice/${MODEL_NAME}" --timeout=300s
k -n "${NAMESPACE}" get inferenceservice "${MODEL_NAME}" \
    -L kfp-mlops-suite.io/model-version

log "Predicting through the InferenceService"
port_forward "svc/${MODEL_NAME}-predictor" "${PREDICT_PORT}:80"
# Features in training order: island, bill_length_mm, bill_depth_mm, flipper_length_mm,
# body_mass_g, sex, year. Two Adelie penguins from the data.
answer="$(curl -sf -H 'Content-Type: application/json' \
    "http://127.0.0.1:${PREDICT_PORT}/v1/models/${MODEL_NAME}:predict" \
    -d '{"instances": [["Torgersen", 39.1, 18.7, 181.0, 3750.0, "male", 2007],
                       ["Biscoe", 37.8, 18.3, 174.0, 3400.0, "female", 2007]]}')"
echo "${answer}"
[ "$(echo "${answer}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["predictions"])')" = "['Adelie', 'Adelie']" ] \
    || die "unexpected predictions: ${answer}"
log "kind e2e passed: ${MODEL_NAME} answers as trained."

#!/usr/bin/env bash
# `make checkov`: checkov's Kubernetes checks on what this repository deploys, rendered
# as a cluster would receive it: every overlay under manifests/overlays and, for each
# overlay, the output of `mlops manifest` (sklearn and onnx formats) for one registered
# version. (manifests/base is not deployed alone: it has no namespace until an overlay
# gives it one.)
# A check may fail only where the manifest says why, in a checkov.io/skip<N> annotation
# that the README's "Security" section lists; any other failure fails this script.
# Needs: kubectl (its kustomize), .venv (make install) and .venv-checkov (make checkov).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHECKOV="${CHECKOV:-${REPO_ROOT}/.venv-checkov/bin/checkov}"
MLOPS="${MLOPS:-${REPO_ROOT}/.venv/bin/mlops}"
OUT="${CHECKOV_DIR:-${REPO_ROOT}/build/checkov}"
MANIFESTS="${REPO_ROOT}/manifests"
# The placeholder model of the committed overlays (manifests/base/inferenceservice.yaml).
PLACEHOLDER_MODEL="mlops-model"

die() {
    printf 'checkov-manifests: %s\n' "$*" >&2
    exit 1
}

command -v kubectl >/dev/null 2>&1 || die "kubectl is required to render the overlays but is not on PATH."
[[ -x "${CHECKOV}" ]] || die "no checkov at ${CHECKOV}; run 'make checkov'."
[[ -x "${MLOPS}" ]] || die "no mlops at ${MLOPS}; run 'make install'."

rm -rf "${OUT}"
mkdir -p "${OUT}/rendered"

# render NAME KUSTOMIZATION_DIR: the objects kubectl apply -k would send.
render() {
    kubectl kustomize "$2" >"${OUT}/rendered/$1.yaml" || die "kubectl kustomize $2 failed."
}

# A registry holding one version (with an ONNX export), all that `mlops manifest`
# reads from it: the tests' stand-in registry, so there is one of them.
registry="${OUT}/registry"
"${REPO_ROOT}/.venv/bin/python" "${REPO_ROOT}/tests/support/stand_in_registry.py" \
    "${registry}" "$(printf 'b%.0s' $(seq 64))" || die "could not write the stand-in registry."

for overlay_dir in "${MANIFESTS}"/overlays/*/; do
    overlay="$(basename "${overlay_dir}")"
    render "overlay-${overlay}" "${overlay_dir}"
    # Serve from the overlay's own store: its storageUri without the placeholder model.
    storage_uri="$(sed -n "s#^ *storageUri: \(.*\)/${PLACEHOLDER_MODEL}/v1\$#\1#p" \
        "${OUT}/rendered/overlay-${overlay}.yaml" | head -n 1)"
    [[ -n "${storage_uri}" ]] \
        || die "overlay ${overlay} has no storageUri ending in /${PLACEHOLDER_MODEL}/v1."
    for format in sklearn onnx; do
        "${MLOPS}" manifest --registry "${registry}" --model-name penguins \
            --storage-uri "${storage_uri}" --overlay "${overlay}" --format "${format}" \
            --output "${OUT}/manifest-${overlay}-${format}" >/dev/null
        render "manifest-${overlay}-${format}" "${OUT}/manifest-${overlay}-${format}"
    done
done

printf 'checkov on %s\n' "$(cd "${OUT}/rendered" && echo *.yaml)"
# --skip-download: no call to the vendor's platform; the checks ship with the package.
"${CHECKOV}" --framework kubernetes --skip-download --compact --quiet \
    --directory "${OUT}/rendered"

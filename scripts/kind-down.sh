#!/usr/bin/env bash
# Delete the local cluster made by scripts/kind-up.sh, and nothing else: only the kind
# cluster of that exact name is removed, with everything in it.
set -euo pipefail

CLUSTER_NAME="${CLUSTER_NAME:-kfp-mlops-suite}"
# The tool the cluster was made with (scripts/kind-up.sh): docker or podman.
CONTAINER_TOOL="${CONTAINER_TOOL:-docker}"

die() {
    printf 'kind-down: %s\n' "$*" >&2
    exit 1
}

command -v kind >/dev/null 2>&1 || die "kind is required but not on PATH."
case "${CONTAINER_TOOL}" in
    docker) ;;
    podman) export KIND_EXPERIMENTAL_PROVIDER=podman ;;
    *) die "CONTAINER_TOOL=${CONTAINER_TOOL} is not supported; use docker or podman." ;;
esac

if kind get clusters 2>/dev/null | grep -qx "${CLUSTER_NAME}"; then
    printf '==> Deleting kind cluster %s\n' "${CLUSTER_NAME}" >&2
    kind delete cluster --name "${CLUSTER_NAME}"
else
    printf '==> No kind cluster named %s; nothing to delete\n' "${CLUSTER_NAME}" >&2
fi

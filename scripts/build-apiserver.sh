#!/usr/bin/env bash
# Build a real kube-apiserver once per machine for the tests marked `apiserver`
# (`make apiserver`; .ci/run calls it when the binary is missing).
#
# Source: Debian bookworm's `kubernetes` source package (1.20.2), built with Debian's
# Go (1.19) from its vendored modules only (GOPROXY=off). Two fixes make it usable:
#  - its vendored modern-go/reflect2 1.0.1 crashes on Go >= 1.18 the first time a
#    custom resource is stored, so Debian's reflect2 1.0.2 replaces it;
#  - a KUBE_GIT_VERSION_FILE gives the binary its real version (v1.20.2).
# etcd comes from Debian's `etcd-server` (installed here, used from /usr/bin/etcd).
#
# The binary lands in a cache outside the repository (override with
# KFP_MLOPS_APISERVER_DIR); an existing working binary is kept, so running this again
# costs nothing. Build: about 12 min and 1.3 GB of scratch space on 2 cores.
# On a shared machine: `nice -n 19 env GOMAXPROCS=1 GOFLAGS=-p=1 scripts/...`.
#
# Usage: build-apiserver.sh          build unless present; print the binary's path
#        build-apiserver.sh --path   print where the binary is (or would be), build nothing
# Needs: Debian bookworm (or a system with its deb-src), root for apt-get when a
# package below is missing.
set -euo pipefail

KUBE_VERSION="1.20.2"
DEBIAN_VERSION="1.20.5+really1.20.2-1.1+deb12u1"
PACKAGES=(golang-go golang-github-modern-go-reflect2-dev etcd-server dpkg-dev make rsync jq)
CACHE_DIR="${KFP_MLOPS_APISERVER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kfp-mlops-suite/kube-apiserver-${KUBE_VERSION}}"
BINARY="${CACHE_DIR}/kube-apiserver"
SOURCES_FILE="/etc/apt/sources.list.d/kfp-mlops-suite-src.sources"

fail() {
  echo "build-apiserver: $*" >&2
  exit 1
}

works() {
  [[ -x "${BINARY}" ]] && "${BINARY}" --version 2>/dev/null | grep -qx "Kubernetes v${KUBE_VERSION}"
}

if [[ "${1:-}" == "--path" ]]; then
  echo "${BINARY}"
  exit 0
elif [[ $# -gt 0 ]]; then
  fail "unknown argument '$1' (expected nothing or --path)"
fi

if works; then
  echo "${BINARY}"
  exit 0
fi

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "${package}" 2>/dev/null | grep -q "ok installed" \
    || missing+=("${package}")
done
need_source_list=false
if ! apt-cache showsrc kubernetes 2>/dev/null | grep -qx "Version: ${DEBIAN_VERSION}"; then
  need_source_list=true
fi
if [[ ${#missing[@]} -gt 0 || "${need_source_list}" == true ]]; then
  [[ "$(id -u)" == 0 ]] || fail "needs root to install ${missing[*]:-the deb-src list} with apt-get"
  command -v apt-get >/dev/null || fail "needs apt-get (Debian bookworm) for the source package and Go"
  if [[ "${need_source_list}" == true && ! -e "${SOURCES_FILE}" ]]; then
    # The source package is in bookworm main; apt-get source needs a deb-src entry.
    cat >"${SOURCES_FILE}" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  fi
  apt-get update -qq
  if [[ ${#missing[@]} -gt 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  apt-cache showsrc kubernetes 2>/dev/null | grep -qx "Version: ${DEBIAN_VERSION}" \
    || fail "apt has no source package kubernetes ${DEBIAN_VERSION} (is this Debian bookworm?)"
fi

REFLECT2="/usr/share/gocode/src/github.com/modern-go/reflect2"
[[ -f "${REFLECT2}/reflect2.go" ]] || fail "Debian's reflect2 is not at ${REFLECT2}"

mkdir -p "${CACHE_DIR}"
# One build at a time per cache: a second caller waits, then finds the binary.
exec 9>"${CACHE_DIR}/.lock"
flock 9
if works; then
  echo "${BINARY}"
  exit 0
fi

WORK="$(mktemp -d "${CACHE_DIR}/build.XXXXXX")"
trap 'rm -rf "${WORK}"' EXIT
cd "${WORK}"
echo "build-apiserver: fetching the kubernetes ${DEBIAN_VERSION} source into ${WORK}" >&2
apt-get source -qq "kubernetes=${DEBIAN_VERSION}" >/dev/null 2>&1 \
  || fail "apt-get source kubernetes=${DEBIAN_VERSION} failed"
cd "kubernetes-1.20.5+really${KUBE_VERSION}"

vendored="vendor/github.com/modern-go/reflect2"
rm -rf "${vendored}"
mkdir -p "${vendored}"
# Sources only, as `go mod vendor` would copy them (no tests, no module files).
find "${REFLECT2}" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' -o -name LICENSE \) \
  ! -name '*_test.go' -exec cp {} "${vendored}/" \;

cat >"${WORK}/version" <<EOF
KUBE_GIT_COMMIT='faecb196815e248d3ecfb03c680a4507229c2a56'
KUBE_GIT_TREE_STATE='clean'
KUBE_GIT_VERSION='v${KUBE_VERSION}'
KUBE_GIT_MAJOR='1'
KUBE_GIT_MINOR='20'
EOF

echo "build-apiserver: building cmd/kube-apiserver (about 12 min on 2 cores)" >&2
make WHAT=cmd/kube-apiserver GOPROXY=off CGO_ENABLED=0 \
  KUBE_GIT_VERSION_FILE="${WORK}/version" >"${WORK}/build.log" 2>&1 || {
  tail -n 30 "${WORK}/build.log" >&2
  fail "make WHAT=cmd/kube-apiserver failed (last lines above)"
}

cp _output/bin/kube-apiserver "${BINARY}.tmp"
mv "${BINARY}.tmp" "${BINARY}"
works || fail "the built ${BINARY} does not report Kubernetes v${KUBE_VERSION}"
echo "${BINARY}"

# One image for every component of the suite, tagged with the package version:
#   make image                      (docker build -t ghcr.io/kfp-mlops-suite/components:<version> .)
#   make image CONTAINER_TOOL=podman
# Pinned: the Python base (the same in both stages), and every Python package through
# constraints.txt.

# Builder: installs the suite into /install with a compiler at hand, because not every
# pinned package has a wheel for every platform (psutil 5.9.8, which kserve 0.21 pins
# below 6, has none for Linux aarch64, so arm64 hosts such as Apple Silicon build it
# from source). The compiler stays in this stage; the image below gets the files only.
FROM python:3.11.11-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY constraints.txt pyproject.toml setup.py README.md ./
COPY mlops_suite ./mlops_suite
COPY components ./components
COPY pipelines ./pipelines
# gcs and s3 extras: registries and data on gs:// (Vertex AI) and s3:// (the KFP object
# store); onnx: the export_onnx step (skl2onnx, onnxruntime). --prefix keeps the layout
# of a plain install under /usr/local, where the pipelines expect the demo data
# (pipelines/platform.py, IMAGE_PENGUINS_CSV).
RUN pip install --prefix=/install -c constraints.txt ".[gcs,s3,onnx]"

FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/tmp/matplotlib

COPY --from=builder /install /usr/local
WORKDIR /opt/kfp-mlops-suite
COPY manifests ./manifests

# The commit the image was built from, recorded in every model's lineage.
ARG GIT_COMMIT=unknown
ENV MLOPS_GIT_COMMIT=${GIT_COMMIT}

# Non-root, as the restricted Pod Security Standard requires, with a UID and GID above
# 10000 so they match no user of the node. The manifests run the image as the same
# numbers (manifests/components/log-sink/deployment.yaml).
RUN groupadd --gid 10001 mlops \
    && useradd --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin mlops
USER 10001:10001
WORKDIR /home/mlops

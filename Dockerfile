# One image for every component of the suite, tagged with the package version:
#   make image                      (docker build -t ghcr.io/kfp-mlops-suite/components:<version> .)
# Pinned: the Python base, and every Python package through constraints.txt.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/tmp/matplotlib

WORKDIR /opt/kfp-mlops-suite
COPY constraints.txt pyproject.toml setup.py README.md ./
COPY mlops_suite ./mlops_suite
COPY components ./components
COPY pipelines ./pipelines
COPY manifests ./manifests
# gcs and s3 extras: registries and data on gs:// (Vertex AI) and s3:// (the KFP object store).
RUN pip install -c constraints.txt ".[gcs,s3]" && rm -rf build *.egg-info

# The commit the image was built from, recorded in every model's lineage.
ARG GIT_COMMIT=unknown
ENV MLOPS_GIT_COMMIT=${GIT_COMMIT}

# Non-root, as the restricted Pod Security Standard requires.
RUN useradd --uid 1000 --create-home --shell /usr/sbin/nologin mlops
USER 1000:1000
WORKDIR /home/mlops

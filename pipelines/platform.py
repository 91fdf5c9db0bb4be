"""Where a compiled pipeline runs, and what each place needs from a step.

The ``portable`` spec is the one spec that runs unchanged on ``kfp.local``, Kubeflow
Pipelines and Vertex AI Pipelines: it carries no platform configuration (Vertex rejects
kfp-kubernetes settings). The ``kfp`` variant adds, through kfp-kubernetes, what a step
needs to reach the object store of a Kubeflow Pipelines install, where the registry
lives on kind (``s3://mlpipeline/registry``): the store's credentials from KFP's own
Secret, and its endpoint.

It is also the one place that names the kind cluster of ``make kind-up``: the releases
``scripts/kind-up.sh`` installs and the object store they serve. The script reads them
by running this file (``python3 pipelines/platform.py`` prints them as shell
assignments), and ``tests/manifests/test_kind_defaults.py`` checks that the overlays,
the READMEs and the compiled ``-kfp`` specs name the same values.
"""

import shlex
from typing import Any

PORTABLE = "portable"
KFP = "kfp"
TARGETS = (PORTABLE, KFP)

# Releases the kind cluster installs. Kubeflow Pipelines is the release of the kfp SDK
# pinned in constraints.txt (2.17.0 is both an SDK and a cluster release), KServe the
# release of the kserve SDK, and cert-manager the version KServe's own dependency file
# tests against.
KIND_KFP_VERSION = "2.17.0"
KIND_KSERVE_VERSION = "v0.21.0"
KIND_CERT_MANAGER_VERSION = "v1.17.0"

# Kubeflow Pipelines standalone keeps its artifacts in this store and its keys in this
# Secret (keys accesskey/secretkey), both created by the KFP install in its namespace.
# Since KFP 2.16 the store is SeaweedFS (MinIO was removed): the Service seaweedfs
# serves S3 on 8333, the port KFP's NetworkPolicy opens to its own namespace. The
# bucket and the Secret kept their MinIO-era names.
KFP_NAMESPACE = "kubeflow"
KFP_OBJECT_STORE_HOST = f"seaweedfs.{KFP_NAMESPACE}"
KFP_OBJECT_STORE_PORT = 8333
KFP_OBJECT_STORE_ENDPOINT = f"http://{KFP_OBJECT_STORE_HOST}:{KFP_OBJECT_STORE_PORT}"
KFP_OBJECT_STORE_SECRET = "mlpipeline-minio-artifact"
KFP_BUCKET = "mlpipeline"


# Defaults the KFP variants are compiled with, so that "Create run" in the KFP UI of a
# `make kind-up` cluster works as it is: the demo data inside the component image, the
# registry and payload logs in the KFP object store.
IMAGE_PENGUINS_CSV = (
    "/usr/local/lib/python3.11/site-packages/palmerpenguins/data/penguins.csv"
)
KFP_REGISTRY_URI = f"s3://{KFP_BUCKET}/registry"
KFP_DEFAULTS: dict[str, dict[str, Any]] = {
    "training": {
        "data_uri": IMAGE_PENGUINS_CSV,
        "label": "species",
        "model_name": "penguins",
        "registry_uri": KFP_REGISTRY_URI,
    },
    "continuous-training": {
        "current_uri": f"s3://{KFP_BUCKET}/logs/penguins/",
        "training_data_uri": IMAGE_PENGUINS_CSV,
        "label": "species",
        "model_name": "penguins",
        "registry_uri": KFP_REGISTRY_URI,
    },
    "batch-scoring": {
        "model_name": "penguins",
        "registry_uri": KFP_REGISTRY_URI,
        "data_uri": IMAGE_PENGUINS_CSV,
        "output_uri": f"s3://{KFP_BUCKET}/scores/penguins/",
    },
}


def on_target(target: str, task: Any) -> Any:
    """Gives a step what it needs on ``target``; a no-op for the portable spec.

    Args:
        target: ``portable`` or ``kfp``.
        task: A pipeline task that reads or writes registry or data URIs.

    Returns:
        The same task.
    """
    if target == PORTABLE:
        return task
    if target != KFP:
        raise ValueError(f"unknown target {target!r}; expected one of {TARGETS}")
    from kfp import kubernetes

    kubernetes.use_secret_as_env(
        task,
        secret_name=KFP_OBJECT_STORE_SECRET,
        secret_key_to_env={
            "accesskey": "AWS_ACCESS_KEY_ID",
            "secretkey": "AWS_SECRET_ACCESS_KEY",
        },
    )
    # fsspec passes FSSPEC_S3_* variables to s3fs as its arguments.
    task.set_env_variable("FSSPEC_S3_ENDPOINT_URL", KFP_OBJECT_STORE_ENDPOINT)
    return task


def kind_defaults() -> dict[str, str]:
    """The kind cluster's pinned releases and object store, by shell variable name.

    Returns:
        ``scripts/kind-up.sh``'s defaults: the KFP, KServe and cert-manager releases,
        the object store's host, port and Secret, the bucket, the registry URI and the
        demo data's path inside the component image.
    """
    return {
        "KFP_VERSION": KIND_KFP_VERSION,
        "KSERVE_VERSION": KIND_KSERVE_VERSION,
        "CERT_MANAGER_VERSION": KIND_CERT_MANAGER_VERSION,
        "KFP_NAMESPACE": KFP_NAMESPACE,
        "KFP_OBJECT_STORE_HOST": KFP_OBJECT_STORE_HOST,
        "KFP_OBJECT_STORE_PORT": str(KFP_OBJECT_STORE_PORT),
        "KFP_OBJECT_STORE_ENDPOINT": KFP_OBJECT_STORE_ENDPOINT,
        "KFP_OBJECT_STORE_SECRET": KFP_OBJECT_STORE_SECRET,
        "KFP_BUCKET": KFP_BUCKET,
        "KFP_REGISTRY_URI": KFP_REGISTRY_URI,
        "IMAGE_PENGUINS_CSV": IMAGE_PENGUINS_CSV,
    }


if __name__ == "__main__":
    # `python3 pipelines/platform.py`: the kind defaults as `DEFAULT_<NAME>=<value>`
    # lines for the scripts to eval; needs nothing beyond the standard library.
    for name, value in kind_defaults().items():
        print(f"DEFAULT_{name}={shlex.quote(value)}")

"""Where a compiled pipeline runs, and what each place needs from a step.

The ``portable`` spec is the one spec that runs unchanged on ``kfp.local``, Kubeflow
Pipelines and Vertex AI Pipelines: it carries no platform configuration (Vertex rejects
kfp-kubernetes settings). The ``kfp`` variant adds, through kfp-kubernetes, what a step
needs to reach the object store of a Kubeflow Pipelines install, where the registry
lives on kind (``s3://mlpipeline/registry``): the store's credentials from KFP's own
Secret, and its endpoint.
"""

from typing import Any

PORTABLE = "portable"
KFP = "kfp"
TARGETS = (PORTABLE, KFP)

# Kubeflow Pipelines standalone keeps its artifacts in this store and its keys in this
# Secret (namespace kubeflow), both created by the KFP install.
KFP_OBJECT_STORE_ENDPOINT = "http://minio-service.kubeflow:9000"
KFP_OBJECT_STORE_SECRET = "mlpipeline-minio-artifact"


# Defaults the KFP variants are compiled with, so that "Create run" in the KFP UI of a
# `make kind-up` cluster works as it is: the demo data inside the component image, the
# registry and payload logs in the KFP object store.
IMAGE_PENGUINS_CSV = (
    "/usr/local/lib/python3.11/site-packages/palmerpenguins/data/penguins.csv"
)
KFP_REGISTRY_URI = "s3://mlpipeline/registry"
KFP_DEFAULTS: dict[str, dict[str, Any]] = {
    "training": {
        "data_uri": IMAGE_PENGUINS_CSV,
        "label": "species",
        "model_name": "penguins",
        "registry_uri": KFP_REGISTRY_URI,
    },
    "continuous-training": {
        "current_uri": "s3://mlpipeline/logs/penguins/",
        "training_data_uri": IMAGE_PENGUINS_CSV,
        "label": "species",
        "model_name": "penguins",
        "registry_uri": KFP_REGISTRY_URI,
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

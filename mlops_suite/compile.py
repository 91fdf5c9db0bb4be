"""Compile every pipeline of the suite to KFP IR YAML, for one component image."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from kfp import compiler

from mlops_suite.components.factory import DEFAULT_IMAGE
from mlops_suite.errors import MlopsError
from mlops_suite.pipelines.platform import KFP


def compile_all(output_dir: Path, *, image: str | None = None) -> list[Path]:
    """Compiles every pipeline to ``<output_dir>/<name>.yaml``.

    ``<name>.yaml`` is the portable spec (kfp.local, Kubeflow Pipelines, Vertex AI);
    ``<name>-kfp.yaml`` adds the Kubeflow Pipelines object-store settings.

    Args:
        output_dir: The folder to write to (created if missing).
        image: The component image every step runs in; the release image if None.

    Returns:
        The written files.
    """
    from mlops_suite.pipelines.continuous_training import (
        build_continuous_training_pipeline,
    )
    from mlops_suite.pipelines.training import build_training_pipeline

    chosen = image or DEFAULT_IMAGE
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MlopsError(
            f"cannot create the output folder {output_dir}: {error.strerror}"
        ) from None
    written = []
    for name, pipeline in (
        ("training", build_training_pipeline(chosen)),
        ("training-kfp", build_training_pipeline(chosen, KFP)),
        ("continuous-training", build_continuous_training_pipeline(chosen)),
        ("continuous-training-kfp", build_continuous_training_pipeline(chosen, KFP)),
    ):
        path = output_dir / f"{name}.yaml"
        with tempfile.TemporaryDirectory(dir=output_dir) as scratch:
            staged = Path(scratch) / path.name
            compiler.Compiler().compile(pipeline, str(staged))
            os.replace(staged, path)
        written.append(path)
    return written

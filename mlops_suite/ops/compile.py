"""Compile every pipeline of the suite to KFP IR YAML, for one component image."""

from __future__ import annotations

import dataclasses
import inspect
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kfp import compiler

from mlops_suite.components.factory import DEFAULT_IMAGE, build_components
from mlops_suite.errors import MlopsError
from mlops_suite.pipelines.platform import KFP, KFP_DEFAULTS, PORTABLE


def compile_all(
    output_dir: Path,
    *,
    image: str | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Compiles every pipeline to ``<output_dir>/<name>.yaml``.

    ``<name>.yaml`` is the portable spec (kfp.local, Kubeflow Pipelines, Vertex AI);
    ``<name>-kfp.yaml`` adds the Kubeflow Pipelines object-store settings and defaults
    that run as they are on a ``make kind-up`` cluster.

    Args:
        output_dir: The folder to write to (created if missing).
        image: The component image every step runs in; the release image if None.
        defaults: Parameter defaults to compile into every pipeline that has the
            parameter, e.g. ``{"registry_uri": "gs://bucket/registry"}`` for Vertex.

    Returns:
        The written files.

    Raises:
        NotifyUrlError: A ``notify_url`` default is not an http(s) URL; nothing is
            written.
    """
    from mlops_suite.pipelines.batch_scoring import build_batch_scoring_pipeline
    from mlops_suite.pipelines.continuous_training import (
        build_continuous_training_pipeline,
    )
    from mlops_suite.pipelines.training import build_training_pipeline

    chosen = image or DEFAULT_IMAGE
    if isinstance((defaults or {}).get("notify_url"), str):
        from mlops_suite.notification import check_notify_url

        # A compiled-in webhook that is not http(s) would leave every run unheard.
        check_notify_url((defaults or {})["notify_url"])
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MlopsError(
            f"cannot create the output folder {output_dir}: {error.strerror}"
        ) from None
    builders = {
        "training": build_training_pipeline,
        "continuous-training": build_continuous_training_pipeline,
        "batch-scoring": build_batch_scoring_pipeline,
    }
    written = []
    for family, build in builders.items():
        for target in (PORTABLE, KFP):
            pipeline = build(chosen, target)
            name = family if target == PORTABLE else f"{family}-kfp"
            wanted = {
                **(KFP_DEFAULTS.get(family, {}) if target == KFP else {}),
                **(defaults or {}),
            }
            accepted = set(inspect.signature(pipeline.pipeline_func).parameters)
            written.append(
                _compile(
                    pipeline,
                    output_dir / f"{name}.yaml",
                    {key: value for key, value in wanted.items() if key in accepted},
                )
            )
    return written


def compile_components(output_dir: Path, *, image: str | None = None) -> list[Path]:
    """Compiles every component on its own to ``<output_dir>/<name>/component.yaml``.

    Users load one into a pipeline of their own with
    ``kfp.components.load_component_from_file`` (or ``_from_url``), as with the
    components published in ``kubeflow/pipelines/components/``.

    Args:
        output_dir: The folder to write to, e.g. the repository's ``components/``.
        image: The component image the step runs in; the release image if None.

    Returns:
        The written files, one per component.
    """
    built = build_components(image or DEFAULT_IMAGE)
    written = []
    for field in dataclasses.fields(built):
        if field.name == "image":
            continue
        folder = output_dir / field.name
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise MlopsError(
                f"cannot create the output folder {folder}: {error.strerror}"
            ) from None
        written.append(
            _compile(getattr(built, field.name), folder / "component.yaml", {})
        )
    return written


def _compile(pipeline: Any, path: Path, parameters: dict[str, Any]) -> Path:
    """Compiles ``pipeline`` to ``path`` under a temporary name, then renames it."""
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        staged = Path(scratch) / path.name
        compiler.Compiler().compile(
            pipeline, str(staged), pipeline_parameters=parameters
        )
        os.replace(staged, path)
    return path

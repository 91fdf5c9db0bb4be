"""What several command groups read from their flags the same way.

Local paths become absolute (pipeline steps run as processes of their own, and
messages name the file a user can find), and ``--registry``/``--model-name``/
``--version`` name one registered version, the champion by default.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mlops_suite.errors import MlopsError


def absolute(text: str) -> str:
    """Makes a local path absolute; URIs (``scheme://...``) and ``""`` pass through.

    Args:
        text: A path or URI from the command line.

    Returns:
        The absolute path, or the text as given.
    """
    return text if not text or "://" in text else str(Path(text).resolve())


def registered(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    """The version ``--version`` names (default: the champion) and its metadata.

    Args:
        args: Parsed flags with ``registry``, ``model_name`` and ``version``.

    Returns:
        The version number and its ``metadata.json``.

    Raises:
        MlopsError: The model has no champion and no ``--version`` was given, or
            the version cannot be read.
    """
    from mlops_suite.registry import ModelRegistry

    registry = ModelRegistry(absolute(args.registry))
    version = args.version
    if version is None:
        champion = registry.champion(args.model_name)
        if champion is None:
            raise MlopsError(
                f"model {args.model_name!r} has no champion in {args.registry}; "
                "pass --version"
            )
        version = champion.version
    return version, registry.metadata(args.model_name, version)

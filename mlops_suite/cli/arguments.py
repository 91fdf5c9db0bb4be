"""What several command groups read from their flags the same way.

Local paths become absolute (pipeline steps run as processes of their own, and
messages name the file a user can find), and ``--registry``/``--model-name``/
``--version`` (or ``--alias``) name one registered version, the champion by default.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_suite.errors import MlopsError

if TYPE_CHECKING:
    from mlops_suite.registry import ModelRegistry


def absolute(text: str) -> str:
    """Makes a local path absolute; URIs (``scheme://...``) and ``""`` pass through.

    Args:
        text: A path or URI from the command line.

    Returns:
        The absolute path, or the text as given.
    """
    return text if not text or "://" in text else str(Path(text).resolve())


def add_version_flags(parser: argparse.ArgumentParser, default: str) -> None:
    """Adds ``--version N`` and ``--alias NAME``, of which at most one is given.

    Args:
        parser: The command's parser.
        default: What neither flag means, for the help text.
    """
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--version", type=int, help=f"default: {default}")
    choice.add_argument(
        "--alias", help="the version an alias names (champion, challenger, ...)"
    )


def add_manifest_options(
    manifest: argparse.ArgumentParser, required: bool = True
) -> None:
    """Adds the kustomization options: storage URI, overlay, output, namespace, logs
    (the sink's output, or KServe's own log storage).

    Args:
        manifest: The parser of ``mlops manifest`` or ``mlops registry approve``.
        required: Whether the storage URI, overlay and output must be given.
    """
    manifest.add_argument(
        "--storage-uri",
        required=required,
        help="the registry as the cluster reads it, e.g. s3://mlpipeline/registry",
    )
    manifest.add_argument("--overlay", required=required, choices=["kind", "gke"])
    manifest.add_argument("--output", required=required, help="folder to write to")
    manifest.add_argument("--namespace", help="default: the overlay's")
    logs = manifest.add_mutually_exclusive_group()
    logs.add_argument(
        "--logs-uri",
        help="where the payload sink writes (default: logs beside the registry)",
    )
    logs.add_argument(
        "--log-storage",
        help="a bucket URI (s3://, gs://) where KServe's logger stores every request "
        "and response itself, instead of the sink (which is left out); monitor "
        "<log-storage>/<namespace>/<model>",
    )
    manifest.add_argument(
        "--predict-proba",
        action="store_true",
        help="set PREDICT_PROBA=true on the predictor: answers are class "
        "probabilities; classifiers only",
    )


def chosen_version(registry: ModelRegistry, args: argparse.Namespace) -> int | None:
    """The version ``--version`` or ``--alias`` names; None when neither is given.

    Args:
        registry: The registry ``--registry`` names.
        args: Parsed flags with ``model_name``, ``version`` and ``alias``.

    Returns:
        The version, or None.

    Raises:
        MlopsError: The alias does not exist (the sentence lists those that do).
    """
    alias = getattr(args, "alias", None)
    if alias is None:
        return args.version
    from mlops_suite.registry.governance import resolve_alias

    return resolve_alias(registry, args.model_name, alias)


def registered(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    """The version ``--version`` or ``--alias`` names (default: the champion) and
    its metadata.

    Args:
        args: Parsed flags with ``registry``, ``model_name``, ``version`` and
            (optionally) ``alias``.

    Returns:
        The version number and its ``metadata.json``.

    Raises:
        MlopsError: The model has no champion and no ``--version`` was given, the
            alias does not exist, or the version cannot be read.
    """
    from mlops_suite.registry import ModelRegistry

    registry = ModelRegistry(absolute(args.registry))
    version = chosen_version(registry, args)
    if version is None:
        champion = registry.champion(args.model_name)
        if champion is None:
            raise MlopsError(
                f"model {args.model_name!r} has no champion in {args.registry}; "
                "pass --version"
            )
        version = champion.version
    return version, registry.metadata(args.model_name, version)


def add_notify_url(parser: argparse.ArgumentParser, when: str) -> None:
    """Adds ``--notify-url URL``, refused unless it is http(s).

    Args:
        parser: The command's parser.
        when: When the webhook hears from the run, for the help text.
    """
    parser.add_argument(
        "--notify-url",
        type=_notify_url,
        metavar="URL",
        help=f"a webhook (http or https) to POST a JSON message to {when}",
    )


def _notify_url(text: str) -> str:
    """A ``--notify-url`` flag, refused in one sentence unless it is http(s)."""
    from mlops_suite.notification import check_notify_url

    try:
        return check_notify_url(text)
    except MlopsError as error:
        raise argparse.ArgumentTypeError(str(error)) from None

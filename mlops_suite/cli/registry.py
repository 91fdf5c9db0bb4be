"""``mlops registry show|list|promote|compare``: inspect the registry, move the
champion, compare versions."""

from __future__ import annotations

import argparse
import json

from mlops_suite.cli.arguments import absolute, registered
from mlops_suite.cli.parser import Commands
from mlops_suite.errors import MlopsError


def add_registry(commands: Commands) -> None:
    """Declares ``mlops registry`` and its actions.

    Args:
        commands: The top-level commands.
    """
    registry = commands.add_parser("registry", help="inspect the model registry")
    registry_commands = registry.add_subparsers(dest="action", required=True)
    show = registry_commands.add_parser("show", help="a version's metadata and lineage")
    show.add_argument("--registry", required=True)
    show.add_argument("--model-name", required=True)
    show.add_argument("--version", type=int, help="default: the champion")
    show.set_defaults(handler=_show)
    listing = registry_commands.add_parser("list", help="every version, * = champion")
    listing.add_argument("--registry", required=True)
    listing.add_argument("--model-name", required=True)
    listing.set_defaults(handler=_list)
    promote = registry_commands.add_parser(
        "promote", help="make a version the champion (promote or roll back)"
    )
    promote.add_argument("--registry", required=True)
    promote.add_argument("--model-name", required=True)
    promote.add_argument("--version", type=int, required=True)
    promote.set_defaults(handler=_promote)
    compare = registry_commands.add_parser(
        "compare",
        help="versions side by side; writes compare.html with a plot per metric",
    )
    compare.add_argument("--registry", required=True)
    compare.add_argument("--model-name", required=True)
    compare.add_argument(
        "--versions", type=_version_list, help="e.g. 1,3,5 (default: every version)"
    )
    compare.add_argument(
        "--output", default=".", help="folder for compare.html (default: %(default)s)"
    )
    compare.set_defaults(handler=_compare)


def _version_list(text: str) -> list[int]:
    """``--versions 1,3,5``, refused in one sentence otherwise."""
    try:
        versions = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        versions = []
    if not versions or any(version < 1 for version in versions):
        raise argparse.ArgumentTypeError(
            f"expected version numbers separated by commas, like 1,3,5: {text!r}"
        )
    return versions


def _show(args: argparse.Namespace) -> int:
    _, metadata = registered(args)
    shown = {key: value for key, value in metadata.items() if key != "statistics"}
    print(json.dumps(shown, indent=2, sort_keys=True, default=str))
    return 0


def _list(args: argparse.Namespace) -> int:
    from mlops_suite.registry import ModelRegistry

    registry = ModelRegistry(absolute(args.registry))
    champion = registry.champion(args.model_name)
    versions = registry.versions(args.model_name)
    if not versions:
        raise MlopsError(f"model {args.model_name!r} has no version in {args.registry}")
    for version in versions:
        lineage = registry.metadata(args.model_name, version).get("lineage") or {}
        mark = "*" if champion and champion.version == version else " "
        print(
            f"{mark} v{version:<4} {lineage.get('registered_at', '?'):<26} "
            f"{str(lineage.get('model_sha256', ''))[:12]}  "
            f"{lineage.get('approval_reason', '')}"
        )
    return 0


def _promote(args: argparse.Namespace) -> int:
    from mlops_suite.registry import ModelRegistry

    champion = ModelRegistry(absolute(args.registry)).set_champion(
        args.model_name, args.version
    )
    print(f"{args.model_name}: champion is now v{champion.version}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from mlops_suite.comparison import compare_versions

    table, page = compare_versions(
        absolute(args.registry),
        args.model_name,
        versions=args.versions,
        output_dir=absolute(args.output),
    )
    print(table)
    print(f"mlops: comparison written to {page}")
    return 0

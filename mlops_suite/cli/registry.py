"""``mlops registry show|list|promote``: inspect the registry, move the champion.

``show`` and ``list`` also say which versions KServe's sklearn server would refuse to
load (its restricted unpickler), and point to the README section on serving them.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from mlops_suite.cli.arguments import absolute, registered
from mlops_suite.cli.parser import Commands
from mlops_suite.errors import MlopsError

if TYPE_CHECKING:
    from mlops_suite.registry import ModelRegistry

# The README heading that says how to serve a refused version, and at what risk.
README_SECTION = "Versions KServe's sklearn server refuses"


def add_registry(commands: Commands) -> None:
    """Declares ``mlops registry`` and its actions.

    Args:
        commands: The top-level commands.
    """
    registry = commands.add_parser("registry", help="inspect the model registry")
    registry_commands = registry.add_subparsers(dest="action", required=True)
    show = registry_commands.add_parser(
        "show", help="a version's metadata and lineage; warns if KServe refuses it"
    )
    show.add_argument("--registry", required=True)
    show.add_argument("--model-name", required=True)
    show.add_argument("--version", type=int, help="default: the champion")
    show.set_defaults(handler=_show)
    listing = registry_commands.add_parser(
        "list",
        help="every version, * = champion, ! = KServe's sklearn server refuses it",
    )
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


def _show(args: argparse.Namespace) -> int:
    from mlops_suite.registry import ModelRegistry

    version, metadata = registered(args)
    shown = {key: value for key, value in metadata.items() if key != "statistics"}
    print(json.dumps(shown, indent=2, sort_keys=True, default=str))
    # On stderr, so stdout stays the JSON a script can parse.
    _, note = _kserve_check(
        ModelRegistry(absolute(args.registry)), args.model_name, version
    )
    if note:
        print(f"mlops: {args.model_name} v{version}: {note}", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace) -> int:
    from mlops_suite.registry import ModelRegistry

    registry = ModelRegistry(absolute(args.registry))
    champion = registry.champion(args.model_name)
    versions = registry.versions(args.model_name)
    if not versions:
        raise MlopsError(f"model {args.model_name!r} has no version in {args.registry}")
    notes = []
    for version in versions:
        lineage = registry.metadata(args.model_name, version).get("lineage") or {}
        mark = "*" if champion and champion.version == version else " "
        flag, note = _kserve_check(registry, args.model_name, version)
        if note:
            notes.append(f"{flag} v{version}: {note}")
        print(
            f"{mark} v{version:<4} {lineage.get('registered_at', '?'):<26} "
            f"{str(lineage.get('model_sha256', ''))[:12]}  {flag} "
            f"{lineage.get('approval_reason') or ''}"
        )
    for note in notes:
        print(note)
    return 0


def _kserve_check(registry: ModelRegistry, name: str, version: int) -> tuple[str, str]:
    """A one-character flag and a sentence for a version KServe would not load.

    Returns ``(" ", "")`` when the version passes the restricted-unpickler rule,
    ``("!", ...)`` when the rule refuses it, and ``("?", ...)`` when its model file
    could not be checked (missing, changed since registration, unreadable).
    """
    from mlops_suite.serving.unpickle_rule import registered_refusal

    try:
        refused = registered_refusal(registry, name, version)
    except MlopsError as error:
        return "?", f"not checked against KServe's restricted unpickler: {error}"
    if refused is None:
        return " ", ""
    return "!", (
        f"refused by KServe's restricted unpickler: {refused} "
        f'(see README.md, "{README_SECTION}")'
    )


def _promote(args: argparse.Namespace) -> int:
    from mlops_suite.registry import ModelRegistry

    champion = ModelRegistry(absolute(args.registry)).set_champion(
        args.model_name, args.version
    )
    print(f"{args.model_name}: champion is now v{champion.version}")
    return 0

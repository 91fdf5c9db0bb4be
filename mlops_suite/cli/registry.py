"""``mlops registry``: inspect the registry, decide on versions, move aliases.

``show``, ``list`` and ``history`` read; ``approve``, ``reject``, ``promote`` and
``alias set|rm`` change the registry, and each change is kept in its history with who
did it (``--by``) and why (``--reason``); ``compare`` shows versions side by side.
``show`` and ``list`` also say which versions KServe's sklearn server would refuse to
load (its restricted unpickler), and point to the README section on serving them.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from mlops_suite.cli.arguments import (
    absolute,
    add_manifest_options,
    add_version_flags,
    registered,
)
from mlops_suite.cli.parser import Commands
from mlops_suite.errors import MlopsError

if TYPE_CHECKING:
    from mlops_suite.registry import Event, ModelRegistry

# The README heading that says how to serve a refused version, and at what risk.
README_SECTION = "Versions KServe's sklearn server refuses"


def add_registry(commands: Commands) -> None:
    """Declares ``mlops registry`` and its actions.

    Args:
        commands: The top-level commands.
    """
    registry = commands.add_parser(
        "registry", help="inspect the model registry, approve versions, move aliases"
    )
    actions = registry.add_subparsers(dest="action", required=True)
    show = _action(
        actions, "show", "a version's metadata and lineage; warns if KServe refuses it"
    )
    add_version_flags(show, "the champion")
    show.set_defaults(handler=_show)
    listing = _action(
        actions,
        "list",
        "every version with its status and aliases, * = champion, "
        "! = KServe's sklearn server refuses it",
    )
    listing.set_defaults(handler=_list)
    history = _action(actions, "history", "every event: who did what, when and why")
    history.add_argument("--version", type=int, help="only this version's events")
    history.set_defaults(handler=_history)

    promote = _action(
        actions, "promote", "make an approved version the champion (or roll back)"
    )
    promote.add_argument("--version", type=int, required=True)
    _add_person(promote, required=False)
    promote.set_defaults(handler=_promote)
    approve = _action(
        actions,
        "approve",
        "a person approves a version (pending challenger): it becomes champion",
    )
    approve.add_argument("--version", type=int, required=True)
    _add_person(approve, required=True)
    approve.add_argument(
        "--deploy",
        action="store_true",
        help="also write its kustomization (needs --storage-uri, --overlay, --output)",
    )
    add_manifest_options(approve, required=False)
    approve.set_defaults(handler=_approve)
    reject = _action(actions, "reject", "a person rejects a version: never champion")
    reject.add_argument("--version", type=int, required=True)
    _add_person(reject, required=True)
    reject.set_defaults(handler=_reject)

    alias = actions.add_parser("alias", help="point a named alias at a version")
    alias_actions = alias.add_subparsers(dest="alias_action", required=True)
    set_alias = _action(alias_actions, "set", "point an alias at a version")
    set_alias.add_argument("--alias", required=True, help="e.g. staging, challenger")
    set_alias.add_argument("--version", type=int, required=True)
    _add_person(set_alias, required=False)
    set_alias.set_defaults(handler=_alias_set)
    remove_alias = _action(alias_actions, "rm", "remove an alias")
    remove_alias.add_argument("--alias", required=True)
    _add_person(remove_alias, required=False)
    remove_alias.set_defaults(handler=_alias_rm)

    compare = _action(
        actions,
        "compare",
        "versions side by side; writes compare.html with a plot per metric",
    )
    compare.add_argument(
        "--versions", type=_version_list, help="e.g. 1,3,5 (default: every version)"
    )
    compare.add_argument(
        "--output", default=".", help="folder for compare.html (default: %(default)s)"
    )
    compare.set_defaults(handler=_compare)


def _action(actions: Commands, name: str, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = actions.add_parser(name, help=help_text)
    parser.add_argument("--registry", required=True)
    parser.add_argument("--model-name", required=True)
    return parser


def _add_person(parser: argparse.ArgumentParser, *, required: bool) -> None:
    by_help = "who decides, kept in the history"
    reason_help = "why, kept in the history"
    if not required:
        by_help += " (default: your login name)"
        reason_help += " (default: none given)"
    parser.add_argument("--by", required=required, help=by_help)
    parser.add_argument("--reason", required=required, default="", help=reason_help)


def _open(args: argparse.Namespace) -> ModelRegistry:
    from mlops_suite.registry import ModelRegistry

    return ModelRegistry(absolute(args.registry))


def _person(args: argparse.Namespace) -> str:
    """``--by``, or the login name of whoever runs the command."""
    if args.by:
        return str(args.by)
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return "unknown"


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
    version, metadata = registered(args)
    shown = {key: value for key, value in metadata.items() if key != "statistics"}
    print(json.dumps(shown, indent=2, sort_keys=True, default=str))
    # On stderr, so stdout stays the JSON a script can parse.
    _, note = _kserve_check(_open(args), args.model_name, version)
    if note:
        print(f"mlops: {args.model_name} v{version}: {note}", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace) -> int:
    from mlops_suite.registry import governance

    registry = _open(args)
    states = governance.states(registry, args.model_name)
    if not states:
        raise MlopsError(f"model {args.model_name!r} has no version in {args.registry}")
    notes = []
    for state in states:
        lineage = state.lineage
        mark = "*" if "champion" in state.aliases else " "
        flag, note = _kserve_check(registry, args.model_name, state.version)
        if note:
            notes.append(f"{flag} v{state.version}: {note}")
        print(
            f"{mark} v{state.version:<4} {state.status:<9} "
            f"{','.join(state.aliases) or '-':<20} "
            f"{lineage.get('registered_at', '?'):<26} "
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


def _history(args: argparse.Namespace) -> int:
    from mlops_suite.registry import governance

    events = governance.history(_open(args), args.model_name)
    if args.version is not None:
        events = [event for event in events if event.version == args.version]
    if not events:
        which = f" v{args.version}" if args.version is not None else ""
        print(f"{args.model_name}{which}: no events recorded")
    for event in events:
        print(describe_event(event))
    return 0


def describe_event(event: Event) -> str:
    """One line of ``mlops registry history``.

    Args:
        event: A history event.

    Returns:
        ``#seq  time  event  vN  by actor: reason (details)``.
    """
    details = event.details
    extra = []
    if "status" in details:
        extra.append(f"status {details['status']}")
    if "alias" in details:
        extra.append(f"alias {details['alias']}")
    if details.get("previous_version") is not None:
        extra.append(f"was v{details['previous_version']}")
    if "where" in details:
        extra.append(f"to {details['where']}")
    version = f"v{event.version}" if event.version is not None else "-"
    return (
        f"#{event.seq:<4} {event.time:<26} {event.event:<14} {version:<5} "
        f"by {event.actor or 'unknown'}: {event.reason or '(no reason given)'}"
        + (f" ({'; '.join(extra)})" if extra else "")
    )


def _promote(args: argparse.Namespace) -> int:
    champion = _open(args).set_champion(
        args.model_name, args.version, actor=_person(args), reason=args.reason
    )
    print(f"{args.model_name}: champion is now v{champion.version}")
    return 0


def _approve(args: argparse.Namespace) -> int:
    from mlops_suite.registry import governance

    registry, name, version = _open(args), args.model_name, args.version
    manifest = [args.storage_uri, args.overlay, args.output]
    if args.deploy and None in manifest:
        raise MlopsError(
            "--deploy writes a kustomization and needs --storage-uri, --overlay and "
            "--output (as `mlops manifest` does); nothing was changed"
        )
    if not args.deploy and any(
        manifest + [args.namespace, args.logs_uri, args.log_storage]
    ):
        raise MlopsError(
            "--storage-uri, --overlay, --output, --namespace, --logs-uri and "
            "--log-storage are used only with --deploy; nothing was changed"
        )
    governance.check_approvable(registry, name, version, by=args.by, reason=args.reason)
    output = None
    if args.deploy:
        from mlops_suite.serving.manifests import write_overlay

        # Written first: it checks the overlay, namespace and URIs, so a mistake
        # there leaves the version unapproved.
        registry.verify(name, version)
        output = write_overlay(
            registry_uri=registry.uri,
            model_name=name,
            version=version,
            storage_uri=args.storage_uri,
            overlay=args.overlay,
            output_dir=absolute(args.output),
            namespace=args.namespace,
            logs_uri=args.logs_uri,
            predict_proba=args.predict_proba,
            log_storage=args.log_storage,
        )
    champion = governance.approve(
        registry, name, version, by=args.by, reason=args.reason
    )
    print(
        f"{name}: v{version} approved by {args.by}; champion is now v{champion.version}"
    )
    if output is not None:
        where = f"{output}/kustomization.yaml (overlay {args.overlay})"
        governance.record_deployment(
            registry, name, version, where=where, actor=args.by, reason=args.reason
        )
        print(f"wrote {where}; deploy it with: kubectl apply -k {output}")
    return 0


def _reject(args: argparse.Namespace) -> int:
    from mlops_suite.registry import governance

    governance.reject(
        _open(args), args.model_name, args.version, by=args.by, reason=args.reason
    )
    print(f"{args.model_name}: v{args.version} rejected by {args.by}")
    return 0


def _alias_set(args: argparse.Namespace) -> int:
    from mlops_suite.registry import governance

    event = governance.set_alias(
        _open(args),
        args.model_name,
        args.alias,
        args.version,
        by=_person(args),
        reason=args.reason,
    )
    was = event.details.get("previous_version")
    moved = f" (was v{was})" if was is not None else ""
    print(f"{args.model_name}: {args.alias} is now v{args.version}{moved}")
    return 0


def _alias_rm(args: argparse.Namespace) -> int:
    from mlops_suite.registry import governance

    event = governance.remove_alias(
        _open(args), args.model_name, args.alias, by=_person(args), reason=args.reason
    )
    print(f"{args.model_name}: removed {args.alias} (was v{event.version})")
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

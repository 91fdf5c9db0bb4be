"""People in the loop: approve or reject a version, move aliases, read the history.

Each function changes the registry and records what it did, who did it and why as a
history event (:mod:`~mlops_suite.registry.history`). Refusals are checked before
anything is written, so a refused request changes nothing.

The rules:

* a ``pending`` version (registered with manual approval) becomes champion only by
  :func:`approve`; a ``rejected`` one never, not even by
  :meth:`~mlops_suite.registry.ModelRegistry.set_champion`;
* ``champion`` is an alias too, but it lives in ``champion.json`` and moves only by
  approval, promotion and automatic registration, never by :func:`set_alias`;
* approving or rejecting the ``challenger`` removes that alias: the decision is made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlops_suite.errors import RegistryError
from mlops_suite.registry.aliases import CHALLENGER, CHAMPION, validate_alias
from mlops_suite.registry.history import (
    APPROVED,
    DEPLOYED,
    REJECTED,
    Event,
    version_status,
)
from mlops_suite.registry.model_registry import ModelRegistry
from mlops_suite.registry.names import validate_model_name
from mlops_suite.registry.records import Champion


@dataclass(frozen=True)
class VersionState:
    """What a version is now: its status and the aliases pointing at it.

    Attributes:
        version: The version.
        status: ``pending``, ``approved`` or ``rejected``.
        aliases: The aliases naming it, ``champion`` first.
        lineage: Its lineage (when, from what, why it passed the gate).
    """

    version: int
    status: str
    aliases: tuple[str, ...]
    lineage: dict[str, Any] = field(default_factory=dict)


def history(registry: ModelRegistry, name: str) -> list[Event]:
    """Every event of a model, oldest first (empty for registries without history).

    Args:
        registry: The registry.
        name: The model name.

    Returns:
        The events.
    """
    validate_model_name(name)
    return registry.events.read(name)


def aliases(registry: ModelRegistry, name: str) -> dict[str, int]:
    """Every alias of a model, ``champion`` (from ``champion.json``) first.

    Args:
        registry: The registry.
        name: The model name.

    Returns:
        ``{alias: version}``.
    """
    champion = registry.champion(name)
    found = {CHAMPION: champion.version} if champion is not None else {}
    found.update(registry.alias_files.read(name))
    return found


def resolve_alias(registry: ModelRegistry, name: str, alias: str) -> int:
    """The version an alias points at.

    Args:
        registry: The registry.
        name: The model name.
        alias: An alias such as ``champion``, ``challenger`` or ``staging``.

    Returns:
        The version.

    Raises:
        RegistryError: The model does not exist, or has no such alias (the sentence
            lists the aliases it has).
    """
    _require_model(registry, name)
    known = aliases(registry, name)
    if alias not in known:
        raise RegistryError(
            f"Model {name!r} has no alias {alias!r} in registry {registry.uri}; "
            f"{_listing(known)}."
        )
    return known[alias]


def states(registry: ModelRegistry, name: str) -> list[VersionState]:
    """Every version of a model with its status and aliases, ascending.

    Args:
        registry: The registry.
        name: The model name.

    Returns:
        One state per published version.
    """
    events = history(registry, name)
    by_version: dict[int, list[str]] = {}
    for alias, version in aliases(registry, name).items():
        by_version.setdefault(version, []).append(alias)
    found = []
    for version in registry.versions(name):
        lineage = registry.lineage(name, version)
        found.append(
            VersionState(
                version=version,
                status=version_status(version, lineage, events),
                aliases=tuple(by_version.get(version, ())),
                lineage=lineage,
            )
        )
    return found


def status(registry: ModelRegistry, name: str, version: int) -> str:
    """A version's status: ``pending``, ``approved`` or ``rejected``.

    Args:
        registry: The registry.
        name: The model name.
        version: The version.

    Returns:
        The status.

    Raises:
        RegistryError: The model or version does not exist.
    """
    lineage = registry.lineage(name, version)
    return version_status(version, lineage, history(registry, name))


def approve(
    registry: ModelRegistry, name: str, version: int, *, by: str, reason: str
) -> Champion:
    """A person approves a version: it becomes the champion.

    Records ``approved`` and ``promoted``; removes the ``challenger`` alias when it
    named this version.

    Args:
        registry: The registry.
        name: The model name.
        version: The version to approve (pending, or approved but not champion).
        by: Who approves it.
        reason: Why.

    Returns:
        The new champion.

    Raises:
        RegistryError: No person or reason was given, or the version does not exist,
            is already champion or was rejected; nothing is changed.
        ModelIntegrityError: Its model file does not match its sha256; nothing is
            changed.
    """
    check_approvable(registry, name, version, by=by, reason=reason)
    registry.verify(name, version)
    event = registry.events.append(
        name, APPROVED, version=version, actor=by, reason=reason
    )
    champion = registry.set_champion(name, version, actor=by, reason=reason)
    _drop_challenger(registry, name, version, by=by, reason=f"approved: {reason}")
    registry.rewrite_model_card(name, version, _decision(event))
    return champion


def check_approvable(
    registry: ModelRegistry, name: str, version: int, *, by: str, reason: str
) -> None:
    """Refuse, in one sentence, an approval :func:`approve` would refuse.

    Args:
        registry: The registry.
        name: The model name.
        version: The version.
        by: Who approves it.
        reason: Why.

    Raises:
        RegistryError: No person or reason, or the version does not exist, is
            already champion or was rejected.
    """
    _require_person(by, reason, "approve")
    current = status(registry, name, version)  # a missing version is named here
    champion = registry.champion(name)
    if champion is not None and champion.version == version:
        raise RegistryError(
            f"{name} v{version} is already the champion; nothing was changed."
        )
    if current == REJECTED:
        raise RegistryError(
            f"{name} v{version} was rejected ({_refusal(registry, name, version)}), "
            "so it cannot be approved; nothing was changed."
        )


def reject(
    registry: ModelRegistry, name: str, version: int, *, by: str, reason: str
) -> Event:
    """A person rejects a version: it never becomes champion.

    Records ``rejected``; removes the ``challenger`` alias when it named this version.

    Args:
        registry: The registry.
        name: The model name.
        version: The version to reject (pending, or approved but not champion).
        by: Who rejects it.
        reason: Why.

    Returns:
        The recorded event.

    Raises:
        RegistryError: No person or reason was given, or the version does not exist,
            is the champion or was already rejected; nothing is changed.
    """
    _require_person(by, reason, "reject")
    current = status(registry, name, version)
    champion = registry.champion(name)
    if champion is not None and champion.version == version:
        raise RegistryError(
            f"{name} v{version} is the champion; promote another version before "
            "rejecting it. Nothing was changed."
        )
    if current == REJECTED:
        raise RegistryError(
            f"{name} v{version} was already rejected "
            f"({_refusal(registry, name, version)}); nothing was changed."
        )
    event = registry.events.append(
        name, REJECTED, version=version, actor=by, reason=reason
    )
    _drop_challenger(registry, name, version, by=by, reason=f"rejected: {reason}")
    registry.rewrite_model_card(name, version, _decision(event))
    return event


def set_alias(
    registry: ModelRegistry,
    name: str,
    alias: str,
    version: int,
    *,
    by: str,
    reason: str,
) -> Event:
    """Point an alias (not ``champion``) at a version, atomically.

    Args:
        registry: The registry.
        name: The model name.
        alias: The alias, e.g. ``staging``.
        version: The version it names from now on.
        by: Who moves it.
        reason: Why.

    Returns:
        The recorded ``alias-set`` event.

    Raises:
        RegistryError: The alias is invalid or ``champion``, or the version does not
            exist; nothing is changed.
    """
    _check_movable(alias)
    registry.metadata(name, version)  # names a missing model or version
    return registry.alias_files.set(name, alias, version, actor=by, reason=reason)


def remove_alias(
    registry: ModelRegistry, name: str, alias: str, *, by: str, reason: str
) -> Event:
    """Remove an alias (not ``champion``).

    Args:
        registry: The registry.
        name: The model name.
        alias: The alias.
        by: Who removes it.
        reason: Why.

    Returns:
        The recorded ``alias-removed`` event.

    Raises:
        RegistryError: The alias is ``champion`` or does not exist (the sentence
            lists those that do); nothing is changed.
    """
    _check_movable(alias)
    version = resolve_alias(registry, name, alias)
    return registry.alias_files.remove(name, alias, version, actor=by, reason=reason)


def record_deployment(
    registry: ModelRegistry,
    name: str,
    version: int,
    *,
    where: str,
    actor: str,
    reason: str,
) -> Event:
    """Record that a version was deployed, and where to.

    Args:
        registry: The registry.
        name: The model name.
        version: The version deployed.
        where: Where it serves, or the kustomization written for it.
        actor: Who deployed it (a person, or the pipeline run id).
        reason: Why.

    Returns:
        The recorded ``deployed`` event.
    """
    registry.metadata(name, version)  # names a missing model or version
    return registry.events.append(
        name, DEPLOYED, version=version, actor=actor, reason=reason, where=where
    )


def _decision(event: Event) -> dict[str, Any]:
    """A person's decision as the model card shows it."""
    return {
        "status": event.event,
        "by": event.actor,
        "reason": event.reason,
        "time": event.time,
    }


def _drop_challenger(
    registry: ModelRegistry, name: str, version: int, *, by: str, reason: str
) -> None:
    """Remove ``challenger`` once the version it names has been decided on."""
    if registry.alias_files.read(name).get(CHALLENGER) == version:
        registry.alias_files.remove(name, CHALLENGER, version, actor=by, reason=reason)


def _check_movable(alias: str) -> None:
    validate_alias(alias)
    if alias == CHAMPION:
        raise RegistryError(
            "The champion alias moves only by approval or promotion: use `mlops "
            "registry approve` for a pending version, `mlops registry promote` for "
            "an approved one."
        )


def _require_person(by: str, reason: str, action: str) -> None:
    if not by.strip() or not reason.strip():
        raise RegistryError(
            f"To {action} a version, say who you are (--by) and why (--reason); "
            "both are kept in the registry's history."
        )


def _require_model(registry: ModelRegistry, name: str) -> None:
    if not registry.versions(name):
        held = ", ".join(m for m in registry.models() if registry.versions(m))
        raise RegistryError(
            f"Model {name!r} is not in registry {registry.uri}; "
            + (f"it holds {held}." if held else "it holds no models yet.")
        )


def _refusal(registry: ModelRegistry, name: str, version: int) -> str:
    rejected = [
        e
        for e in history(registry, name)
        if e.version == version and e.event == REJECTED
    ]
    if not rejected:
        return "no reason recorded"
    last = rejected[-1]
    return f"by {last.actor} on {last.time}: {last.reason}"


def _listing(known: dict[str, int]) -> str:
    if not known:
        return "it has no aliases yet"
    return "its aliases are " + ", ".join(
        f"{alias} (v{version})" for alias, version in known.items()
    )

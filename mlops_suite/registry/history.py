"""The registry's append-only history: one object per event, never rewritten.

Every change a person or a pipeline makes to a model is kept as its own small JSON
file, so object stores without append work and concurrent writers lose nothing::

    <model-name>/history/.claims/<seq>              the sequence number, claimed
    <model-name>/history/<seq>-<event>-<token>.json the event

A writer claims the next sequence number with an exclusive create (retrying with the
next one on conflict, as version numbers are claimed), then writes the event under a
name no other writer can pick: even a store whose exclusive create is not atomic
(``memory://``) can at worst give two events the same number, never lose one.

A version's **status** follows from its history: registered ``pending`` (manual
approval) or ``approved`` (by the gate), then ``approved`` or ``rejected`` by a person.
Versions registered before the history existed were all approved by the gate.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops_suite.atomic import json_bytes
from mlops_suite.errors import RegistryError
from mlops_suite.registry.records import now
from mlops_suite.registry.store import Store, reaching

HISTORY_DIR = "history"
_CLAIMS_DIR = ".claims"

# The events, as written in each event's "event" field and file name.
REGISTERED = "registered"
APPROVED = "approved"
REJECTED = "rejected"
PROMOTED = "promoted"
ROLLED_BACK = "rolled-back"
ALIAS_SET = "alias-set"
ALIAS_REMOVED = "alias-removed"
DEPLOYED = "deployed"
EVENTS = (
    REGISTERED,
    APPROVED,
    REJECTED,
    PROMOTED,
    ROLLED_BACK,
    ALIAS_SET,
    ALIAS_REMOVED,
    DEPLOYED,
)

# A version's status, and the approval modes that decide its first one.
PENDING = "pending"
STATUSES = (PENDING, APPROVED, REJECTED)
AUTO = "auto"
MANUAL = "manual"
APPROVAL_MODES = (AUTO, MANUAL)

_SEQ_DIGITS = 8
_EVENT_FILE = re.compile(rf"([0-9]{{{_SEQ_DIGITS}}})-([a-z-]+)-([0-9a-f]{{8}})\.json")
_CLAIM_FILE = re.compile(rf"[0-9]{{{_SEQ_DIGITS}}}")
# Each retry re-reads the history, so only as many concurrent writers as this can
# starve one.
_MAX_ATTEMPTS = 100


@dataclass(frozen=True)
class Event:
    """One thing that happened to a model, as kept in its history.

    Attributes:
        seq: Its position in the model's history (1, 2, ...).
        event: What happened, one of :data:`EVENTS`.
        version: The version it concerns, or None.
        time: When (ISO 8601, UTC).
        actor: Who: a person's name (``--by``) or the pipeline run id.
        reason: Why, in the actor's words.
        details: What else the event needs: ``status`` (registered), ``alias``
            (alias events), ``previous_version`` (champion changes), ``where``
            (deployed).
    """

    seq: int
    event: str
    version: int | None
    time: str
    actor: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The event as written to its file."""
        return {
            "seq": self.seq,
            "event": self.event,
            "version": self.version,
            "time": self.time,
            "actor": self.actor,
            "reason": self.reason,
            "details": dict(self.details),
        }


def check_approval_mode(approval: str) -> str:
    """Refuse an approval mode other than ``auto`` or ``manual``.

    Args:
        approval: The mode as given (pipeline parameter or CLI flag).

    Returns:
        The mode, unchanged.

    Raises:
        RegistryError: Another value.
    """
    if approval not in APPROVAL_MODES:
        raise RegistryError(
            f"approval is {approval!r}; expected 'auto' (the gate promotes) or "
            "'manual' (a person approves with `mlops registry approve`)."
        )
    return approval


def version_status(
    version: int, lineage: Mapping[str, Any], events: Iterable[Event]
) -> str:
    """A version's status: its registration's, then the last person's decision.

    Args:
        version: The version.
        lineage: Its lineage; ``approval_mode`` ``manual`` registers it pending,
            anything else (including versions older than approval modes) approved.
        events: The model's history.

    Returns:
        One of :data:`STATUSES`.
    """
    status = PENDING if lineage.get("approval_mode") == MANUAL else APPROVED
    for event in events:
        if event.version == version and event.event in (APPROVED, REJECTED):
            status = event.event
    return status


def check_promotable(
    name: str, version: int, lineage: Mapping[str, Any], log: EventLog
) -> None:
    """Refuse to make a pending or rejected version champion.

    Args:
        name: The model name.
        version: The version about to become champion.
        lineage: Its lineage.
        log: The history of the store it lives in.

    Raises:
        RegistryError: The version is pending (a person approves it) or rejected.
    """
    events = log.read(name)
    status = version_status(version, lineage, events)
    if status == PENDING:
        raise RegistryError(
            f"{name} v{version} is pending approval, so it becomes champion only when "
            f"a person approves it: `mlops registry approve --model-name {name} "
            f"--version {version} --by NAME --reason TEXT`."
        )
    if status == REJECTED:
        refusal = [e for e in events if e.version == version and e.event == REJECTED]
        raise RegistryError(
            f"{name} v{version} was rejected by {refusal[-1].actor} "
            f"({refusal[-1].reason}), so it never becomes champion."
        )


class EventLog:
    """Reads and appends the history of the models in one store.

    Args:
        store: Where the registry lives.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def read(self, name: str) -> list[Event]:
        """Every event of ``name``, oldest first; empty when it has none.

        Args:
            name: The model name.

        Returns:
            The events, ordered by sequence number (then time, for the rare tie).

        Raises:
            RegistryError: An event file is not a valid event.
        """
        events = []
        with reaching(self._store, f"read the history of {name!r}"):
            for entry in self._store.list_dir(name, HISTORY_DIR):
                match = _EVENT_FILE.fullmatch(entry)
                if match is None:
                    continue
                raw = self._store.read_bytes(name, HISTORY_DIR, entry)
                location = self._store.location(name, HISTORY_DIR, entry)
                events.append((_parse(raw, location), match.group(3)))
        events.sort(key=lambda pair: (pair[0].seq, pair[0].time, pair[1]))
        return [event for event, _ in events]

    def append(
        self,
        name: str,
        event: str,
        *,
        version: int | None,
        actor: str,
        reason: str,
        **details: Any,
    ) -> Event:
        """Add an event to the history of ``name``; earlier events are never touched.

        Args:
            name: The model name.
            event: One of :data:`EVENTS`.
            version: The version it concerns, or None.
            actor: A person's name or the pipeline run id.
            reason: Why.
            **details: JSON-serialisable facts the event needs.

        Returns:
            The event as recorded.

        Raises:
            ValueError: ``event`` is not one of :data:`EVENTS` (a bug, not input).
            RegistryError: No sequence number could be claimed.
        """
        if event not in EVENTS:
            raise ValueError(f"unknown history event {event!r}")
        token = uuid.uuid4().hex[:8]
        for _ in range(_MAX_ATTEMPTS):
            with reaching(self._store, f"record a {event!r} event of {name!r}"):
                seq = max(self._taken(name), default=0) + 1
                number = f"{seq:0{_SEQ_DIGITS}d}"
                try:
                    self._store.create_new(b"", name, HISTORY_DIR, _CLAIMS_DIR, number)
                except FileExistsError:
                    continue  # another writer took this number: take the next one
                recorded = Event(
                    seq=seq,
                    event=event,
                    version=version,
                    time=now(),
                    actor=actor,
                    reason=reason,
                    details=details,
                )
                # A name of its own: nothing another writer does can overwrite it.
                self._store.replace_file(
                    json_bytes(recorded.to_dict()),
                    name,
                    HISTORY_DIR,
                    f"{number}-{event}-{token}.json",
                )
                return recorded
        raise RegistryError(
            f"Could not claim a history number for {name!r} in registry "
            f"{self._store.uri} after {_MAX_ATTEMPTS} attempts; too many writers ran "
            "at once."
        )

    def champion_changed(
        self,
        name: str,
        version: int,
        previous: int | None,
        actor: str,
        reason: str,
    ) -> Event:
        """Record a new champion: ``rolled-back`` to an older one, else ``promoted``.

        Args:
            name: The model name.
            version: The new champion.
            previous: The champion before it, if any.
            actor: Who changed it.
            reason: Why.

        Returns:
            The recorded event.
        """
        moved = ROLLED_BACK if previous is not None and version < previous else PROMOTED
        return self.append(
            name,
            moved,
            version=version,
            actor=actor,
            reason=reason,
            previous_version=previous,
        )

    def _taken(self, name: str) -> list[int]:
        numbers = [
            int(entry)
            for entry in self._store.list_dir(name, HISTORY_DIR, _CLAIMS_DIR)
            if _CLAIM_FILE.fullmatch(entry)
        ]
        numbers += [
            int(match.group(1))
            for entry in self._store.list_dir(name, HISTORY_DIR)
            if (match := _EVENT_FILE.fullmatch(entry))
        ]
        return numbers


def _parse(raw: bytes, location: str) -> Event:
    """An event file, or one sentence saying what is wrong with it."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RegistryError(
            f"History event {location} is not valid JSON ({exc})."
        ) from None
    if not isinstance(data, dict):
        raise RegistryError(f"History event {location} does not hold a JSON object.")
    seq, version = data.get("seq"), data.get("version")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise RegistryError(
            f"History event {location} has seq {seq!r}, expected a number >= 1."
        )
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int)
    ):
        raise RegistryError(
            f"History event {location} has version {version!r}, expected a number or "
            "null."
        )
    details = data.get("details")
    return Event(
        seq=seq,
        event=str(data.get("event", "")),
        version=version,
        time=str(data.get("time", "")),
        actor=str(data.get("actor", "")),
        reason=str(data.get("reason", "")),
        details=dict(details) if isinstance(details, dict) else {},
    )

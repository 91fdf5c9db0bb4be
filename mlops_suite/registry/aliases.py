"""Named aliases of a model's versions: ``champion``, ``challenger``, ``staging``...

Each alias is one small file, replaced atomically (a rename on a local folder, one
put on an object store), so changing one alias never touches another::

    <model-name>/aliases/<alias>.json     {"alias", "version", "updated_at"}

``champion`` is the exception: it is ``<model-name>/champion.json``, the pointer the
manifests and serving have always read, and only approval, promotion and automatic
registration move it.
"""

from __future__ import annotations

import json
import re

from mlops_suite.atomic import json_bytes
from mlops_suite.errors import RegistryError
from mlops_suite.registry.history import ALIAS_REMOVED, ALIAS_SET, Event, EventLog
from mlops_suite.registry.records import now
from mlops_suite.registry.store import Store, reaching

ALIASES_DIR = "aliases"
CHAMPION = "champion"
CHALLENGER = "challenger"

_MAX_ALIAS_LENGTH = 63
_ALIAS = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_SUFFIX = ".json"


def validate_alias(alias: str) -> str:
    """Check that ``alias`` can name an alias (and its file).

    Args:
        alias: The alias, e.g. ``staging``.

    Returns:
        The alias, unchanged.

    Raises:
        RegistryError: It is not 1-63 lowercase letters, digits and '-', starting with
            a letter and ending with a letter or digit.
    """
    if (
        not isinstance(alias, str)
        or len(alias) > _MAX_ALIAS_LENGTH
        or not _ALIAS.fullmatch(alias)
    ):
        raise RegistryError(
            f"Alias {alias!r} is not valid; use 1-{_MAX_ALIAS_LENGTH} lowercase "
            "letters, digits and '-', starting with a letter and ending with a letter "
            "or digit."
        )
    return alias


class AliasFiles:
    """The alias files of the models in one store (every alias but ``champion``).

    Every change is recorded in the history (``alias-set``, ``alias-removed``).

    Args:
        store: Where the registry lives.
        events: The history of the same store.
    """

    def __init__(self, store: Store, events: EventLog) -> None:
        self._store = store
        self._events = events

    def read(self, name: str) -> dict[str, int]:
        """The aliases of ``name`` and the versions they point at, by alias.

        Args:
            name: The model name.

        Returns:
            ``{alias: version}``; empty for a model without aliases.

        Raises:
            RegistryError: An alias file is corrupt, or the registry is unreachable.
        """
        found = {}
        with reaching(self._store, f"read the aliases of {name!r}"):
            for entry in self._store.list_dir(name, ALIASES_DIR):
                alias = entry[: -len(_SUFFIX)]
                if not entry.endswith(_SUFFIX) or not _ALIAS.fullmatch(alias):
                    continue  # temporary files of a write in progress
                try:
                    raw = self._store.read_bytes(name, ALIASES_DIR, entry)
                except FileNotFoundError:
                    continue  # removed since the listing
                location = self._store.location(name, ALIASES_DIR, entry)
                found[alias] = _parse(raw, location)
        return dict(sorted(found.items()))

    def set(
        self, name: str, alias: str, version: int, *, actor: str, reason: str
    ) -> Event:
        """Point ``alias`` at ``version``, replacing where it pointed before.

        Args:
            name: The model name.
            alias: A valid alias other than ``champion``.
            version: The version.
            actor: Who moves it.
            reason: Why.

        Returns:
            The recorded ``alias-set`` event.
        """
        before = self.read(name).get(alias)
        record = {"alias": alias, "version": version, "updated_at": now()}
        with reaching(self._store, f"set the alias {alias!r} of {name!r}"):
            self._store.replace_file(
                json_bytes(record), name, ALIASES_DIR, alias + _SUFFIX
            )
        return self._events.append(
            name,
            ALIAS_SET,
            version=version,
            actor=actor,
            reason=reason,
            alias=alias,
            previous_version=before,
        )

    def remove(
        self, name: str, alias: str, version: int, *, actor: str, reason: str
    ) -> Event:
        """Delete ``alias``, which pointed at ``version``.

        Args:
            name: The model name.
            alias: The alias.
            version: The version it pointed at, for the history.
            actor: Who removes it.
            reason: Why.

        Returns:
            The recorded ``alias-removed`` event.

        Raises:
            RegistryError: The alias does not exist (any more).
        """
        with reaching(self._store, f"remove the alias {alias!r} of {name!r}"):
            try:
                self._store.remove_file(name, ALIASES_DIR, alias + _SUFFIX)
            except FileNotFoundError:
                raise RegistryError(
                    f"Alias {alias!r} of {name!r} does not exist (any more) in "
                    f"registry {self._store.uri}."
                ) from None
        return self._events.append(
            name,
            ALIAS_REMOVED,
            version=version,
            actor=actor,
            reason=reason,
            alias=alias,
        )


def _parse(raw: bytes, location: str) -> int:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RegistryError(
            f"Alias file {location} is not valid JSON ({exc})."
        ) from None
    version = data.get("version") if isinstance(data, dict) else None
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise RegistryError(
            f"Alias file {location} records version {version!r}, expected a number "
            ">= 1; set the alias again with `mlops registry alias set`."
        )
    return version

"""Write files so that a reader sees either the old content or the new, never half.

Every artifact and registry file goes through these helpers: the bytes are written to a
temporary name in the same folder, flushed to disk, then renamed over the target. A
crash leaves at most a stray temporary file, never a truncated artifact.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Atomically replace ``path`` with ``data``.

    Args:
        path: The file to write; its folder is created when missing.
        data: The complete new content.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600; artifacts and registry files are read by other users
        # (the serving container, KFP's UI), so give them the usual mode.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Atomically replace ``path`` with UTF-8 ``text``."""
    write_bytes(path, text.encode("utf-8"))


def json_bytes(payload: Any) -> bytes:
    """``payload`` as the indented, key-sorted JSON every suite file uses."""
    return (json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n").encode()


def write_json(path: str | os.PathLike[str], payload: Any) -> None:
    """Atomically replace ``path`` with ``payload`` as indented, key-sorted JSON."""
    write_bytes(path, json_bytes(payload))


@contextmanager
def staged_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Build a folder under a temporary name and publish it by renaming.

    The body fills the yielded staging folder; on success it is renamed to ``path``
    (which must not exist yet), on failure it is removed, so ``path`` never holds a
    partial folder.

    Args:
        path: The folder to create.

    Yields:
        The staging folder to fill.

    Raises:
        FileExistsError: ``path`` already exists.
    """
    target = Path(path)
    if target.exists():
        raise FileExistsError(f"{target} already exists")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(
        tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    )
    try:
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp creates 0700
        yield staging
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

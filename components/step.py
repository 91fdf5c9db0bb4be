"""What every component body does around its one call into the core.

A component runs as ``python -m kfp.dsl.executor_main`` in the suite's image (or,
locally, in a subprocess of ``kfp.local``). When the core raises :class:`MlopsError`
the step must end with the one sentence that explains it, not with a traceback: the
KFP UI, the Vertex console and ``mlops run`` all show the last lines of a failed
step's log.

A step is a short-lived process: importing this module also arranges that it ends
quickly (see :func:`_freeze_at_exit`).
"""

import atexit
import gc
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mlops_suite import atomic
from mlops_suite.errors import ERROR_MARKER, MlopsError


def _freeze_at_exit() -> None:
    """Keep the garbage collector's final passes off what the step loaded.

    At exit the interpreter runs full collections over every object still alive:
    with pandas and scikit-learn imported that walk took 0.3 to 1 s a step, about
    as long as the step's own work on small data. The process is ending and the
    operating system reclaims its memory; frozen objects are simply not walked.
    Files are closed and flushed before this runs (artifacts are written
    atomically, stdout and stderr are flushed by the interpreter itself).
    """
    gc.freeze()


atexit.register(_freeze_at_exit)


@contextmanager
def failing_clearly(step: str) -> Iterator[None]:
    """Turn an :class:`MlopsError` raised in ``step`` into one log line and exit 1.

    Args:
        step: The component name, used in the log line.

    Yields:
        Nothing; the body runs the step.
    """
    try:
        yield
    except MlopsError as error:
        print(f"{ERROR_MARKER}{step}: {error}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


def artifact_file(artifact_path: str, name: str) -> str:
    """The file ``name`` inside an artifact folder, creating the folder if needed.

    Args:
        artifact_path: The ``.path`` of a KFP artifact (a folder for our artifacts).
        name: A file name from :mod:`mlops_suite.artifacts`.

    Returns:
        The file's path.
    """
    os.makedirs(artifact_path, exist_ok=True)
    return os.path.join(artifact_path, name)


def read_json(artifact_path: str, name: str) -> Any:
    """Read the JSON file ``name`` from an artifact folder."""
    with open(os.path.join(artifact_path, name), encoding="utf-8") as handle:
        return json.load(handle)


def write_json(artifact_path: str, name: str, payload: Any) -> None:
    """Write ``payload`` as the JSON file ``name`` in an artifact folder, atomically."""
    atomic.write_json(artifact_file(artifact_path, name), payload)


def write_text(path: str, text: str) -> None:
    """Write a file artifact (HTML, Markdown) atomically."""
    atomic.write_text(path, text)

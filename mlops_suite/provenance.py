"""Where a model came from: facts about the code that produced it.

The registry records these in every version's lineage. Each lookup is best effort: a
missing fact is ``None``, never a failed run.
"""

from __future__ import annotations

import os
import re
import subprocess

# Set by the image build (``--build-arg``), since an image holds no ``.git`` folder.
GIT_COMMIT_ENV = "MLOPS_GIT_COMMIT"

_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def git_commit(cwd: str | os.PathLike[str] | None = None) -> str | None:
    """The commit the running code was built from, if it can be known.

    ``MLOPS_GIT_COMMIT`` wins when set (it is what the image was built from, and an
    explicit setting should override a guess); otherwise ``git rev-parse HEAD`` is asked
    in ``cwd``.

    Args:
        cwd: The folder to ask git in; the current folder by default.

    Returns:
        The commit hash, or ``None`` when neither source knows it (no variable, not a
        git checkout, no commits yet, git not installed).
    """
    from_env = os.environ.get(GIT_COMMIT_ENV, "").strip()
    if from_env:
        return from_env
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    if result.returncode != 0 or not _COMMIT.fullmatch(commit):
        return None
    return commit

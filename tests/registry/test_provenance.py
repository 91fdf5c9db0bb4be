"""Which commit a registered model was built from (recorded in its lineage)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mlops_suite.provenance import GIT_COMMIT_ENV, git_commit


@pytest.fixture(autouse=True)
def _no_ambient_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Neither the developer's environment nor a checkout above tmp_path may answer.
    monkeypatch.delenv(GIT_COMMIT_ENV, raising=False)
    monkeypatch.delenv("GIT_DIR", raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))


def test_image_build_variable_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(GIT_COMMIT_ENV, "  0123abc  ")
    assert git_commit() == "0123abc"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_checkout_head_is_reported(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    git("init", "-q")
    assert git_commit(tmp_path) is None  # a checkout without commits yet
    (tmp_path / "f.txt").write_text("x")
    git("add", "f.txt")
    git("commit", "-q", "-m", "first")

    assert git_commit(tmp_path) == git("rev-parse", "HEAD")


def test_no_checkout_and_no_variable_gives_none(tmp_path: Path) -> None:
    assert git_commit(tmp_path) is None


def test_missing_git_gives_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert git_commit(tmp_path) is None

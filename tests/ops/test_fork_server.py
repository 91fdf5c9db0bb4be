"""Steps forked from a process that imported once: the same as a fresh interpreter.

The launcher stands in for ``python3`` in the shell command kfp.local runs; a step
must see its own arguments, working directory, environment and streams, and end with
its own exit status, whether the fork server took it or a fresh interpreter did.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlops_suite.ops.fork_server import FRESH_STEPS_ENV, forked_steps

# Light, so the servers are ready in a moment; what the probe looks for.
PRELOADED = "mlops_suite.tasks"
LATER = "mlops_suite.atomic"
PROBE = f"""
import os, sys
print("preloaded", {PRELOADED!r} in sys.modules)
print("later", {LATER!r} in sys.modules)
print("argv", sys.argv[1:])
print("path0", sys.path[0])
print("cwd", os.getcwd())
print("marker", os.environ.get("_KFP_RUNTIME"), os.environ.get("STEP_VALUE"))
print("to stderr", file=sys.stderr)
if sys.argv[1:] == ["fail"]:
    raise ValueError("the step's own error")
sys.exit(int(sys.argv[2]) if sys.argv[1:2] == ["exit"] else 0)
"""


@pytest.fixture
def step_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "work dir"
    folder.mkdir()
    (folder / "probe_step.py").write_text(PROBE)
    return folder


@dataclass(frozen=True)
class Server:
    """A running fork server: its stand-in for python3, and its environment."""

    python3: str
    env: dict[str, str]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.delenv(FRESH_STEPS_ENV, raising=False)
    # Taken before the server starts: pytest changes PYTEST_CURRENT_TEST between a
    # test's setup and call, and a step with another environment is not forked.
    env = dict(os.environ)
    with forked_steps(phases=((PRELOADED,), (LATER,))) as python3:
        assert python3 is not None
        # The later phase's server, which imported both.
        socket_path = Path(python3).with_name("fork-1.sock")
        deadline = time.monotonic() + 60
        while not socket_path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # bound, then listening
        yield Server(python3, env)


def run_step(
    python3: str, folder: Path, *arguments: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    # As kfp.local starts a step: a shell command naming the interpreter.
    command = f"_KFP_RUNTIME=true {python3} -m probe_step " + " ".join(arguments)
    return subprocess.run(
        ["sh", "-c", command], cwd=folder, capture_output=True, text=True, env=env
    )


def lines(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in result.stdout.splitlines())


def test_a_step_is_forked_with_its_own_arguments_place_and_streams(
    server: Server, step_dir: Path
) -> None:
    result = run_step(server.python3, step_dir, "a", "b", env=server.env)

    assert result.returncode == 0, result.stderr
    seen = lines(result)
    assert seen["preloaded"] == seen["later"] == "True"
    assert seen["argv"] == "['a', 'b']"
    assert seen["path0"] == seen["cwd"] == str(step_dir)
    assert seen["marker"] == "true None"
    assert result.stderr == "to stderr\n"


def test_a_forked_step_ends_with_its_own_exit_status(
    server: Server, step_dir: Path
) -> None:
    assert (
        run_step(server.python3, step_dir, "exit", "3", env=server.env).returncode == 3
    )

    failed = run_step(server.python3, step_dir, "fail", env=server.env)
    assert failed.returncode == 1
    assert "ValueError: the step's own error" in failed.stderr


def test_a_step_with_another_environment_runs_in_a_fresh_interpreter(
    server: Server, step_dir: Path
) -> None:
    changed = {**server.env, "STEP_VALUE": "42"}

    result = run_step(server.python3, step_dir, env=changed)

    assert result.returncode == 0, result.stderr
    assert lines(result)["preloaded"] == "False"
    assert lines(result)["marker"] == "true 42"


def test_an_import_that_fails_is_left_to_the_steps(
    step_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(FRESH_STEPS_ENV, raising=False)
    env = dict(os.environ)
    with forked_steps(phases=(("no_such_module_anywhere", PRELOADED),)) as python3:
        assert python3 is not None
        socket_path = Path(python3).with_name("fork-0.sock")
        while not socket_path.exists():
            time.sleep(0.05)
        time.sleep(1.0)  # both imports tried by now
        result = run_step(python3, step_dir, "exit", "4", env=env)

    assert result.returncode == 4, result.stderr
    assert lines(result)["preloaded"] == "True"


def test_the_fork_server_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FRESH_STEPS_ENV, "1")

    with forked_steps() as python3:
        assert python3 is None

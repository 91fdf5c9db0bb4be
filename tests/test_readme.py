"""The README's shell examples run as written, so an example that fails, fails CI.

Every command of every ```bash block in README.md is either run here or skipped by
one of the rules below, each with its reason; a command no rule names is run. So a
new example is tested unless a rule says, visibly, why it cannot be:

- ``<!-- not-run-here: reason -->`` on the line before a block skips the whole block;
- :data:`NOT_RUNNABLE` skips a command that needs what this machine does not have (a
  cluster, Docker, kind, a cloud project) or that stands for values of the reader's
  own (a placeholder such as ``<project>``, optional ``[--flags]``, their data files).

The commands run in a temporary folder, in README order, after the README's own
``make demo`` (once, by the :func:`demo` fixture) has trained and registered
``penguins`` v1 there. To run them here the test rewrites, and only so:
``.venv/bin/`` is this test's environment; ``make`` runs this repository's Makefile
with that environment, the demo and the compiled pipelines in the temporary folder,
and without reinstalling; port 8080 is a free port. ``mlops serve`` starts in the
background (on 127.0.0.1, as it does by default) and stops when its block ends.
:data:`CHECKS` then checks what a user would look at: curl's predictions, the champion
in ``registry list``, the rendered manifests, not just exit codes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_suite import __version__
from mlops_suite.serving.server_process import free_port

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
VENV = Path(sys.prefix)  # the environment running this test: the README's .venv
DEFAULT_IMAGE = "ghcr.io/kfp-mlops-suite/components"  # the Makefile's IMAGE
MARKER = re.compile(r"^\s*<!--\s*not-run-here:(.*?)-->\s*$")

NOT_RUNNABLE: tuple[tuple[str, str], ...] = (
    (r"<[a-z][a-z0-9_-]*>", "a placeholder such as <project> stands for your value"),
    (r" \[--", "a template: [--flags] are optional and its inputs are yours"),
    (
        r"\b(path/to/|window\.parquet|new-labelled\.csv|truth\.csv)",
        "reads data of yours (a logged window, ground truth) this machine lacks",
    ),
    (r"^make test\b", "runs the whole test suite, this test included"),
    (r"^make (kind-up|image|kind-e2e|kind-down)\b", "needs Docker or podman and kind"),
    (
        r"^kubectl (apply|wait|create|annotate|port-forward|-n)\b",
        "needs a Kubernetes cluster",
    ),
    (r"--target kfp\b", "needs the Kubeflow Pipelines API of a kind cluster"),
    (r"^gcloud\b|--target vertex\b|mlops vertex\b", "needs a Google Cloud project"),
)
# The server listens on 127.0.0.1 only: no proxy may stand between it and curl.
LOCAL_ENV = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1"}
BACKGROUND = re.compile(r"mlops serve\b")
DEMO = re.compile(r"^make demo\b")


@dataclass(frozen=True)
class Command:
    """One shell command of a block: continuation lines joined, heredoc included."""

    text: str
    line: int

    def skipped_because(self) -> str | None:
        """The first rule's reason that this command cannot run here, or None."""
        for pattern, reason in NOT_RUNNABLE:
            if re.search(pattern, self.text, re.MULTILINE):
                return reason
        return None


@dataclass(frozen=True)
class Block:
    """A ```bash block of the README and the marker before it, if any."""

    line: int
    commands: tuple[Command, ...]
    not_run_here: str | None


def bash_blocks(text: str) -> list[Block]:
    """The ```bash blocks of a Markdown text (indented ones too), in order."""
    lines = text.splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        fence = re.match(r"^(\s*)```bash\s*$", lines[index])
        if not fence:
            index += 1
            continue
        indent, start = len(fence.group(1)), index
        body = []
        index += 1
        while not re.match(r"^\s*```\s*$", lines[index]):
            body.append((index + 1, lines[index][indent:]))
            index += 1
            assert index < len(lines), f"the ```bash block of line {start + 1} is open"
        previous = next((line for line in reversed(lines[:start]) if line.strip()), "")
        marker = MARKER.match(previous)
        blocks.append(
            Block(
                start + 1, _commands(body), marker.group(1).strip() if marker else None
            )
        )
        index += 1
    return blocks


def _commands(body: list[tuple[int, str]]) -> tuple[Command, ...]:
    commands = []
    rows = iter(body)
    for number, line in rows:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        text = [line]
        while text[-1].rstrip().endswith("\\"):
            text.append(next(rows)[1])
        heredoc = re.search(r"<<-?\s*'?(\w+)'?", "\n".join(text))
        if heredoc:
            for _, more in rows:
                text.append(more)
                if more.strip() == heredoc.group(1):
                    break
        commands.append(Command("\n".join(text), number))
    return tuple(commands)


BLOCKS = bash_blocks(README.read_text(encoding="utf-8"))


def _runs(block: Block) -> list[Command]:
    if block.not_run_here:
        return []
    return [command for command in block.commands if not command.skipped_because()]


# ---------------------------------------------------------------- what is checked


def _check_demo(out: subprocess.CompletedProcess[str], here: Path) -> None:
    assert "Registered penguins v1" in out.stdout, out.stdout
    champion = here / ".mlops" / "registry" / "penguins" / "champion.json"
    assert json.loads(champion.read_text())["version"] == 1


def _check_list(out: subprocess.CompletedProcess[str], here: Path) -> None:
    # v1 is the champion (*) and loads in KServe's stock sklearn server (no "!").
    lines = out.stdout.splitlines()
    assert re.match(
        r"\* v1 +approved +champion +\S+ +[0-9a-f]{12} {4}Approved", lines[0]
    ), out.stdout
    assert not any(line.startswith(("!", "?")) for line in lines), out.stdout


def _check_show(out: subprocess.CompletedProcess[str], here: Path) -> None:
    shown = json.loads(out.stdout)
    assert shown["version"] == 1
    assert shown["lineage"]["approval_reason"].startswith("Approved")
    assert out.stderr == ""  # no warning that KServe refuses it


def _check_promote(out: subprocess.CompletedProcess[str], here: Path) -> None:
    assert out.stdout.strip() == "penguins: champion is now v1"


def _check_prediction(out: subprocess.CompletedProcess[str], here: Path) -> None:
    # The README shows this answer: the first penguin of the table is an Adelie.
    assert json.loads(out.stdout) == {"predictions": ["Adelie"]}, out.stdout


def _check_manifest(out: subprocess.CompletedProcess[str], here: Path) -> None:
    folder = here / out.args[-1].split("--output", 1)[1].split()[0]
    rendered = _kustomize(folder)
    service = next(doc for doc in rendered if doc["kind"] == "InferenceService")
    assert service["metadata"]["name"] == "penguins"
    storage = service["spec"]["predictor"]["model"]["storageUri"]
    assert storage == "s3://mlpipeline/registry/penguins/v1"


def _check_log_storage(out: subprocess.CompletedProcess[str], here: Path) -> None:
    folder = here / out.args[-1].split("--output", 1)[1].split()[0]
    rendered = _kustomize(folder)
    service = next(doc for doc in rendered if doc["kind"] == "InferenceService")
    logger = service["spec"]["predictor"]["logger"]
    assert logger["url"] == "s3://mlpipeline/kserve-logs"
    assert logger["storage"]["parameters"]["format"] == "json"
    assert not [doc for doc in rendered if doc["kind"] == "Deployment"]


def _check_unsafe_patch(out: subprocess.CompletedProcess[str], here: Path) -> None:
    assert "- name: KSERVE_ALLOW_UNSAFE_DESERIALIZATION" in out.stdout
    assert 'value: "true"' in out.stdout


def _check_compiled(out: subprocess.CompletedProcess[str], here: Path) -> None:
    image = re.search(r"IMAGE=(\S+)", out.args[-1])
    expected = image.group(1) if image else f"{DEFAULT_IMAGE}:{__version__}"
    for name in ("training.yaml", "training-kfp.yaml", "continuous-training.yaml"):
        assert f"image: {expected}" in (here / "build" / "pipelines" / name).read_text()


Check = Callable[[subprocess.CompletedProcess[str], Path], None]
CHECKS: tuple[tuple[str, Check], ...] = (
    (r"^make demo\b", _check_demo),
    (r"mlops registry list\b", _check_list),
    (r"mlops registry show\b", _check_show),
    (r"mlops registry promote\b", _check_promote),
    (r"^curl\b.*:predict\b", _check_prediction),
    (r"mlops manifest\b", _check_manifest),
    (r"mlops manifest\b.*--log-storage\b", _check_log_storage),
    (r"^kubectl kustomize .*KSERVE_ALLOW_UNSAFE_DESERIALIZATION", _check_unsafe_patch),
    (r"^make compile\b", _check_compiled),
)


# ---------------------------------------------------------------- running


def _rewrite(text: str, here: Path, port: int) -> str:
    text = re.sub(r"^\.venv/bin/", f"{VENV}/bin/", text)
    text = re.sub(
        r"^make ",
        f"make -C {REPO} -o {VENV}/.installed-stamp VENV={VENV} "
        f"DEMO_DIR={here}/.mlops COMPILED={here}/build/pipelines ",
        text,
    )
    return re.sub(r"(--port |:)8080\b", rf"\g<1>{port}", text)


def _run(text: str, here: Path, port: int) -> subprocess.CompletedProcess[str]:
    """Run one README command in ``here``; it must succeed and pass its checks."""
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", _rewrite(text, here, port)],
        cwd=here,
        env=LOCAL_ENV,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, (
        f"README command failed ({done.returncode}):\n{text}\n"
        f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    )
    for pattern, check in CHECKS:
        if re.search(pattern, text, re.DOTALL):
            check(done, here)
    return done


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder where the README's ``make demo`` registered penguins v1."""
    for tool in ("make", "kubectl", "curl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed; the README's commands need it")
    here = tmp_path_factory.mktemp("readme")
    [command] = [c for b in BLOCKS for c in _runs(b) if DEMO.match(c.text)]
    _run(command.text, here, port=0)
    return here


@contextmanager
def _serving(text: str, here: Path, port: int) -> Iterator[None]:
    """Run ``mlops serve`` in the background until the block ends; wait for Ready."""
    log = here / f"serve-{port}.log"
    with open(log, "wb") as sink:
        server = subprocess.Popen(
            ["bash", "-c", "exec " + _rewrite(text, here, port)],
            cwd=here,
            env=LOCAL_ENV,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while not _ready(port):
            assert server.poll() is None, f"mlops serve stopped:\n{log.read_text()}"
            assert time.monotonic() < deadline, (
                f"not ready in 180 s:\n{log.read_text()}"
            )
            time.sleep(0.5)
        yield
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)


def _ready(port: int) -> bool:
    url = f"http://127.0.0.1:{port}/v2/health/ready"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with direct.open(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _kustomize(folder: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        ["kubectl", "kustomize", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


# ---------------------------------------------------------------- the tests


def test_every_command_is_run_or_skipped_with_a_reason() -> None:
    assert BLOCKS, "README.md has no ```bash block"
    for block in BLOCKS:
        assert block.commands, f"README.md:{block.line}: an empty ```bash block"
        assert block.not_run_here != "", (
            f"README.md:{block.line}: not-run-here needs a reason"
        )
    run = [command.text for block in BLOCKS for command in _runs(block)]
    # What the README promises a user can do on this machine is run, and checked.
    for pattern, _ in CHECKS:
        assert any(re.search(pattern, text, re.DOTALL) for text in run), pattern


def test_the_block_parser_reads_markers_continuations_and_heredocs() -> None:
    text = (
        "<!-- not-run-here: needs a GPU -->\n"
        "```bash\n"
        "train --big\n"
        "```\n\n"
        "1. step\n"
        "   ```bash\n"
        "   # a comment\n"
        "   mlops run \\\n"
        "       --data x.csv\n"
        "   cat > f <<'EOF'\n"
        "   a: 1\n"
        "   EOF\n"
        "   ```\n"
    )
    first, second = bash_blocks(text)
    assert first.not_run_here == "needs a GPU"
    assert [c.text for c in first.commands] == ["train --big"]
    assert second.not_run_here is None
    assert [c.text for c in second.commands] == [
        "mlops run \\\n    --data x.csv",
        "cat > f <<'EOF'\na: 1\nEOF",
    ]
    assert second.commands[0].line == 9


@pytest.mark.parametrize(
    "readme", [README, REPO / "manifests" / "README.md"], ids=["README", "manifests"]
)
def test_every_curl_that_sends_a_body_says_it_is_json(readme: Path) -> None:
    # Without the header the sklearn server does not read the body as JSON: HTTP 500.
    for block in bash_blocks(readme.read_text(encoding="utf-8")):
        for command in block.commands:
            if re.search(r"^curl\b.*\s(-d|--data\S*)\s", command.text, re.DOTALL):
                assert "-H 'Content-Type: application/json'" in command.text, (
                    f"{readme}:{command.line}"
                )


@pytest.mark.parametrize(
    "block",
    [
        pytest.param(block, marks=pytest.mark.slow if _runs(block) else ())
        for block in BLOCKS
    ],
    ids=[f"line{block.line}" for block in BLOCKS],
)
def test_the_readme_block_runs(block: Block, request: pytest.FixtureRequest) -> None:
    skipped = {
        f"line {command.line}: {block.not_run_here or command.skipped_because()}"
        for command in block.commands
        if block.not_run_here or command.skipped_because()
    }
    runs = _runs(block)
    if not runs:
        pytest.skip("; ".join(sorted(skipped)))
    here: Path = request.getfixturevalue("demo")
    port = free_port()
    with ExitStack() as servers:
        for command in runs:
            if DEMO.match(command.text):
                continue  # the demo fixture ran it, and checked it, in this folder
            if BACKGROUND.search(command.text):
                servers.enter_context(_serving(command.text, here, port))
            else:
                _run(command.text, here, port)

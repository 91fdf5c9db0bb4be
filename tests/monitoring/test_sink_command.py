"""`mlops sink`'s flags load fast: `mlops --help` imports them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = ("pandas", "pyarrow", "numpy", "matplotlib", "scipy", "fsspec", "sklearn")


def test_the_sink_flags_load_without_the_data_libraries() -> None:
    probe = (
        "import sys, argparse\n"
        "from mlops_suite.monitoring.sink.command import add_sink_arguments\n"
        "add_sink_arguments(argparse.ArgumentParser())\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "", f"imported at --help time: {done.stdout}"


def test_python_m_runs_the_same_flags_and_stops_on_bad_input(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlops_suite.monitoring.sink",
            "--output",
            str(tmp_path / "logs"),
            "--metadata",
            str(tmp_path / "missing.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: Model metadata ")
    assert "does not exist" in done.stderr
    assert done.stderr.count("\n") == 1

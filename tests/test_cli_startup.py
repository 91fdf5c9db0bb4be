"""``mlops --help`` answers at once: asking for help imports no heavy library.

Each case runs the command in a fresh interpreter with ``-X importtime`` and reads
every module it imported; pandas, scikit-learn, KFP and the cloud clients take
seconds to import and only the command that uses them may pay for that.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from mlops_suite import __version__

HEAVY = (
    "pandas",
    "numpy",
    "pyarrow",
    "sklearn",
    "matplotlib",
    "kfp",
    "kserve",
    "google.cloud",
)

# `mlops sink --help` is left out: the sink's flags are declared by the sink module.
ASKED = [
    ["--help"],
    ["--version"],
    ["run", "--help"],
    ["run", "training", "--help"],
    ["run", "continuous-training", "--help"],
    ["monitor", "--help"],
    ["compile", "--help"],
    ["registry", "--help"],
    ["registry", "show", "--help"],
    ["serve", "--help"],
    ["manifest", "--help"],
    ["submit", "--help"],
    ["schedule", "--help"],
    ["vertex", "upload", "--help"],
    ["demo-data", "--help"],
    ["sink", "--help"],
    ["predict", "--help"],
]


def imported_modules(argv: list[str]) -> tuple[str, set[str]]:
    """What ``mlops <argv>`` printed, and every module its process imported."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mlops_suite.cli", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # Lines read "import time: <self us> | <cumulative us> | <indented module>".
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }
    return done.stdout, modules


@pytest.mark.parametrize("argv", ASKED, ids=" ".join)
def test_help_and_version_import_no_heavy_library(argv: list[str]) -> None:
    out, modules = imported_modules(argv)
    if argv == ["--version"]:
        assert out.strip() == f"mlops {__version__}"
    else:
        assert out.startswith("usage: mlops")
    # The listing is read right: the command's own package shows in it.
    assert "mlops_suite.cli" in modules
    heavy = sorted(
        module
        for module in modules
        if any(module == name or module.startswith(f"{name}.") for name in HEAVY)
    )
    assert heavy == [], f"mlops {' '.join(argv)} imported {heavy[:5]}"

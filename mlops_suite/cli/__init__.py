"""The ``mlops`` command line: run, compile, serve and inspect the suite's pipelines.

Every command exits 0 when it did its job, and 1 with one sentence on stderr (no
traceback) when the input stopped it: the sentence names what was wrong and where.

One module per command group declares its flags and hands them to one core
function. Parsing imports nothing heavy: pandas, scikit-learn, KFP and the cloud
clients are imported by the handler of the command that needs them, so ``--help``
and ``--version`` answer at once.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from mlops_suite import __version__
from mlops_suite.cli import (
    demo,
    export,
    monitor,
    ops,
    registry,
    run,
    scoring,
    serving,
)
from mlops_suite.cli.monitor import DRIFT_EXIT
from mlops_suite.cli.parser import CommandParser
from mlops_suite.errors import MlopsError

__all__ = ["DRIFT_EXIT", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Builds the ``mlops`` argument parser."""
    parser = CommandParser(
        prog="mlops",
        description="Kubeflow Pipelines MLOps suite for tabular scikit-learn models.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # In the order `mlops --help` lists them.
    run.add_run(commands)
    monitor.add_monitor(commands)
    serving.add_sink(commands)
    ops.add_compile(commands)
    registry.add_registry(commands)
    export.add_export(commands)
    serving.add_serve(commands)
    serving.add_manifest(commands)
    scoring.add_predict(commands)
    ops.add_submit(commands)
    ops.add_schedule(commands)
    ops.add_vertex(commands)
    demo.add_demo_data(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``mlops`` command line.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 when the input stopped the command.
    """
    args = build_parser().parse_args(argv)
    # gcsfs logs the request it gave up on, traceback included, before it raises:
    # with no handler of the user's, Python would print that above the sentence.
    logging.getLogger("gcsfs").addHandler(logging.NullHandler())
    try:
        return int(args.handler(args))
    except MlopsError as error:
        print(f"mlops: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mlops: interrupted", file=sys.stderr)
        return 130

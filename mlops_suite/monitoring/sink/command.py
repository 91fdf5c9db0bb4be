"""The flags of ``mlops sink`` and running the sink from them.

``mlops --help`` imports this module, so it imports nothing heavy at module level:
the sink itself (pandas, pyarrow, fsspec) is imported when it runs.
"""

from __future__ import annotations

import argparse
import sys

from mlops_suite.errors import MlopsError
from mlops_suite.monitoring.sink.defaults import (
    DEFAULT_FLUSH_ROWS,
    DEFAULT_FLUSH_SECONDS,
    DEFAULT_HOST,
    DEFAULT_PAIR_TIMEOUT_SECONDS,
    DEFAULT_PORT,
)

DESCRIPTION = (
    "Receive KServe's payload-logger events and store served traffic as Parquet "
    "batches."
)


def add_sink_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flags of ``mlops sink`` to a parser (see :func:`run_sink_from_args`).

    Args:
        parser: The (sub)command's parser.
    """
    parser.add_argument(
        "--output",
        required=True,
        help="folder or fsspec URI of the Parquet batch files, e.g. "
        "s3://mlpipeline/logs/<model>/",
    )
    parser.add_argument(
        "--metadata",
        default=None,
        help="the served model's metadata.json (or folder): feature names and types",
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="listen address (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--flush-rows",
        type=int,
        default=DEFAULT_FLUSH_ROWS,
        help="most rows per batch file (default: %(default)s)",
    )
    parser.add_argument(
        "--flush-seconds",
        type=float,
        default=DEFAULT_FLUSH_SECONDS,
        help="longest wait before buffered rows are written (default: %(default)s)",
    )
    parser.add_argument(
        "--journal-dir",
        default=None,
        help="local journal folder (default: <output>/.journal, or a folder under "
        "the temporary directory for an object store)",
    )
    parser.add_argument(
        "--pair-timeout-seconds",
        type=float,
        default=DEFAULT_PAIR_TIMEOUT_SECONDS,
        help="how long a request waits for its response (default: %(default)s)",
    )


def run_sink_from_args(args: argparse.Namespace) -> None:
    """Run :func:`run_sink` with flags parsed by :func:`add_sink_arguments`.

    Args:
        args: The parsed flags.

    Raises:
        MlopsError: The sink cannot start.
    """
    from mlops_suite.monitoring.sink.server import run_sink

    run_sink(
        args.output,
        host=args.host,
        port=args.port,
        metadata_path=args.metadata,
        flush_rows=args.flush_rows,
        flush_seconds=args.flush_seconds,
        journal_dir=args.journal_dir,
        pair_timeout_s=args.pair_timeout_seconds,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m mlops_suite.monitoring.sink``: what ``mlops sink`` runs.

    Args:
        argv: The flags; ``None`` reads ``sys.argv``.

    Returns:
        The exit status: 0 once stopped by a signal, 1 (with one sentence on
        stderr) when the sink cannot start.
    """
    parser = argparse.ArgumentParser(
        prog="python -m mlops_suite.monitoring.sink", description=DESCRIPTION
    )
    add_sink_arguments(parser)
    args = parser.parse_args(argv)
    try:
        run_sink_from_args(args)
    except MlopsError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0

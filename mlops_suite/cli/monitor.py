"""``mlops monitor``: a drift (and decay) report of current data against a reference."""

from __future__ import annotations

import argparse

from mlops_suite.cli.arguments import absolute, add_version_flags, registered
from mlops_suite.cli.parser import Commands
from mlops_suite.errors import MlopsError

# Exit status of `mlops monitor --fail-on-drift` when the data drifted (1 is bad input).
DRIFT_EXIT = 3


def add_monitor(commands: Commands) -> None:
    """Declares ``mlops monitor``.

    Args:
        commands: The top-level commands.
    """
    monitor = commands.add_parser(
        "monitor",
        help="drift report of current data against the training profile",
        description=(
            "Compare current data (a Parquet file, a folder of Parquet batches from "
            "the payload sink, or a CSV) with a reference: a statistics.json profile, "
            "a registry version's metadata.json, the champion (--registry), or a raw "
            "table. Every feature's score is recorded, drifted or not. Exit 0, or "
            f"{DRIFT_EXIT} with --fail-on-drift when a feature drifted."
        ),
    )
    monitor.add_argument(
        "--reference", help="statistics.json, metadata.json or a table"
    )
    monitor.add_argument("--registry", help="compare with this registry's champion")
    monitor.add_argument("--model-name")
    add_version_flags(monitor, "with --registry, the champion")
    monitor.add_argument("--current", required=True)
    monitor.add_argument("--report-dir", required=True)
    monitor.add_argument("--thresholds", help="a JSON file of drift thresholds")
    monitor.add_argument("--fail-on-drift", action="store_true")
    monitor.add_argument(
        "--labels", help="ground truth for logged predictions: decay (needs --registry)"
    )
    monitor.add_argument("--label-column", default="label", help="default: %(default)s")
    monitor.add_argument(
        "--max-drop",
        type=float,
        default=0.05,
        help="relative metric drop that counts as decay (default: %(default)s)",
    )
    monitor.set_defaults(handler=_monitor)


def _monitor(args: argparse.Namespace) -> int:
    from mlops_suite.monitoring.monitor import monitor

    if args.registry and not args.model_name:
        raise MlopsError("--registry needs --model-name to find the model")
    result = monitor(
        absolute(args.current),
        args.report_dir,
        reference=absolute(args.reference) if args.reference else None,
        metadata=registered(args)[1] if args.registry else None,
        thresholds=absolute(args.thresholds) if args.thresholds else None,
        labels=absolute(args.labels) if args.labels else None,
        label_column=args.label_column,
        max_drop=args.max_drop,
    )
    print(result.summary())
    print(f"mlops: report in {result.drift_html} and {result.drift_json}")
    return DRIFT_EXIT if (args.fail_on_drift and result.moved) else 0

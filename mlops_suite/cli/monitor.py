"""``mlops monitor``: drift (and decay) of current data against a reference.

With ``--chunk-size`` or ``--chunk-period`` it writes a timeline instead: drift and
estimated (and realized) performance per chunk.
"""

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
            "the payload sink, a folder of the objects KServe's logger writes to "
            "storage, or a CSV) with a reference: a statistics.json profile, "
            "a registry version's metadata.json, the champion (--registry), or a raw "
            "table. Every feature's score is recorded, drifted or not. Exit 0, or "
            f"{DRIFT_EXIT} with --fail-on-drift when a feature drifted (with chunks: "
            "or a metric passed its threshold in a chunk)."
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
    monitor.add_argument(
        "--thresholds",
        help="a JSON file of thresholds (drift, ignore_features, performance)",
    )
    monitor.add_argument(
        "--ignore-features", help="columns never compared, e.g. year,id"
    )
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
    timeline = monitor.add_argument_group(
        "timeline",
        "cut the data into chunks: per chunk, drift of every feature and a "
        "classifier's estimated accuracy, F1 and ROC AUC (realized too with "
        "--labels); writes monitoring.json and monitoring.html",
    )
    timeline.add_argument("--chunk-size", type=int, help="rows per chunk")
    timeline.add_argument(
        "--chunk-period", help="a span such as 1D, 6h or 30min, or W, M, Q, Y"
    )
    timeline.add_argument(
        "--timestamp-column",
        help="the time of each row, with --chunk-period (default: received_at)",
    )
    monitor.set_defaults(handler=_monitor)


def _monitor(args: argparse.Namespace) -> int:
    from mlops_suite.monitoring.monitor import monitor
    from mlops_suite.monitoring.thresholds import split_names

    if args.registry and not args.model_name:
        raise MlopsError("--registry needs --model-name to find the model")
    if args.chunk_size is not None or args.chunk_period or args.timestamp_column:
        return _monitor_timeline(args)
    result = monitor(
        absolute(args.current),
        args.report_dir,
        reference=absolute(args.reference) if args.reference else None,
        metadata=registered(args)[1] if args.registry else None,
        thresholds=absolute(args.thresholds) if args.thresholds else None,
        labels=absolute(args.labels) if args.labels else None,
        label_column=args.label_column,
        max_drop=args.max_drop,
        ignore_features=split_names(args.ignore_features or ""),
    )
    print(result.summary())
    print(f"mlops: report in {result.drift_html} and {result.drift_json}")
    return DRIFT_EXIT if (args.fail_on_drift and result.moved) else 0


def _monitor_timeline(args: argparse.Namespace) -> int:
    from mlops_suite.monitoring.chunking import Chunking
    from mlops_suite.monitoring.monitor import monitor_timeline
    from mlops_suite.monitoring.monitored_model import (
        from_metadata_file,
        from_registry,
    )
    from mlops_suite.monitoring.thresholds import split_names

    if args.timestamp_column and not args.chunk_period:
        raise MlopsError("--timestamp-column goes with --chunk-period")
    chunking = Chunking(
        size=args.chunk_size,
        period=args.chunk_period,
        **(
            {"timestamp_column": args.timestamp_column} if args.timestamp_column else {}
        ),
    )
    reference = absolute(args.reference) if args.reference else None
    metadata = model = None
    if args.registry:
        version, metadata = registered(args)
        model = from_registry(
            absolute(args.registry), args.model_name, version, metadata
        )
    elif reference and reference.endswith(".json"):
        model = from_metadata_file(reference)
    result = monitor_timeline(
        absolute(args.current),
        args.report_dir,
        chunking=chunking,
        reference=reference,
        metadata=metadata,
        model=model,
        thresholds=absolute(args.thresholds) if args.thresholds else None,
        labels=absolute(args.labels) if args.labels else None,
        label_column=args.label_column,
        ignore_features=split_names(args.ignore_features or ""),
    )
    print(result.summary())
    print(f"mlops: report in {result.monitoring_html} and {result.monitoring_json}")
    return DRIFT_EXIT if (args.fail_on_drift and result.moved) else 0

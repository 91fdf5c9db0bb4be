"""``mlops predict``: score a table with a registered model into monitorable Parquet."""

from __future__ import annotations

import argparse

from mlops_suite.cli.arguments import absolute
from mlops_suite.cli.parser import Commands


def add_predict(commands: Commands) -> None:
    """Declares ``mlops predict``.

    Args:
        commands: The top-level commands.
    """
    predict = commands.add_parser(
        "predict",
        help="batch-score a table with a registered model",
        description=(
            "Score a CSV or Parquet table (file or folder) with the champion (or "
            "--version), checking the model file's sha256, in bounded memory. The "
            "output folder holds Parquet files in the payload sink's schema (request "
            "id, row, features, prediction, proba_<class>, then the table's other "
            "columns), so `mlops monitor --current` reads it like served traffic."
        ),
    )
    predict.add_argument("--registry", required=True)
    predict.add_argument("--model-name", required=True)
    predict.add_argument("--version", type=int, help="default: the champion")
    predict.add_argument("--data", required=True, help="the table to score")
    predict.add_argument("--output", required=True, help="the folder to write to")
    predict.add_argument(
        "--keep-columns",
        help="comma-separated non-feature columns to keep (default: all of them)",
    )
    predict.add_argument(
        "--batch-rows", type=int, default=50_000, help="rows per output file"
    )
    predict.set_defaults(handler=_predict)


def _predict(args: argparse.Namespace) -> int:
    from mlops_suite.scoring import score_version

    keep = [name for name in (args.keep_columns or "").split(",") if name]
    version, result = score_version(
        absolute(args.registry),
        args.model_name,
        absolute(args.data),
        absolute(args.output),
        version=args.version,
        keep_columns=keep if args.keep_columns is not None else None,
        batch_rows=args.batch_rows,
    )
    print(
        f"mlops: scored {result.rows} rows with {args.model_name} v{version} into "
        f"{len(result.files)} file(s) in {absolute(args.output)} "
        f"(request_id {result.run_id})"
    )
    return 0

"""``mlops run training|continuous-training``: run a pipeline locally with kfp.local."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mlops_suite.cli.arguments import absolute, add_notify_url
from mlops_suite.cli.parser import Commands

_NOTIFY_WHEN = "when the run ends, succeeded or failed (Slack-compatible)"


def add_run(commands: Commands) -> None:
    """Declares ``mlops run`` and its pipelines.

    Args:
        commands: The top-level commands.
    """
    run = commands.add_parser("run", help="run a pipeline locally with kfp.local")
    runs = run.add_subparsers(dest="pipeline", required=True, metavar="PIPELINE")
    training = runs.add_parser(
        "training",
        help="train, evaluate, approve and register a model",
        description="Run the training pipeline with kfp.local: no cluster, no Docker.",
    )
    training.add_argument(
        "--data", required=True, help="CSV or Parquet file (path or URI)"
    )
    training.add_argument("--label", required=True, help="the column to predict")
    training.add_argument("--model-name", required=True, help="name in the registry")
    training.add_argument("--registry", required=True, help="registry folder or URI")
    training.add_argument(
        "--pipeline-root",
        default=".mlops/pipeline-root",
        help="where step outputs and logs go (default: %(default)s)",
    )
    training.add_argument("--task", choices=["classification", "regression"])
    training.add_argument("--schema", help="a curated schema.json to validate against")
    training.add_argument("--estimator", help="e.g. logistic_regression, random_forest")
    training.add_argument("--params", type=_json_object, help="hyperparameters as JSON")
    training.add_argument(
        "--tune", action="store_true", help="run hyperparameter trials"
    )
    training.add_argument("--seed", type=int, default=0)
    training.add_argument(
        "--slice-column", help="categorical feature to slice metrics by"
    )
    training.add_argument(
        "--intended-use", help="what the model is for, written into its model card"
    )
    training.add_argument(
        "--thresholds",
        type=_json_object,
        help="approval bounds as JSON, e.g. '{\"min_roc_auc\": 0.9}'",
    )
    training.add_argument(
        "--max-regression",
        type=float,
        help="tolerated relative drop against the champion (default 0.01)",
    )
    _add_approval(training)
    add_notify_url(training, _NOTIFY_WHEN)
    training.set_defaults(handler=_run_training)

    ct = runs.add_parser(
        "continuous-training",
        help="judge the champion on the latest data; retrain when it fell or moved",
        description="Run the continuous-training pipeline with kfp.local.",
    )
    ct.add_argument(
        "--current", required=True, help="latest window: Parquet file/folder or CSV"
    )
    ct.add_argument("--data", required=True, help="labelled data to retrain on")
    ct.add_argument("--label", required=True)
    ct.add_argument("--model-name", required=True)
    ct.add_argument("--registry", required=True)
    ct.add_argument(
        "--labels",
        help="ground truth for logged predictions: realized performance decides",
    )
    ct.add_argument("--label-column", default="label", help="default: %(default)s")
    ct.add_argument(
        "--drift-thresholds",
        type=_json_object,
        help="monitoring thresholds as JSON (drift, ignore_features, performance)",
    )
    ct.add_argument(
        "--ignore-features", help="columns never compared for drift, e.g. year,id"
    )
    ct.add_argument(
        "--performance-thresholds",
        type=_json_object,
        help="a threshold per metric as JSON, e.g. '{\"accuracy\": 0.85}'",
    )
    ct.add_argument("--force", action="store_true", help="retrain whatever the data")
    ct.add_argument(
        "--intended-use", help="what a retrained model is for (its model card)"
    )
    ct.add_argument("--pipeline-root", default=".mlops/pipeline-root")
    _add_approval(ct)
    add_notify_url(ct, _NOTIFY_WHEN)
    ct.set_defaults(handler=_run_continuous_training)


def _add_approval(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--approval",
        choices=["auto", "manual"],
        default="auto",
        help=(
            "auto: an approved model becomes champion; manual: it becomes the "
            "pending challenger until `mlops registry approve` (default: %(default)s)"
        ),
    )


def _json_object(text: str) -> dict[str, Any]:
    """A flag holding a JSON object, refused in one sentence otherwise."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(
            f"not valid JSON ({error.msg}): {text}"
        ) from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object like {{...}}: {text}")
    return value


def _run_training(args: argparse.Namespace) -> int:
    from mlops_suite.ops.local_pipelines import run_training

    pipeline_root = Path(args.pipeline_root).resolve()
    print(f"mlops: running the training pipeline locally (outputs in {pipeline_root})")
    outcome = run_training(
        data_uri=absolute(args.data),
        label=args.label,
        model_name=args.model_name,
        registry_uri=absolute(args.registry),
        pipeline_root=pipeline_root,
        task=args.task,
        schema_uri=absolute(args.schema) if args.schema else None,
        estimator=args.estimator,
        params=args.params,
        tune=args.tune,
        seed=args.seed,
        slice_column=args.slice_column,
        intended_use=args.intended_use,
        thresholds=args.thresholds,
        max_regression=args.max_regression,
        approval=args.approval,
        notify_url=args.notify_url,
    )
    print(outcome.summary())
    return 0


def _run_continuous_training(args: argparse.Namespace) -> int:
    from mlops_suite.monitoring.thresholds import split_names
    from mlops_suite.ops.local_pipelines import run_continuous_training

    pipeline_root = Path(args.pipeline_root).resolve()
    print(f"mlops: running continuous training locally (outputs in {pipeline_root})")
    outcome = run_continuous_training(
        current_uri=absolute(args.current),
        training_data_uri=absolute(args.data),
        label=args.label,
        model_name=args.model_name,
        registry_uri=absolute(args.registry),
        pipeline_root=pipeline_root,
        labels_uri=absolute(args.labels) if args.labels else None,
        label_column=args.label_column,
        force=args.force,
        drift_thresholds=args.drift_thresholds,
        approval=args.approval,
        intended_use=args.intended_use,
        notify_url=args.notify_url,
        ignore_features=split_names(args.ignore_features or ""),
        performance_thresholds=args.performance_thresholds,
    )
    print(outcome.summary())
    return 0

"""The ``mlops`` command line: run, compile, serve and inspect the suite's pipelines.

Every command exits 0 when it did its job, and 1 with one sentence on stderr (no
traceback) when the input stopped it: the sentence names what was wrong and where.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_suite import __version__
from mlops_suite.errors import MlopsError

if TYPE_CHECKING:
    from mlops_suite.ops.local_run import LocalRun


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(
            f"not valid JSON ({error.msg}): {text}"
        ) from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object like {{...}}: {text}")
    return value


def _is_uri(text: str) -> bool:
    return "://" in text


def _absolute(text: str) -> str:
    """Local paths become absolute (steps run elsewhere); URIs pass through."""
    return text if not text or _is_uri(text) else str(Path(text).resolve())


def _registered(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    """The version ``--version`` names (default: the champion) and its metadata."""
    from mlops_suite.registry import ModelRegistry

    registry = ModelRegistry(_absolute(args.registry))
    version = args.version
    if version is None:
        champion = registry.champion(args.model_name)
        if champion is None:
            raise MlopsError(
                f"model {args.model_name!r} has no champion in {args.registry}; "
                "pass --version"
            )
        version = champion.version
    return version, registry.metadata(args.model_name, version)


def _new_champion(registry: Any, name: str, before: Any) -> int | None:
    """The champion's version when a run changed it, else None."""
    after = registry.champion(name)
    changed = after is not None and (before is None or after.version != before.version)
    return after.version if changed else None


# ---------------------------------------------------------------- mlops run training
def _cmd_run_training(args: argparse.Namespace) -> int:
    from mlops_suite.ops.local_run import run_locally
    from mlops_suite.pipelines.training import build_training_pipeline
    from mlops_suite.registry import ModelRegistry

    registry_uri = _absolute(args.registry)
    registry = ModelRegistry(registry_uri)
    before = registry.champion(args.model_name)
    arguments: dict[str, Any] = {
        "data_uri": _absolute(args.data),
        "label": args.label,
        "model_name": args.model_name,
        "registry_uri": registry_uri,
        "task": args.task or "",
        "schema_uri": _absolute(args.schema or ""),
        "estimator": args.estimator or "",
        "params_json": json.dumps(args.params or {}, sort_keys=True),
        "tune": args.tune,
        "seed": args.seed,
        "slice_column": args.slice_column or "",
    }
    if args.thresholds is not None:
        arguments["thresholds_json"] = json.dumps(args.thresholds, sort_keys=True)
    if args.max_regression is not None:
        arguments["max_regression"] = args.max_regression

    pipeline_root = Path(args.pipeline_root).resolve()
    print(f"mlops: running the training pipeline locally (outputs in {pipeline_root})")
    run = run_locally(build_training_pipeline(), arguments, pipeline_root=pipeline_root)
    new = _new_champion(registry, args.model_name, before)
    reason = str(run.outputs.get("reason", "")).strip()
    if not run.outputs.get("approved"):
        stays = f"champion stays v{before.version}" if before else "no champion yet"
        print(f"{reason} Nothing registered; {stays}.")
    elif new is not None:
        where = registry.version_uri(args.model_name, new)
        print(f"{reason} Registered {args.model_name} v{new} at {where}.")
    else:
        version = before.version if before else "?"
        print(
            f"{reason} No new version: the model is byte-identical to "
            f"champion v{version}."
        )
    _print_outputs(run)
    return 0


def _print_outputs(run: LocalRun) -> None:
    """Where a local run left its reports and log."""
    for report in run.reports():
        print(f"  report: {report}  ({report.parent.name})")
    if run.run_dir is not None:
        print(f"  outputs: {run.run_dir}")
    print(f"  log: {run.log_path}")


# ------------------------------------------------ mlops run continuous-training
def _cmd_run_continuous_training(args: argparse.Namespace) -> int:
    from mlops_suite.ops.local_run import run_locally
    from mlops_suite.pipelines.continuous_training import (
        build_continuous_training_pipeline,
    )
    from mlops_suite.registry import ModelRegistry

    registry_uri = _absolute(args.registry)
    registry = ModelRegistry(registry_uri)
    before = registry.champion(args.model_name)
    arguments: dict[str, Any] = {
        "current_uri": _absolute(args.current),
        "training_data_uri": _absolute(args.data),
        "label": args.label,
        "model_name": args.model_name,
        "registry_uri": registry_uri,
        "labels_uri": _absolute(args.labels or ""),
        "label_column": args.label_column,
        "force": args.force,
        "drift_thresholds_json": json.dumps(args.drift_thresholds)
        if args.drift_thresholds
        else "",
    }
    pipeline_root = Path(args.pipeline_root).resolve()
    print(f"mlops: running continuous training locally (outputs in {pipeline_root})")
    run = run_locally(
        build_continuous_training_pipeline(), arguments, pipeline_root=pipeline_root
    )
    new = _new_champion(registry, args.model_name, before)
    print(str(run.outputs.get("reason", "")).strip())
    if run.outputs.get("retrain"):
        if new is not None:
            print(f"Retrained: {args.model_name} v{new} is the new champion.")
        else:
            stays = f"v{before.version}" if before else "none"
            print(
                "Retrained, but the candidate was not approved; "
                f"champion stays {stays}."
            )
    _print_outputs(run)
    return 0


# ---------------------------------------------------------------- mlops monitor
# Exit status of `mlops monitor --fail-on-drift` when the data drifted (1 is bad input).
DRIFT_EXIT = 3


def _monitor_reference(
    args: argparse.Namespace, metadata: dict[str, Any] | None
) -> tuple[Any, list[str] | None]:
    """The reference profile (or table) and the model's features, if known."""
    if metadata is not None:
        return metadata["statistics"], [f["name"] for f in metadata["features"]]
    if not args.reference:
        raise MlopsError("give --reference PATH or --registry DIR --model-name NAME")
    reference = _absolute(args.reference)
    if reference.endswith(".json"):
        try:
            with open(reference, encoding="utf-8") as handle:
                loaded = json.load(handle)
        except (OSError, json.JSONDecodeError) as error:
            raise MlopsError(
                f"cannot read the reference {reference}: {error}"
            ) from None
        # A registry version's metadata.json carries the profile under "statistics".
        if isinstance(loaded, dict) and "statistics" in loaded:
            return loaded["statistics"], [f["name"] for f in loaded["features"]]
        return loaded, None
    return reference, None


def _report_decay(args: argparse.Namespace, metadata: dict[str, Any] | None) -> bool:
    """Live metrics from labelled predictions against those recorded at approval.

    Returns:
        Whether a metric dropped beyond ``--max-drop``.
    """
    from mlops_suite import atomic
    from mlops_suite.monitoring.decay import compute_decay

    if metadata is None:
        raise MlopsError("--labels needs --registry and --model-name for the metrics")
    decay = compute_decay(
        _absolute(args.current),
        _absolute(args.labels),
        task=metadata["task"],
        reference_metrics=metadata.get("lineage", {}).get("metrics") or {},
        classes=metadata.get("classes"),
        label_column=args.label_column,
        max_drop=args.max_drop,
    )
    atomic.write_json(Path(args.report_dir) / "decay.json", decay.to_dict())
    print(decay.summary())
    return bool(decay.decayed)


def _cmd_monitor(args: argparse.Namespace) -> int:
    from mlops_suite import atomic
    from mlops_suite.monitoring import detect_drift, render_drift_html

    if args.registry and not args.model_name:
        raise MlopsError("--registry needs --model-name to find the model")
    metadata = _registered(args)[1] if args.registry else None
    reference, features = _monitor_reference(args, metadata)
    report = detect_drift(
        reference,
        _absolute(args.current),
        thresholds=_absolute(args.thresholds) if args.thresholds else None,
        features=features,
    )
    out = Path(args.report_dir)
    atomic.write_json(out / "drift.json", report.to_dict())
    atomic.write_text(out / "drift.html", render_drift_html(report))
    for name, feature in report.features.items():
        mark = "DRIFT" if feature.drifted else "ok"
        print(
            f"  {mark:<6} {name:<28} {feature.metric} {feature.score:.4f} "
            f"(threshold {feature.threshold:.4f})"
        )
    decayed = _report_decay(args, metadata) if args.labels else False
    drifted = report.drifted_features
    if drifted:
        print(
            f"Drift in {len(drifted)} of {len(report.features)} features: "
            f"{', '.join(drifted)}."
        )
    else:
        print(f"No drift in {len(report.features)} features.")
    print(f"mlops: report in {out / 'drift.html'} and {out / 'drift.json'}")
    moved = report.drifted or decayed
    return DRIFT_EXIT if (args.fail_on_drift and moved) else 0


# ---------------------------------------------------------------- mlops sink
def _cmd_sink(args: argparse.Namespace) -> int:
    from mlops_suite.monitoring.sink.command import run_sink_from_args

    print(
        f"mlops: payload sink on http://{args.host}:{args.port}/ writing to "
        f"{args.output} (stop with Ctrl-C; buffered rows are flushed first)",
        flush=True,
    )
    run_sink_from_args(args)
    return 0


# ---------------------------------------------------------------- mlops compile
def _cmd_compile(args: argparse.Namespace) -> int:
    from mlops_suite.ops.compile import compile_all

    defaults: dict[str, Any] = {}
    for item in args.default:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise MlopsError(f"--default takes KEY=VALUE, not {item!r}")
        try:
            defaults[key] = json.loads(text)  # numbers, true/false, JSON objects
        except json.JSONDecodeError:
            defaults[key] = text
    for path in compile_all(Path(args.output_dir), image=args.image, defaults=defaults):
        print(f"compiled {path}")
    return 0


# ---------------------------------------------------------------- mlops registry
def _cmd_registry_show(args: argparse.Namespace) -> int:
    _, metadata = _registered(args)
    shown = {key: value for key, value in metadata.items() if key != "statistics"}
    print(json.dumps(shown, indent=2, sort_keys=True, default=str))
    return 0


# ---------------------------------------------------------------- mlops serve
def _cmd_serve(args: argparse.Namespace) -> int:
    from mlops_suite.registry import ModelRegistry
    from mlops_suite.serving.runtime import serve

    registry = ModelRegistry(_absolute(args.registry))
    model_dir = registry.local_folder(args.model_name, args.version)
    _check_port_free(args.host, args.port)
    base = f"http://{args.host}:{args.port}"
    print(
        f"mlops: serving {args.model_name} from {model_dir}\n"
        f"  V1: POST {base}/v1/models/{args.model_name}:predict\n"
        f"  V2: POST {base}/v2/models/{args.model_name}/infer\n"
        f"  health: {base}/v2/health/ready",
        flush=True,
    )
    serve(model_dir, model_name=args.model_name, host=args.host, http_port=args.port)
    return 0


def _check_port_free(host: str, port: int) -> None:
    """Say so in one sentence, before loading anything, when the port is taken."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise MlopsError(
                f"cannot listen on {host}:{port} ({error.strerror}); "
                "choose another --port or stop what is using it"
            ) from None


# ---------------------------------------------------------------- mlops manifest
def _cmd_manifest(args: argparse.Namespace) -> int:
    from mlops_suite.serving.manifests import write_overlay

    output = write_overlay(
        registry_uri=_absolute(args.registry),
        model_name=args.model_name,
        version=args.version,
        storage_uri=args.storage_uri,
        overlay=args.overlay,
        output_dir=args.output,
        namespace=args.namespace,
        logs_uri=args.logs_uri,
    )
    print(
        f"wrote {output}/kustomization.yaml; deploy it with: kubectl apply -k {output}"
    )
    return 0


# ---------------------------------------------------------------- mlops submit
def _cmd_submit(args: argparse.Namespace) -> int:
    from mlops_suite.ops.kfp_backend import submit_kfp
    from mlops_suite.ops.spec import parse_params, read_pipeline_spec
    from mlops_suite.ops.vertex_backend import submit_vertex

    params = parse_params(args.param, read_pipeline_spec(args.file))
    if args.target == "kfp":
        _require(args, "--target kfp", "host")
        result = submit_kfp(
            args.file,
            host=args.host,
            experiment=args.experiment,
            params=params,
            wait=args.wait,
            enable_caching=False if args.no_cache else None,
        )
    else:
        _require(args, "--target vertex", "project", "region", "pipeline_root")
        result = submit_vertex(
            args.file,
            project=args.project,
            region=args.region,
            pipeline_root=args.pipeline_root,
            service_account=args.service_account,
            api_endpoint=args.api_endpoint,
            experiment=args.experiment,
            params=params,
            enable_caching=not args.no_cache,
            wait=args.wait,
        )
    print(result.summary())
    return 1 if result.failed else 0


# ---------------------------------------------------------------- mlops schedule
def _cmd_schedule(args: argparse.Namespace) -> int:
    import tempfile

    from mlops_suite.ops.compile import compile_all
    from mlops_suite.ops.schedule import schedule_kfp, schedule_vertex
    from mlops_suite.ops.spec import parse_params, read_pipeline_spec

    with tempfile.TemporaryDirectory() as scratch:
        if args.file:
            spec_path = Path(args.file)
        else:
            # The continuous-training pipeline, in the variant the target runs.
            compiled = compile_all(Path(scratch), image=args.image)
            wanted = "continuous-training" + ("-kfp" if args.target == "kfp" else "")
            spec_path = next(path for path in compiled if path.stem == wanted)
        params = parse_params(args.param, read_pipeline_spec(spec_path))
        if args.target == "kfp":
            _require(args, "--target kfp", "host")
            result = schedule_kfp(
                spec_path,
                host=args.host,
                cron=args.cron,
                name=args.name,
                experiment=args.experiment,
                params=params,
                max_concurrency=args.max_concurrency,
            )
        else:
            _require(args, "--target vertex", "project", "region", "pipeline_root")
            result = schedule_vertex(
                spec_path,
                project=args.project,
                region=args.region,
                pipeline_root=args.pipeline_root,
                cron=args.cron,
                name=args.name,
                params=params,
                service_account=args.service_account,
                api_endpoint=args.api_endpoint,
                max_concurrent_run_count=args.max_concurrency,
            )
    print(result.summary())
    return 0


def _require(args: argparse.Namespace, what: str, *names: str) -> None:
    """One sentence listing the flags ``what`` needs and did not get."""
    missing = [
        f"--{name.replace('_', '-')}" for name in names if not getattr(args, name)
    ]
    if missing:
        raise MlopsError(f"{what} needs {', '.join(missing)}")


# ---------------------------------------------------------------- mlops vertex
def _cmd_vertex_upload(args: argparse.Namespace) -> int:
    from mlops_suite.ops.vertex_upload import deploy_to_endpoint, upload_model
    from mlops_suite.registry import ModelRegistry

    version, metadata = _registered(args)
    uploaded = upload_model(
        project=args.project,
        region=args.region,
        model_name=args.model_name,
        artifact_uri=ModelRegistry(args.registry).version_uri(args.model_name, version),
        version_metadata=metadata,
        api_endpoint=args.api_endpoint,
    )
    print(
        f"uploaded {args.model_name} v{version} as {uploaded.versioned_resource_name}"
    )
    if args.endpoint:
        deployed = deploy_to_endpoint(
            project=args.project,
            region=args.region,
            model_resource=uploaded.versioned_resource_name,
            endpoint=args.endpoint,
            traffic_percent=args.traffic_percent,
            machine_type=args.machine_type,
            api_endpoint=args.api_endpoint,
        )
        print(
            f"deployed to {deployed.endpoint}; traffic split {deployed.traffic_split}"
        )
    return 0


def _cmd_registry_list(args: argparse.Namespace) -> int:
    from mlops_suite.registry import ModelRegistry

    registry = ModelRegistry(_absolute(args.registry))
    champion = registry.champion(args.model_name)
    versions = registry.versions(args.model_name)
    if not versions:
        raise MlopsError(f"model {args.model_name!r} has no version in {args.registry}")
    for version in versions:
        lineage = registry.metadata(args.model_name, version).get("lineage") or {}
        mark = "*" if champion and champion.version == version else " "
        print(
            f"{mark} v{version:<4} {lineage.get('registered_at', '?'):<26} "
            f"{str(lineage.get('model_sha256', ''))[:12]}  "
            f"{lineage.get('approval_reason', '')}"
        )
    return 0


def _cmd_registry_promote(args: argparse.Namespace) -> int:
    from mlops_suite.registry import ModelRegistry

    champion = ModelRegistry(_absolute(args.registry)).set_champion(
        args.model_name, args.version
    )
    print(f"{args.model_name}: champion is now v{champion.version}")
    return 0


def _cmd_demo_data(_: argparse.Namespace) -> int:
    from mlops_suite.demo import penguins_csv

    print(penguins_csv())
    return 0


# ---------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """Builds the ``mlops`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="mlops",
        description="Kubeflow Pipelines MLOps suite for tabular scikit-learn models.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
        "--thresholds",
        type=_json_object,
        help="approval bounds as JSON, e.g. '{\"min_roc_auc\": 0.9}'",
    )
    training.add_argument(
        "--max-regression",
        type=float,
        help="tolerated relative drop against the champion (default 0.01)",
    )
    training.set_defaults(handler=_cmd_run_training)

    ct = runs.add_parser(
        "continuous-training",
        help="check the latest data for drift and decay; retrain when it moved",
        description="Run the continuous-training pipeline with kfp.local.",
    )
    ct.add_argument(
        "--current", required=True, help="latest window: Parquet file/folder or CSV"
    )
    ct.add_argument("--data", required=True, help="labelled data to retrain on")
    ct.add_argument("--label", required=True)
    ct.add_argument("--model-name", required=True)
    ct.add_argument("--registry", required=True)
    ct.add_argument("--labels", help="ground truth for logged predictions (decay)")
    ct.add_argument("--label-column", default="label", help="default: %(default)s")
    ct.add_argument("--drift-thresholds", type=_json_object, help="thresholds as JSON")
    ct.add_argument("--force", action="store_true", help="retrain whatever the data")
    ct.add_argument("--pipeline-root", default=".mlops/pipeline-root")
    ct.set_defaults(handler=_cmd_run_continuous_training)

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
    monitor.add_argument(
        "--version", type=int, help="with --registry; default champion"
    )
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
    monitor.set_defaults(handler=_cmd_monitor)

    sink = commands.add_parser(
        "sink",
        help="receive KServe payload-logger CloudEvents into Parquet batches",
        description=(
            "The sink the InferenceService's logger posts to: pairs each request with "
            "its response and appends one row per instance (features and prediction) "
            "to Parquet batch files, written atomically; an event is acknowledged "
            "only once it is on disk. `mlops monitor --current` reads the batches."
        ),
    )
    from mlops_suite.monitoring.sink.command import add_sink_arguments

    add_sink_arguments(sink)
    sink.set_defaults(handler=_cmd_sink)

    compile_ = commands.add_parser("compile", help="compile every pipeline to IR YAML")
    compile_.add_argument("--output-dir", required=True)
    compile_.add_argument(
        "--image", help="the component image every step runs in (default: the release)"
    )
    compile_.add_argument(
        "--default",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter default to compile in, e.g. registry_uri=gs://b/registry",
    )
    compile_.set_defaults(handler=_cmd_compile)

    registry = commands.add_parser("registry", help="inspect the model registry")
    registry_commands = registry.add_subparsers(dest="action", required=True)
    show = registry_commands.add_parser("show", help="a version's metadata and lineage")
    show.add_argument("--registry", required=True)
    show.add_argument("--model-name", required=True)
    show.add_argument("--version", type=int, help="default: the champion")
    show.set_defaults(handler=_cmd_registry_show)
    listing = registry_commands.add_parser("list", help="every version, * = champion")
    listing.add_argument("--registry", required=True)
    listing.add_argument("--model-name", required=True)
    listing.set_defaults(handler=_cmd_registry_list)
    promote = registry_commands.add_parser(
        "promote", help="make a version the champion (promote or roll back)"
    )
    promote.add_argument("--registry", required=True)
    promote.add_argument("--model-name", required=True)
    promote.add_argument("--version", type=int, required=True)
    promote.set_defaults(handler=_cmd_registry_promote)

    serve = commands.add_parser(
        "serve",
        help="serve a registered model locally in the KServe sklearn runtime",
        description=(
            "Serve the champion (or --version) with kserve's ModelServer and the "
            "stock sklearn runtime's loading and request decoding: V1, V2 and health "
            "endpoints."
        ),
    )
    serve.add_argument("--registry", required=True)
    serve.add_argument("--model-name", required=True)
    serve.add_argument("--version", type=int, help="default: the champion")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    serve.set_defaults(handler=_cmd_serve)

    manifest = commands.add_parser(
        "manifest",
        help="write a kustomization that deploys one registered version with KServe",
    )
    manifest.add_argument("--registry", required=True)
    manifest.add_argument("--model-name", required=True)
    manifest.add_argument("--version", type=int, help="default: the champion")
    manifest.add_argument(
        "--storage-uri",
        required=True,
        help="the registry as the cluster reads it, e.g. s3://mlpipeline/registry",
    )
    manifest.add_argument("--overlay", required=True, choices=["kind", "gke"])
    manifest.add_argument("--output", required=True, help="folder to write to")
    manifest.add_argument("--namespace", help="default: the overlay's")
    manifest.add_argument(
        "--logs-uri",
        help="where the payload sink writes (default: logs beside the registry)",
    )
    manifest.set_defaults(handler=_cmd_manifest)

    submit = commands.add_parser(
        "submit",
        help="submit a compiled pipeline to Kubeflow Pipelines or Vertex AI",
        description=(
            "Submit a compiled pipeline YAML (mlops compile) to Kubeflow Pipelines "
            "(kfp.Client) or Vertex AI Pipelines (aiplatform.PipelineJob, with "
            "Application Default Credentials)."
        ),
    )
    submit.add_argument("file", help="the compiled pipeline YAML")
    submit.add_argument("--target", required=True, choices=["kfp", "vertex"])
    submit.add_argument(
        "--host", help="KFP: the API or UI URL, e.g. http://localhost:8080"
    )
    submit.add_argument("--project", help="Vertex: the Google Cloud project")
    submit.add_argument("--region", help="Vertex: the region, e.g. us-central1")
    submit.add_argument("--pipeline-root", help="Vertex: gs:// folder for step outputs")
    submit.add_argument("--service-account", help="Vertex: the run's service account")
    submit.add_argument("--api-endpoint", help="Vertex: another API endpoint (REST)")
    submit.add_argument("--experiment", help="the experiment to file the run under")
    submit.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a pipeline parameter; repeat for more",
    )
    submit.add_argument("--wait", action="store_true", help="wait for the run to end")
    submit.add_argument("--no-cache", action="store_true", help="turn step caching off")
    submit.set_defaults(handler=_cmd_submit)

    schedule = commands.add_parser(
        "schedule",
        help="run continuous training on a cron schedule on KFP or Vertex AI",
        description=(
            "Create a Kubeflow Pipelines recurring run or a Vertex AI "
            "PipelineJobSchedule for the continuous-training pipeline (compiled for "
            "--image), or for --file."
        ),
    )
    schedule.add_argument("--target", required=True, choices=["kfp", "vertex"])
    schedule.add_argument("--cron", required=True, help='5 fields, e.g. "0 3 * * *"')
    schedule.add_argument("--name", required=True, help="the schedule's name")
    schedule.add_argument("--file", help="a compiled pipeline instead")
    schedule.add_argument("--image", help="component image when compiling")
    schedule.add_argument("--host", help="KFP: the API or UI URL")
    schedule.add_argument("--experiment", help="KFP: the experiment")
    schedule.add_argument("--project", help="Vertex: the Google Cloud project")
    schedule.add_argument("--region", help="Vertex: the region")
    schedule.add_argument("--pipeline-root", help="Vertex: gs:// folder for outputs")
    schedule.add_argument("--service-account", help="Vertex: the runs' service account")
    schedule.add_argument("--api-endpoint", help="Vertex: another API endpoint (REST)")
    schedule.add_argument("--max-concurrency", type=int, default=1)
    schedule.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    schedule.set_defaults(handler=_cmd_schedule)

    vertex = commands.add_parser(
        "vertex", help="Vertex AI Model Registry and Endpoints, instead of KServe"
    )
    vertex_commands = vertex.add_subparsers(dest="action", required=True)
    upload = vertex_commands.add_parser(
        "upload",
        help="upload a registered version to Vertex AI Model Registry (and deploy it)",
    )
    upload.add_argument("--registry", required=True, help="a gs:// registry")
    upload.add_argument("--model-name", required=True)
    upload.add_argument("--version", type=int, help="default: the champion")
    upload.add_argument("--project", required=True)
    upload.add_argument("--region", required=True)
    upload.add_argument("--api-endpoint")
    upload.add_argument("--endpoint", help="also deploy to this endpoint (name or id)")
    upload.add_argument("--traffic-percent", type=int, default=100)
    upload.add_argument("--machine-type", default="n1-standard-2")
    upload.set_defaults(handler=_cmd_vertex_upload)

    demo = commands.add_parser("demo-data", help="print the path of the penguins CSV")
    demo.set_defaults(handler=_cmd_demo_data)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``mlops`` command line.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 when the input stopped the command.
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except MlopsError as error:
        print(f"mlops: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mlops: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

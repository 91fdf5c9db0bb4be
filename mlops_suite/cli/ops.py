"""``mlops compile|submit|schedule|vertex``: pipelines and models on a platform.

Compile the pipelines, submit one to Kubeflow Pipelines or Vertex AI, run continuous
training on a schedule, and upload a registered version to Vertex AI.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mlops_suite.cli.arguments import add_notify_url, registered
from mlops_suite.cli.parser import Commands
from mlops_suite.errors import MlopsError


def add_compile(commands: Commands) -> None:
    """Declares ``mlops compile``.

    Args:
        commands: The top-level commands.
    """
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
    compile_.add_argument(
        "--components",
        action="store_true",
        help="write <output-dir>/<name>/component.yaml for every component instead",
    )
    compile_.set_defaults(handler=_compile)


def _compile(args: argparse.Namespace) -> int:
    from mlops_suite.ops.compile import compile_all, compile_components

    if args.components:
        if args.default:
            raise MlopsError(
                "--default sets pipeline parameters; not with --components"
            )
        for path in compile_components(Path(args.output_dir), image=args.image):
            print(f"compiled {path}")
        return 0
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


def add_submit(commands: Commands) -> None:
    """Declares ``mlops submit``.

    Args:
        commands: The top-level commands.
    """
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
    submit.add_argument(
        "--experiment",
        help=(
            "the experiment to file the run under; on Vertex, with --wait, the "
            "approved version's parameters and metrics are logged to it too"
        ),
    )
    submit.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a pipeline parameter; repeat for more",
    )
    add_notify_url(submit, _NOTIFY_WHEN)
    submit.add_argument("--wait", action="store_true", help="wait for the run to end")
    submit.add_argument("--no-cache", action="store_true", help="turn step caching off")
    submit.set_defaults(handler=_submit)


# The pipelines' exit step sends it; the same as --param notify_url=URL.
_NOTIFY_WHEN = "when each run ends (the notify_url parameter)"


def _param_items(args: argparse.Namespace) -> list[str]:
    """The ``KEY=VALUE`` parameters, ``--notify-url`` among them when given."""
    items = list(args.param)
    if args.notify_url:
        items.append(f"notify_url={args.notify_url}")
    return items


def _submit(args: argparse.Namespace) -> int:
    from mlops_suite.ops.kfp_backend import submit_kfp
    from mlops_suite.ops.spec import parse_params, read_pipeline_spec
    from mlops_suite.ops.vertex_backend import submit_vertex

    params = parse_params(_param_items(args), read_pipeline_spec(args.file))
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
    if args.target == "vertex" and args.experiment:
        _log_to_experiment(args, result.run_id)
    return 1 if result.failed else 0


def _log_to_experiment(args: argparse.Namespace, run_id: str) -> None:
    """Logs the approved version to the Vertex experiment once the run has ended."""
    from mlops_suite.ops.vertex_experiment import log_run_to_experiment

    if not args.wait:
        print(
            f"Nothing logged to Vertex AI Experiment {args.experiment!r} yet: the "
            "approved version's parameters and metrics are logged when the run is "
            "waited for (--wait)."
        )
        return
    logged = log_run_to_experiment(
        run_id,
        experiment=args.experiment,
        project=args.project,
        region=args.region,
        api_endpoint=args.api_endpoint,
    )
    print(logged.summary())


def add_schedule(commands: Commands) -> None:
    """Declares ``mlops schedule``.

    Args:
        commands: The top-level commands.
    """
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
    add_notify_url(schedule, _NOTIFY_WHEN)
    schedule.set_defaults(handler=_schedule)


def _schedule(args: argparse.Namespace) -> int:
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
        params = parse_params(_param_items(args), read_pipeline_spec(spec_path))
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


def add_vertex(commands: Commands) -> None:
    """Declares ``mlops vertex upload``.

    Args:
        commands: The top-level commands.
    """
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
    upload.set_defaults(handler=_vertex_upload)


def _vertex_upload(args: argparse.Namespace) -> int:
    from mlops_suite.ops.vertex_upload import deploy_to_endpoint, upload_model
    from mlops_suite.registry import ModelRegistry

    version, metadata = registered(args)
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

"""``mlops serve``, ``mlops manifest`` and ``mlops sink``: a model answering requests.

Serve it on this machine, render the kustomization that deploys it with KServe, and
receive what its payload logger posts.
"""

from __future__ import annotations

import argparse

from mlops_suite.cli.arguments import (
    absolute,
    add_manifest_options,
    add_version_flags,
    chosen_version,
)
from mlops_suite.cli.parser import CommandParser, Commands
from mlops_suite.errors import MlopsError


def add_sink(commands: Commands) -> None:
    """Declares ``mlops sink``; its flags are the sink's own, declared when chosen.

    Args:
        commands: The top-level commands.
    """
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
    assert isinstance(sink, CommandParser)  # the top-level parser's class
    sink.defer_arguments(_add_sink_arguments)
    sink.set_defaults(handler=_sink)


def _add_sink_arguments(parser: argparse.ArgumentParser) -> None:
    # The sink module imports pandas and pyarrow: only `mlops sink` pays for that.
    from mlops_suite.monitoring.sink.command import add_sink_arguments

    add_sink_arguments(parser)


def _sink(args: argparse.Namespace) -> int:
    from mlops_suite.monitoring.sink.command import run_sink_from_args

    print(
        f"mlops: payload sink on http://{args.host}:{args.port}/ writing to "
        f"{args.output} (stop with Ctrl-C; buffered rows are flushed first)",
        flush=True,
    )
    run_sink_from_args(args)
    return 0


def add_serve(commands: Commands) -> None:
    """Declares ``mlops serve``.

    Args:
        commands: The top-level commands.
    """
    serve = commands.add_parser(
        "serve",
        help="serve a registered model locally in the KServe sklearn runtime",
        description=(
            "Serve the champion (or --version, or --alias) with kserve's ModelServer "
            "and the stock sklearn runtime's loading and request decoding: V1, V2 and "
            "health endpoints."
        ),
    )
    serve.add_argument("--registry", required=True)
    serve.add_argument("--model-name", required=True)
    add_version_flags(serve, "the champion")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    serve.add_argument(
        "--predict-proba",
        action="store_true",
        help="answer with class probabilities (predict_proba), as KServe does with "
        "PREDICT_PROBA=true; classifiers only",
    )
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from mlops_suite.registry import ModelRegistry
    from mlops_suite.serving.runtime import serve

    registry = ModelRegistry(absolute(args.registry))
    version = chosen_version(registry, args)
    with registry.local_copy(args.model_name, version) as model_dir:
        if args.predict_proba:
            _check_classifier(model_dir, args.model_name)
        _check_port_free(args.host, args.port)
        base = f"http://{args.host}:{args.port}"
        answers = " (answers: class probabilities)" if args.predict_proba else ""
        print(
            f"mlops: serving {args.model_name} from {model_dir}{answers}\n"
            f"  V1: POST {base}/v1/models/{args.model_name}:predict\n"
            f"  V2: POST {base}/v2/models/{args.model_name}/infer\n"
            f"  health: {base}/v2/health/ready",
            flush=True,
        )
        serve(
            model_dir,
            model_name=args.model_name,
            host=args.host,
            http_port=args.port,
            predict_proba=True if args.predict_proba else None,
        )
    return 0


def _check_classifier(model_dir: str, model_name: str) -> None:
    """Refuse ``--predict-proba`` for a model that is not a classifier."""
    import json
    from pathlib import Path

    from mlops_suite.artifacts import METADATA_FILE
    from mlops_suite.serving.probabilities import check_serves_probabilities

    metadata = json.loads((Path(model_dir) / METADATA_FILE).read_text("utf-8"))
    version = metadata.get("version")
    model = f"{model_name} v{version}" if version else model_name
    check_serves_probabilities(metadata, model, "--predict-proba")


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


def add_manifest(commands: Commands) -> None:
    """Declares ``mlops manifest``.

    Args:
        commands: The top-level commands.
    """
    manifest = commands.add_parser(
        "manifest",
        help="write a kustomization that deploys one registered version with KServe",
    )
    manifest.add_argument("--registry", required=True)
    manifest.add_argument("--model-name", required=True)
    add_version_flags(manifest, "the champion")
    add_manifest_options(manifest)
    manifest.add_argument(
        "--format",
        choices=["sklearn", "onnx"],
        default="sklearn",
        help=(
            "sklearn: model.joblib in KServe's sklearn runtime; onnx: the version's "
            "ONNX export (mlops export onnx) in KServe's Triton runtime, V2 protocol "
            "(default: %(default)s)"
        ),
    )
    manifest.set_defaults(handler=_manifest)


def _manifest(args: argparse.Namespace) -> int:
    from mlops_suite.registry import ModelRegistry
    from mlops_suite.serving.manifests import write_overlay

    registry = ModelRegistry(absolute(args.registry))
    output = write_overlay(
        registry_uri=registry.uri,
        model_name=args.model_name,
        version=chosen_version(registry, args),
        storage_uri=args.storage_uri,
        overlay=args.overlay,
        output_dir=args.output,
        namespace=args.namespace,
        logs_uri=args.logs_uri,
        predict_proba=args.predict_proba,
        model_format=args.format,
        log_storage=args.log_storage,
    )
    print(
        f"wrote {output}/kustomization.yaml; deploy it with: kubectl apply -k {output}"
    )
    if args.format == "onnx":
        print(
            f"  predict: POST /v2/models/{args.model_name}/infer, one input per "
            "feature (V2 protocol)"
        )
    return 0

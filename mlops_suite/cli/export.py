"""``mlops export onnx``: a registered version as ONNX, checked against its Pipeline."""

from __future__ import annotations

import argparse
from typing import Any

from mlops_suite.cli.arguments import absolute
from mlops_suite.cli.parser import Commands


def add_export(commands: Commands) -> None:
    """Declares ``mlops export`` and its formats.

    Args:
        commands: The top-level commands.
    """
    export = commands.add_parser(
        "export", help="export a registered version to another model format"
    )
    formats = export.add_subparsers(dest="format", required=True, metavar="FORMAT")
    onnx = formats.add_parser(
        "onnx",
        help="convert a version's Pipeline to ONNX, checked against it on test rows",
        description=(
            "Convert the version's scikit-learn Pipeline with skl2onnx, run both on "
            "the test rows with onnxruntime (identical labels, probabilities within "
            "1e-4, regression within 1e-4 relative), and only then write "
            "v<N>/onnx/ (a Triton model repository) and record the file's sha256, "
            "opset and parity in v<N>/metadata.json. A Pipeline that cannot be "
            "converted is refused, naming the step; the version stays as it was."
        ),
    )
    onnx.add_argument("--registry", required=True)
    onnx.add_argument("--model-name", required=True)
    onnx.add_argument("--version", type=int, help="default: the champion")
    onnx.add_argument(
        "--data",
        required=True,
        help="the test split to check parity on (CSV or Parquet, path or URI)",
    )
    onnx.set_defaults(handler=_onnx)


def _onnx(args: argparse.Namespace) -> int:
    from mlops_suite.data.ingest import read_table
    from mlops_suite.onnx_export import export_onnx
    from mlops_suite.registry import ModelRegistry

    registry_uri = absolute(args.registry)
    result = export_onnx(
        registry_uri,
        args.model_name,
        read_table(absolute(args.data)),
        version=args.version,
    )
    record = result.record
    where = (
        f"{ModelRegistry(registry_uri).version_uri(args.model_name, result.version)}"
    )
    if not result.created:
        print(
            f"{args.model_name} v{result.version} already has its ONNX export: "
            f"{where}/{record['path']} (sha256 {str(record['sha256'])[:12]}…)"
        )
        return 0
    print(
        f"exported {args.model_name} v{result.version} to {where}/{record['path']}\n"
        f"  sha256 {record['sha256']}, opset {_opset(record['opset'])}\n"
        f"  parity on {_parity(record['parity'])}\n"
        f"  serve it: mlops manifest --format onnx --registry {args.registry} "
        f"--model-name {args.model_name} --version {result.version} ..."
    )
    return 0


def _opset(opset: dict[str, Any]) -> str:
    return ", ".join(
        f"{domain or 'ai.onnx'} {number}" for domain, number in opset.items()
    )


def _parity(parity: dict[str, Any]) -> str:
    rows = f"{parity['rows']} test rows"
    if "max_relative_error" in parity:
        return f"{rows}: predictions within {parity['max_relative_error']:.2g} relative"
    return (
        f"{rows}: labels identical, probabilities within "
        f"{parity['max_probability_difference']:.2g}"
    )

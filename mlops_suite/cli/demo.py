"""``mlops demo-data``: where the demo's penguins CSV is."""

from __future__ import annotations

import argparse

from mlops_suite.cli.parser import Commands


def add_demo_data(commands: Commands) -> None:
    """Declares ``mlops demo-data``.

    Args:
        commands: The top-level commands.
    """
    demo = commands.add_parser("demo-data", help="print the path of the penguins CSV")
    demo.set_defaults(handler=_demo_data)


def _demo_data(_: argparse.Namespace) -> int:
    from mlops_suite.demo import penguins_csv

    print(penguins_csv())
    return 0

"""The demo data: the Palmer penguins table inside the palmerpenguins package."""

from __future__ import annotations

from importlib import resources

from mlops_suite.errors import DataError


def penguins_csv() -> str:
    """The path of ``penguins.csv`` inside the installed ``palmerpenguins`` package.

    Returns:
        An absolute file path.

    Raises:
        DataError: The package is not installed.
    """
    try:
        path = resources.files("palmerpenguins") / "data" / "penguins.csv"
    except ModuleNotFoundError:
        raise DataError(
            "the demo data needs the palmerpenguins package: pip install palmerpenguins"
        ) from None
    return str(path)

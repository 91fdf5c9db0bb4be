"""The rule a model name follows, from registration to deployment."""

from __future__ import annotations

import re

from mlops_suite.errors import RegistryError

# A model name becomes a Kubernetes object name (InferenceService): an RFC 1035 label.
MAX_NAME_LENGTH = 63
_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


def is_model_name(name: object) -> bool:
    """Whether ``name`` follows the rule :func:`validate_model_name` enforces.

    Args:
        name: Anything, typically a folder name found in a registry.

    Returns:
        True for a valid model name.
    """
    return (
        isinstance(name, str)
        and len(name) <= MAX_NAME_LENGTH
        and _NAME.fullmatch(name) is not None
    )


def validate_model_name(name: str) -> str:
    """Check that ``name`` can name a registered model and its Kubernetes objects.

    Args:
        name: The model name.

    Returns:
        The name, unchanged.

    Raises:
        RegistryError: The name is not 1-63 lowercase letters, digits and '-',
            starting with a letter and ending with a letter or digit.
    """
    if not is_model_name(name):
        raise RegistryError(
            f"Model name {name!r} is not valid: use 1-{MAX_NAME_LENGTH} lowercase "
            "letters, digits and '-', starting with a letter and ending with a letter "
            "or digit, since it also names Kubernetes objects."
        )
    return name

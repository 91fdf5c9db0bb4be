"""The one rule a model name follows, from registration to deployment.

A model name is a registry folder, the InferenceService's name and a label value, so
it is checked once, with the strictest of those limits, before anything is written:
a name the registry accepts can always be deployed.
"""

from __future__ import annotations

import re

from mlops_suite.errors import ModelNameError

# An RFC 1035 label (Kubernetes object names) is at most 63 characters, but KServe
# names the InferenceService's Service and Deployment by appending suffixes such as
# "-predictor" (10 characters) to it, and those must stay within 63 as well.
MAX_NAME_LENGTH = 53
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
    """Check that ``name`` can name a registered model and the InferenceService.

    Call it at the start of a run: registration and deployment apply the same rule.

    Args:
        name: The model name.

    Returns:
        The name, unchanged.

    Raises:
        ModelNameError: The name is not lowercase letters, digits and '-', starting
            with a letter and ending with a letter or digit, or is longer than
            :data:`MAX_NAME_LENGTH` characters.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ModelNameError(
            f"Model name {name!r} cannot name a model and its InferenceService: use "
            f"1-{MAX_NAME_LENGTH} lowercase letters, digits and '-', starting with a "
            "letter and ending with a letter or digit."
        )
    if len(name) > MAX_NAME_LENGTH:
        raise ModelNameError(
            f"Model name {name!r} is {len(name)} characters long, over the limit of "
            f"{MAX_NAME_LENGTH}, because KServe appends suffixes such as '-predictor' "
            "to the InferenceService it names."
        )
    return name

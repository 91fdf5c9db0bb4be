"""Google Cloud labels: the suite-version label, and the checks Vertex AI applies."""

from __future__ import annotations

import re
from collections.abc import Mapping

from mlops_suite import __version__
from mlops_suite.ops.submission import SubmitError

# Label identifying which version of the suite created a cloud resource.
SUITE_LABEL_KEY = "kfp-mlops-suite"

# Google Cloud label rules (Vertex AI refuses anything else): at most 64 labels, keys
# start with a lowercase letter, keys and values use lowercase letters, digits, "_"
# and "-" and are at most 63 characters long.
MAX_LABELS = 64
LABEL_KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE_PATTERN = re.compile(r"^[a-z0-9_-]{0,63}$")
# Vertex AI Pipelines overwrites these label keys with its own values.
RESERVED_LABEL_KEYS = ("vertex-ai-pipelines-run-billing-id",)


def sanitize_label_value(value: object) -> str:
    """Make any value a valid Google Cloud label value (``0.1.0`` -> ``0-1-0``).

    Lowercases, replaces every character other than ``[a-z0-9_-]`` by ``-`` and keeps
    the first 63 characters.
    """
    return re.sub(r"[^a-z0-9_-]", "-", str(value).lower())[:63]


def sanitize_label_key(key: object) -> str:
    """Make any text a valid Google Cloud label key (starts with a lowercase letter)."""
    cleaned = sanitize_label_value(key)
    if not cleaned or not cleaned[0].isalpha() or not cleaned[0].isascii():
        cleaned = f"k-{cleaned}"
    return cleaned[:63]


def suite_labels() -> dict[str, str]:
    """The label that marks resources created by this suite with its version."""
    return {SUITE_LABEL_KEY: sanitize_label_value(__version__)}


def validate_labels(labels: Mapping[str, str], *, resource: str) -> dict[str, str]:
    """Check labels against Google Cloud's label rules.

    Args:
        labels: Label keys and values as given by the user.
        resource: What the labels are for, for the error message ("pipeline job").

    Returns:
        The labels as a plain dict.

    Raises:
        SubmitError: A key or value breaks the rules, a key is reserved by Vertex AI
            Pipelines, or there are more than 64 labels.
    """
    for key, value in labels.items():
        if not isinstance(key, str) or not LABEL_KEY_PATTERN.match(key):
            raise SubmitError(
                f"Label key {key!r} on the {resource} is invalid: keys start with a "
                "lowercase letter and hold at most 63 lowercase letters, digits, "
                "'_' or '-'."
            )
        if key in RESERVED_LABEL_KEYS:
            raise SubmitError(
                f"Label key {key} is reserved by Vertex AI Pipelines; choose another."
            )
        if not isinstance(value, str) or not LABEL_VALUE_PATTERN.match(value):
            raise SubmitError(
                f"Label {key}={value!r} on the {resource} is invalid: values hold at "
                "most 63 lowercase letters, digits, '_' or '-' (try "
                f"{sanitize_label_value(value)!r})."
            )
    if len(labels) > MAX_LABELS:
        raise SubmitError(
            f"The {resource} has {len(labels)} labels; Google Cloud allows at most "
            f"{MAX_LABELS}."
        )
    return dict(labels)


def merge_labels(
    labels: Mapping[str, str] | None, *, resource: str = "pipeline job"
) -> dict[str, str]:
    """The user's labels plus the suite-version label, checked against label rules.

    The suite label always carries this package's version, so a resource can be
    traced back to the code that created it.
    """
    merged = {**(labels or {}), **suite_labels()}
    return validate_labels(merged, resource=resource)

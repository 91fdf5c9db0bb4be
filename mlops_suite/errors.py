"""Errors meant for people.

Every failure caused by the user's input (a file, a column, a schema, a registry, an
endpoint) is raised as a :class:`MlopsError` whose message is one sentence that names
what was wrong, where, and what was expected. The CLI prints that sentence and exits
non-zero without a traceback; anything else is a bug and keeps its traceback.
"""

# A process that stops on an MlopsError (a pipeline step, a child model server) prints
# its one sentence after this marker, so whoever reads its log (``mlops run``, infra
# validation) can tell it apart from library log lines.
ERROR_MARKER = "MLOPS-ERROR: "


class MlopsError(Exception):
    """A failure caused by the input, explained in one sentence."""


class DataError(MlopsError):
    """A dataset could not be read or does not hold what a stage needs."""


class SchemaError(MlopsError):
    """A schema file is malformed or does not match the data it describes."""


class ValidationError(MlopsError):
    """The data has a blocking anomaly against its schema."""


class TrainingError(MlopsError):
    """A model cannot be trained on the given data and settings."""


class ApprovalError(MlopsError):
    """Approval settings or inputs are malformed (not: the model was rejected)."""


class ModelNameError(MlopsError):
    """A model name cannot name a registered model and the InferenceService."""


class ModelFolderError(MlopsError):
    """A model folder is not exactly one loadable model file plus its metadata."""


class RegistryError(MlopsError):
    """The registry is unreachable, inconsistent, or asked for a missing version."""


class ModelIntegrityError(RegistryError):
    """A model file does not match the sha256 recorded for it (metadata, registry)."""


class ExportError(MlopsError):
    """A model could not be exported (to ONNX); its registry version stays as it was."""


class ServingError(MlopsError):
    """A model could not be served, or the served model answered wrongly."""


class DeploymentError(MlopsError):
    """A model could not be deployed; the version that was serving keeps serving."""


def last_clause(exc: BaseException) -> str:
    """An exception's message as a clause: one line, without the object reprs.

    urllib3 (under ``requests`` and the Kubernetes client) puts the connection
    object's repr in front of the reason; only the reason is kept.
    """
    text = str(exc).strip() or type(exc).__name__
    if "Failed to establish a new connection: " in text:
        text = text.split("Failed to establish a new connection: ", 1)[1]
    return snippet(text.rstrip("."), limit=300)


def snippet(text: str, limit: int = 200) -> str:
    """``text`` on one line, cut to ``limit`` characters (``...`` marks a cut)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."

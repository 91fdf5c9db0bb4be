"""Errors meant for people.

Every failure caused by the user's input (a file, a column, a schema, a registry, an
endpoint) is raised as a :class:`MlopsError` whose message is one sentence that names
what was wrong, where, and what was expected. The CLI prints that sentence and exits
non-zero without a traceback; anything else is a bug and keeps its traceback.
"""


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


class ServingError(MlopsError):
    """A model could not be served, or the served model answered wrongly."""


class DeploymentError(MlopsError):
    """A model could not be deployed; the version that was serving keeps serving."""

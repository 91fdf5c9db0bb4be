"""Names shared by components, executors and tests.

Artifact outputs keep the same names at every stage (house style: ``dataset``,
``schema``, ``statistics``, ``model``, ``metrics``, ``report``) and each artifact folder
holds files with the fixed names below, so any stage, the registry and the serving
runtime can find them without being told.
"""

# Files inside a Dataset artifact folder.
DATASET_FILE = "data.parquet"

# Files inside a schema / statistics artifact.
SCHEMA_FILE = "schema.json"
STATISTICS_FILE = "statistics.json"
ANOMALIES_FILE = "anomalies.json"

# The model folder is the serving contract: exactly one model file plus metadata.
MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
# Extensions KServe's sklearn runtime accepts as a model file (exactly one per folder).
MODEL_FILE_EXTENSIONS = (".joblib", ".pkl", ".pickle")

# Evaluation and approval.
EVALUATION_FILE = "evaluation.json"
# The calibrator performance estimation uses: in the evaluation artifact, then in
# the registry's version folder beside the model (never a .joblib/.pkl/.pickle).
CALIBRATION_FILE = "calibration.json"
BLESSING_FILE = "blessing.json"
TRIAL_FILE = "trial.json"

# Registry layout: <registry>/<model-name>/v<N>/{model.joblib, metadata.json,
# model_card.md}; the card's name must never end like a model file.
CHAMPION_FILE = "champion.json"
MODEL_CARD_FILE = "model_card.md"
VERSION_PREFIX = "v"
# A version's ONNX export: a Triton model repository in a subfolder (so KServe's sklearn
# runtime still finds one model file in v<N>/), recorded under this metadata key.
ONNX_FOLDER = "onnx"
ONNX_FILE = "model.onnx"
ONNX_METADATA_KEY = "onnx"
TRITON_CONFIG_FILE = "config.pbtxt"

# Column types used by schemas, metadata and training.
NUMERIC = "numeric"
CATEGORICAL = "categorical"
BOOLEAN = "boolean"
FEATURE_TYPES = (NUMERIC, CATEGORICAL, BOOLEAN)

CLASSIFICATION = "classification"
REGRESSION = "regression"
TASKS = (CLASSIFICATION, REGRESSION)

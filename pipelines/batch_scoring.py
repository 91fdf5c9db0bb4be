"""The batch-scoring pipeline: a registered model scores a table into Parquet.

```
batch_predict (champion or a version; sha256 checked; bounded memory)
  └─ <output_uri>/batch-*.parquet in the payload sink's schema ─ mlops monitor --current
```
"""

from functools import lru_cache, partial
from typing import Any

from kfp import dsl

from mlops_suite.components.factory import DEFAULT_IMAGE, build_components
from mlops_suite.pipelines.platform import PORTABLE, on_target

PIPELINE_NAME = "mlops-batch-scoring"


@lru_cache(maxsize=8)
def build_batch_scoring_pipeline(
    image: str = DEFAULT_IMAGE, target: str = PORTABLE
) -> Any:
    """Builds the batch-scoring pipeline with its step running in ``image``.

    Args:
        image: The component image (a compile-time setting).
        target: ``portable`` or ``kfp`` (see :mod:`mlops_suite.pipelines.platform`).

    Returns:
        The KFP pipeline.
    """
    c = build_components(image)
    place = partial(on_target, target)

    @dsl.pipeline(
        name=PIPELINE_NAME,
        description=(
            "Score a table with a registered scikit-learn model into Parquet files "
            "that monitoring reads like served traffic."
        ),
    )
    def batch_scoring(
        registry_uri: str,
        model_name: str,
        data_uri: str,
        output_uri: str,
        version: int = 0,
        keep_columns: str = "",
        batch_rows: int = 50000,
    ) -> int:
        """Scores a CSV or Parquet table with a registered model.

        Args:
            registry_uri: The model registry (path, gs:// or s3://).
            model_name: The registered model's name.
            data_uri: The table: a CSV or Parquet file, or a folder of Parquet files.
            output_uri: The folder to write the scored Parquet files to.
            version: The version to score with; 0 for the champion.
            keep_columns: Comma-separated non-feature columns to keep; empty for all.
            batch_rows: Rows scored (and written) per file.
        """
        scored = place(
            c.batch_predict(
                registry_uri=registry_uri,
                model_name=model_name,
                version=version,
                data_uri=data_uri,
                output_uri=output_uri,
                keep_columns=keep_columns,
                batch_rows=batch_rows,
            )
        )
        # The registry's champion may have changed since a cached run.
        scored.set_caching_options(False)
        return scored.outputs["Output"]

    return batch_scoring

"""Reading tables: folders, CSV kinds, and errors that name the file."""

from __future__ import annotations

import pandas as pd
import pytest

from mlops_suite.errors import DataError
from mlops_suite.monitoring import detect_drift
from mlops_suite.monitoring.sources import open_parts


def test_a_csv_column_is_classified_like_the_statistics(tmp_path):
    path = tmp_path / "table.csv"
    numbers = [str(i) for i in range(40)]
    path.write_text(
        "amount,flag,code\n"
        + "\n".join(
            f"{'n/a!' if i == 3 else number},{'TRUE' if i % 2 else 'false'},c{i % 3}"
            for i, number in enumerate(numbers)
        )
        + "\n,,\n"
    )

    (part,) = open_parts(path, role="reference")

    # One typo in 40 values keeps a column numeric (>= 95 % numbers).
    assert part.kinds(["amount", "flag", "code"]) == {
        "amount": "numeric",
        "flag": "boolean",
        "code": "categorical",
    }
    assert part.num_rows() == 41
    assert part.ranges(["amount"]) == {"amount": (0.0, 39.0)}
    (batch,) = part.batches(["amount", "flag"], batch_rows=100)
    assert batch["amount"].null_count == 2
    assert batch["flag"].to_pylist()[:2] == [False, True]


def test_a_folder_without_parquet_files_is_a_clear_error(tmp_path):
    (tmp_path / "_SUCCESS").write_text("")

    with pytest.raises(DataError, match="holds no Parquet file"):
        open_parts(tmp_path, role="current")


def test_a_file_that_is_not_parquet_names_the_file(tmp_path, table):
    bad = tmp_path / "batch.parquet"
    bad.write_text("this is not parquet")

    with pytest.raises(DataError, match="batch.parquet"):
        detect_drift(table(100, seed=1), bad)


def test_batch_files_that_disagree_on_a_type_name_both_files(tmp_path, table):
    reference = table(2_000, seed=1)
    folder = tmp_path / "batches"
    folder.mkdir()
    table(100, seed=2).to_parquet(folder / "a.parquet", index=False)
    (
        table(100, seed=3)
        .assign(visits=lambda f: f["visits"].astype(str))
        .to_parquet(folder / "b.parquet", index=False)
    )

    with pytest.raises(DataError, match="'visits'") as error:
        detect_drift(reference, folder)

    assert "b.parquet" in str(error.value)


def test_an_all_empty_batch_column_fits_any_reference(tmp_path, table):
    reference = table(2_000, seed=1)
    current = table(500, seed=2)
    current["color"] = None  # stored as Arrow type null: no kind to disagree with
    path = tmp_path / "batch.parquet"
    current.to_parquet(path, index=False)

    color = detect_drift(reference, path).features["color"]

    assert color.missing_rate_current == 1.0
    assert color.reasons == ("missing_rate",)


def test_a_dataframe_mixing_numbers_and_text_is_a_clear_error(table):
    current = table(100, seed=2)
    current["income"] = current["income"].astype(object)
    current.loc[0, "income"] = "lots"

    with pytest.raises(DataError, match="'income'.*mixes value types"):
        detect_drift(table(1_000, seed=1), current)


def test_pandas_categories_read_as_categorical(table):
    reference = table(3_000, seed=1)
    current = table(3_000, seed=2).astype({"color": "category", "city": "category"})

    assert isinstance(current["color"].dtype, pd.CategoricalDtype)

    report = detect_drift(reference, current)

    assert not report.drifted
    assert report.features["color"].type == "categorical"
    assert report.features["city"].type == "categorical"
    assert report.features["color"].unseen_share == 0.0

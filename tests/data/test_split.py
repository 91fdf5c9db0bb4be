"""Reproducible, stratified train/test/validation splits."""

from __future__ import annotations

import pandas as pd
import pytest

from mlops_suite.data.split import split_dataset
from mlops_suite.errors import DataError


def test_split_sizes_columns_and_index(penguins: pd.DataFrame) -> None:
    splits = split_dataset(penguins, "species", "classification")

    assert list(splits) == ["train", "test"]
    assert (len(splits["train"]), len(splits["test"])) == (275, 69)
    for part in splits.values():
        assert list(part.columns) == list(penguins.columns)
        assert isinstance(part.index, pd.RangeIndex) and part.index[0] == 0
    together = pd.concat(splits.values()).sort_values(list(penguins.columns))
    expected = penguins.sort_values(list(penguins.columns))
    pd.testing.assert_frame_equal(
        together.reset_index(drop=True), expected.reset_index(drop=True)
    )


def test_same_seed_same_split_other_seed_other_split(penguins: pd.DataFrame) -> None:
    first = split_dataset(penguins, "species", "classification", seed=3)
    again = split_dataset(penguins, "species", "classification", seed=3)
    other = split_dataset(penguins, "species", "classification", seed=4)

    pd.testing.assert_frame_equal(first["test"], again["test"])
    pd.testing.assert_frame_equal(first["train"], again["train"])
    assert not first["test"].equals(other["test"])


def test_classification_splits_keep_class_shares(penguins: pd.DataFrame) -> None:
    splits = split_dataset(
        penguins,
        "species",
        "classification",
        test_fraction=0.2,
        validation_fraction=0.2,
    )
    overall = penguins["species"].value_counts()

    assert [len(splits[name]) for name in ("train", "test", "validation")] == [
        206,
        69,
        69,
    ]
    for name, part in splits.items():
        counts = part["species"].value_counts()
        for species, total in overall.items():
            expected = total * len(part) / len(penguins)
            assert abs(counts[species] - expected) <= 1.0, (name, species)


def test_float_zero_one_label_is_stratified(mixed_frame: pd.DataFrame) -> None:
    splits = split_dataset(mixed_frame, "churned", "classification", test_fraction=0.25)

    assert splits["test"]["churned"].mean() == pytest.approx(
        mixed_frame["churned"].mean(), abs=0.02
    )
    assert splits["train"]["member"].dtype == bool


def test_regression_split_is_not_stratified(penguins: pd.DataFrame) -> None:
    data = penguins.dropna(subset=["body_mass_g"])

    splits = split_dataset(data, "body_mass_g", "regression", test_fraction=0.1)

    assert (len(splits["train"]), len(splits["test"])) == (308, 34)


def test_rare_class_is_named() -> None:
    frame = pd.DataFrame({"x": range(10), "y": ["a"] * 5 + ["b"] * 4 + ["c"]})

    with pytest.raises(DataError, match="class 'c' of label 'y' has only 1 row"):
        split_dataset(frame, "y", "classification")


def test_split_too_small_for_every_class_is_named() -> None:
    frame = pd.DataFrame({"x": range(12), "y": ["a", "b", "c"] * 4})

    with pytest.raises(DataError, match=r"test split would have 2 row\(s\) for the 3"):
        split_dataset(frame, "y", "classification", test_fraction=0.15)


def test_empty_train_split_is_refused() -> None:
    frame = pd.DataFrame({"x": range(4), "y": [0.1, 0.2, 0.3, 0.4]})

    with pytest.raises(DataError, match="leaves the train split empty"):
        split_dataset(
            frame, "y", "regression", test_fraction=0.5, validation_fraction=0.5
        )


def test_bad_label_and_fractions_are_refused(penguins: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="label column 'kind' is absent"):
        split_dataset(penguins, "kind", "classification")
    with pytest.raises(DataError, match="label 'sex' is missing in 11 of 344 rows"):
        split_dataset(penguins, "sex", "classification")
    with pytest.raises(DataError, match="test_fraction is 1.0"):
        split_dataset(penguins, "species", "classification", test_fraction=1.0)
    with pytest.raises(DataError, match="task 'ranking' is unknown"):
        split_dataset(penguins, "species", "ranking")

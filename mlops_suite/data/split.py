"""Split a table into train, test and (optionally) validation sets, reproducibly."""

from __future__ import annotations

import pandas as pd
from sklearn.model_selection import train_test_split

from mlops_suite.artifacts import CLASSIFICATION, TASKS
from mlops_suite.data.kinds import infer_task
from mlops_suite.errors import DataError

TRAIN = "train"
TEST = "test"
VALIDATION = "validation"


def split_dataset(
    df: pd.DataFrame,
    label: str,
    task: str,
    *,
    test_fraction: float = 0.2,
    validation_fraction: float = 0.0,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """Split a table at random, stratified on the label for classification.

    Split sizes are whole rows: ``round(rows * fraction)``, at least one row per
    requested split; train gets the rest. The same table, fractions and seed always
    give the same splits.

    Args:
        df: The table, label included.
        label: The label column.
        task: ``"classification"`` (stratified) or ``"regression"``.
        test_fraction: Share of rows for the test split, in (0, 1).
        validation_fraction: Share of rows for the validation split, in [0, 1); no
            validation split when 0.
        seed: Seed of the shuffle.

    Returns:
        ``{"train": ..., "test": ...}`` plus ``"validation"`` when
        ``validation_fraction > 0``; each keeps the column order of ``df`` and has a
        fresh ``RangeIndex``.

    Raises:
        DataError: The label is absent or has missing values, the fractions leave a
            split empty, or a class has too few rows to appear in every split.
    """
    if task not in TASKS:
        raise DataError(f"task {task!r} is unknown; expected one of {', '.join(TASKS)}")
    if not 0.0 < test_fraction < 1.0:
        raise DataError(
            f"test_fraction is {test_fraction}; expected a number between 0 and 1"
        )
    if not 0.0 <= validation_fraction < 1.0:
        raise DataError(
            f"validation_fraction is {validation_fraction}; expected a number from 0 "
            "to below 1"
        )
    _check_label_present(df, label)
    missing = int(df[label].isna().sum())
    if missing:
        raise DataError(
            f"label '{label}' is missing in {missing} of {len(df)} rows; expected a "
            "label in every row before splitting"
        )
    rows = len(df)
    sizes = {TEST: max(1, round(rows * test_fraction))}
    if validation_fraction > 0:
        sizes[VALIDATION] = max(1, round(rows * validation_fraction))
    train_rows = rows - sum(sizes.values())
    if train_rows < 1:
        raise DataError(
            f"splitting {rows} rows with test_fraction={test_fraction} and "
            f"validation_fraction={validation_fraction} leaves the train split "
            "empty; expected at least one row per split"
        )
    sizes = {TRAIN: train_rows, **sizes}
    stratify = task == CLASSIFICATION
    if stratify:
        _check_stratifiable(df[label], label, sizes)

    frame = df.reset_index(drop=True)
    try:
        rest, test = train_test_split(
            frame,
            test_size=sizes[TEST],
            random_state=seed,
            shuffle=True,
            stratify=frame[label] if stratify else None,
        )
        splits = {TEST: test}
        if VALIDATION in sizes:
            rest, validation = train_test_split(
                rest,
                test_size=sizes[VALIDATION],
                random_state=seed,
                shuffle=True,
                stratify=rest[label] if stratify else None,
            )
            splits[VALIDATION] = validation
    except ValueError as exc:
        # The pre-checks cover the usual cases; rare class layouts can still fail.
        raise DataError(
            f"cannot split {rows} rows on label '{label}' into {', '.join(sizes)} "
            f"({exc}); expected more rows per class or other fractions"
        ) from exc
    splits[TRAIN] = rest
    return {
        name: splits[name][list(df.columns)].reset_index(drop=True)
        for name in (TRAIN, TEST, VALIDATION)
        if name in splits
    }


def split_for_training(
    df: pd.DataFrame,
    label: str,
    task: str,
    *,
    test_fraction: float,
    validation_fraction: float,
    tune: bool,
    seed: int = 0,
) -> tuple[str, dict[str, pd.DataFrame]]:
    """The training pipeline's split: the task resolved, validation rows only to tune.

    Args:
        df: The validated table, label included.
        label: The label column.
        task: ``classification``, ``regression``, or empty to infer it from the label.
        test_fraction: Share of rows held out for evaluation and approval.
        validation_fraction: Share of rows held out for trials; used only when
            ``tune`` is set, since without trials those rows would be wasted.
        tune: Whether hyperparameter trials will run.
        seed: Seed of the shuffle.

    Returns:
        The task, and ``train``, ``test`` and ``validation`` (empty, with the
        table's columns, when no trials run).

    Raises:
        DataError: As :func:`split_dataset`.
    """
    _check_label_present(df, label)
    resolved = task or infer_task(df[label])
    parts = split_dataset(
        df,
        label,
        resolved,
        test_fraction=test_fraction,
        validation_fraction=validation_fraction if tune else 0.0,
        seed=seed,
    )
    parts.setdefault("validation", df.iloc[0:0].reset_index(drop=True))
    return resolved, parts


def _check_label_present(df: pd.DataFrame, label: str) -> None:
    """Refuse a table without the label, naming the columns it has."""
    if label not in df.columns:
        raise DataError(
            f"label column '{label}' is absent from the {len(df)}-row table; expected "
            f"one of {', '.join(map(str, df.columns))}"
        )


def _check_stratifiable(labels: pd.Series, label: str, sizes: dict[str, int]) -> None:
    """Refuse a stratified split sklearn would reject, with a sentence people read."""
    names = ", ".join(sizes)
    counts = labels.astype(str).value_counts()
    # Each split takes one or more rows of every class.
    smallest, fewest = str(counts.index[-1]), int(counts.iloc[-1])
    if fewest < len(sizes):
        raise DataError(
            f"class '{smallest}' of label '{label}' has only {fewest} row(s); a "
            f"stratified split into {names} needs at least {len(sizes)} rows per "
            "class"
        )
    for name, size in sizes.items():
        if size < len(counts):
            raise DataError(
                f"the {name} split would have {size} row(s) for the {len(counts)} "
                f"classes of label '{label}'; expected at least one row per class, "
                "so raise its fraction or add rows"
            )

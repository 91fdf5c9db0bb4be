"""Streaming counts equal the registered statistics, whatever the batching."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlops_suite.data.statistics import OTHER, compute_statistics
from mlops_suite.monitoring.profile import (
    UNTRACKED,
    NumericCounter,
    ValueCounter,
    profile_parts,
)
from mlops_suite.monitoring.sources import open_parts

_COMPARED = (
    "type",
    "count",
    "missing",
    "missing_fraction",
    "min",
    "max",
    "histogram",
    "frequencies",
)


def test_a_raw_profile_matches_compute_statistics(mixed_frame, write_parquet):
    path = write_parquet(mixed_frame, "mixed.parquet")
    expected = compute_statistics(mixed_frame)

    profile = profile_parts(
        open_parts(path, role="reference"),
        list(mixed_frame.columns),
        batch_rows=17,
        role="reference",
    )

    assert profile["num_rows"] == expected["num_rows"]
    for ours, theirs in zip(profile["columns"], expected["columns"], strict=True):
        for key in _COMPARED:
            assert ours.get(key) == theirs.get(key), (ours["name"], key)


def test_footer_ranges_and_scanned_ranges_give_the_same_profile(tmp_path, table):
    frame = table(3_000, seed=4)
    with_stats, without = tmp_path / "stats.parquet", tmp_path / "nostats.parquet"
    frame.to_parquet(with_stats, index=False)
    pq.write_table(pa.Table.from_pandas(frame), without, write_statistics=False)
    columns = ["income", "wait", "visits"]

    def profile(path):
        return profile_parts(
            open_parts(path, role="reference"), columns, batch_rows=500, role="x"
        )

    assert open_parts(with_stats, role="x")[0].ranges(columns).keys() == set(columns)
    assert open_parts(without, role="x")[0].ranges(columns) == {}
    assert profile(with_stats) == profile(without)


def test_numeric_bins_match_numpy_histogram_on_edge_values():
    # Values sitting exactly on bin edges are where arithmetic binning slips.
    rng = np.random.default_rng(0)
    for step in (0.05, 0.1, 0.35, 7.3, 1 / 3):
        values = rng.integers(0, 61, 4_000) * step
        low, high = values.min(), values.max()
        edges = np.linspace(low, high, 21)
        counter = NumericCounter(edges)
        probe = np.concatenate(
            [values, [low - 1, high + 1, np.nextafter(high, np.inf)]]
        )
        counter.add(pa.array(probe))

        inside, _ = np.histogram(values, bins=edges)
        assert counter.counts[1:-1].tolist() == inside.tolist()
        assert counter.counts[0] == 1 and counter.counts[-1] == 2


def test_a_constant_reference_keeps_its_value_in_the_last_bin():
    counter = NumericCounter([3.0] * 21)
    counter.add(pa.array([1.0, 3.0, 3.0, 5.0, None, float("nan")]))

    assert counter.counts[0] == 1
    assert counter.counts[-2] == 2
    assert counter.counts[-1] == 1
    assert (counter.rows, counter.values, counter.missing) == (6, 4, 2)


def test_infinities_and_nan_count_as_missing():
    counter = NumericCounter(np.linspace(0, 1, 21))
    counter.add(pa.array([0.5, float("inf"), float("-inf"), float("nan"), None]))

    assert counter.values == 1
    assert counter.missing == 4


def test_value_counts_agree_across_array_encodings():
    words = ["a", "b", None, "a", "c"]
    plain, encoded = ValueCounter(), ValueCounter()
    plain.add(pa.array(words))
    encoded.add(pa.array(words).dictionary_encode())
    flags = ValueCounter()
    flags.add(pa.array([True, False, None, True]))

    assert plain.counts == encoded.counts == {"a": 2, "b": 1, "c": 1}
    assert plain.missing == encoded.missing == 1
    assert flags.counts == {"true": 2, "false": 1}


def test_distinct_values_past_the_cap_are_counted_in_total(monkeypatch):
    monkeypatch.setattr("mlops_suite.monitoring.profile.MAX_TRACKED_VALUES", 3)
    counter = ValueCounter(known=["z"])
    counter.add(pa.array(["a", "b", "c", "d", "e", "z"]))

    assert counter.counts == {"a": 1, "b": 1, "c": 1, "z": 1, UNTRACKED: 2}
    assert counter.values == 6


def test_a_high_cardinality_reference_keeps_the_top_100(tmp_path):
    ids = [f"id{i:04d}" for i in range(150) for _ in range(1 + (i < 10))]
    path = tmp_path / "ids.parquet"
    pq.write_table(pa.table({"user": ids}), path)

    (column,) = profile_parts(
        open_parts(path, role="reference"), ["user"], batch_rows=64, role="x"
    )["columns"]

    assert column["unique"] == 150
    assert len(column["frequencies"]) == 101
    assert column["frequencies"][OTHER] == 50
    assert column["frequencies"]["id0000"] == 2


@pytest.mark.parametrize("batch_rows", [1, 7, 10_000])
def test_counts_do_not_depend_on_batch_size(mixed_frame, batch_rows, write_parquet):
    path = write_parquet(mixed_frame, "mixed.parquet")
    parts = open_parts(path, role="reference")
    columns = list(mixed_frame.columns)

    assert profile_parts(
        parts, columns, batch_rows=batch_rows, role="x"
    ) == profile_parts(parts, columns, batch_rows=len(mixed_frame), role="x")

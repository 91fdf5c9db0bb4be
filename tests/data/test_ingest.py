"""Reading raw tables, versioning them by content, storing them as Parquet."""

from __future__ import annotations

import gzip
import random
import socket
import sys
import uuid
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pytest

from mlops_suite.artifacts import DATASET_FILE
from mlops_suite.data.ingest import (
    IngestSummary,
    dataset_sha256,
    ingest,
    read_dataset,
    read_table,
    write_dataset,
)
from mlops_suite.data.kinds import column_kind
from mlops_suite.errors import DataError

CSV = b"species,bill_length_mm,count\nAdelie,39.1,3\nGentoo,,4\nChinstrap,46.5,5\n"


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


# --- read_table: formats -------------------------------------------------------


def test_reads_csv_with_pandas_types(tmp_path: Path) -> None:
    frame = read_table(_write(tmp_path / "data.csv", CSV))

    assert list(frame.columns) == ["species", "bill_length_mm", "count"]
    assert frame["count"].dtype == "int64"
    assert frame["bill_length_mm"].isna().tolist() == [False, True, False]
    assert isinstance(frame.index, pd.RangeIndex)


def test_reads_tsv_and_sniffs_unknown_extensions(tmp_path: Path) -> None:
    tsv = read_table(_write(tmp_path / "data.tsv", CSV.replace(b",", b"\t")))
    semicolons = read_table(_write(tmp_path / "data.txt", CSV.replace(b",", b";")))

    expected = read_table(_write(tmp_path / "data.csv", CSV))
    pd.testing.assert_frame_equal(tsv, expected)
    pd.testing.assert_frame_equal(semicolons, expected)


def test_reads_parquet_by_extension_and_by_magic_bytes(tmp_path: Path) -> None:
    expected = read_table(_write(tmp_path / "data.csv", CSV))
    expected.to_parquet(tmp_path / "data.parquet", index=False)
    expected.to_parquet(tmp_path / "no_extension", index=False)

    pd.testing.assert_frame_equal(read_table(str(tmp_path / "data.parquet")), expected)
    pd.testing.assert_frame_equal(read_table(str(tmp_path / "no_extension")), expected)


def test_file_uri_and_memory_uri(tmp_path: Path) -> None:
    path = _write(tmp_path / "data.csv", CSV)
    uri = f"memory://ingest-{uuid.uuid4().hex}/data.csv"
    memory = fsspec.filesystem("memory")
    memory.pipe(uri, CSV)
    try:
        from_memory = read_table(uri)
    finally:
        memory.rm(uri)

    pd.testing.assert_frame_equal(read_table(f"file://{path}"), read_table(path))
    pd.testing.assert_frame_equal(from_memory, read_table(path))


def test_reads_over_http(http_root: tuple[Path, str]) -> None:
    root, base = http_root
    (root / "data.csv").write_bytes(CSV)

    frame = read_table(f"{base}/data.csv")

    assert frame["species"].tolist() == ["Adelie", "Gentoo", "Chinstrap"]


# --- read_table: errors ----------------------------------------------------------


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"'.*nowhere\.csv' does not exist"):
        read_table(str(tmp_path / "nowhere.csv"))


def test_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is a folder"):
        read_table(str(tmp_path))


def test_random_bytes_named_csv_are_refused(tmp_path: Path) -> None:
    noise = random.Random(0).randbytes(4096)
    with pytest.raises(DataError, match=r"noise\.csv' is a binary file"):
        read_table(_write(tmp_path / "noise.csv", noise))


def test_non_utf8_text_is_refused_with_the_offset(tmp_path: Path) -> None:
    latin1 = "city,n\nZürich,1\n".encode("latin-1")
    with pytest.raises(DataError, match=r"latin\.csv' is not UTF-8 text.*offset 8"):
        read_table(_write(tmp_path / "latin.csv", latin1))


def test_gzip_named_csv_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"packed\.csv' is gzip-compressed"):
        read_table(_write(tmp_path / "packed.csv", gzip.compress(CSV)))


def test_text_named_parquet_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"fake\.parquet'.*'PAR1'"):
        read_table(_write(tmp_path / "fake.parquet", CSV))


def test_truncated_parquet_is_refused(tmp_path: Path) -> None:
    read_table(_write(tmp_path / "d.csv", CSV)).to_parquet(tmp_path / "full.parquet")
    half = (tmp_path / "full.parquet").read_bytes()[:200]
    with pytest.raises(DataError, match=r"cut\.parquet' starts like Parquet"):
        read_table(_write(tmp_path / "cut.parquet", half))


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_file_is_refused(tmp_path: Path, content: bytes) -> None:
    with pytest.raises(DataError, match=r"empty\.csv' is empty"):
        read_table(_write(tmp_path / "empty.csv", content))


def test_header_only_is_refused_with_the_column_count(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"head\.csv' has 3 columns but 0 data rows"):
        read_table(_write(tmp_path / "head.csv", b"a,b,c\n"))


def test_header_only_parquet_is_refused(tmp_path: Path) -> None:
    pd.DataFrame({"a": pd.Series([], dtype="float64")}).to_parquet(tmp_path / "e.pq")
    with pytest.raises(DataError, match=r"e\.pq' has 1 columns but 0 data rows"):
        read_table(str(tmp_path / "e.pq"))


def test_duplicated_column_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"dup\.csv' has duplicated .*'a' \(2 times\)"):
        read_table(_write(tmp_path / "dup.csv", b"a,b,a\n1,2,3\n"))


def test_ragged_rows_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"ragged\.csv' is not a well-formed"):
        read_table(_write(tmp_path / "ragged.csv", b"a,b\n1,2\n3,4,5,6\n"))


def test_missing_http_file_is_named(http_root: tuple[Path, str]) -> None:
    _, base = http_root
    with pytest.raises(DataError, match=r"/absent\.csv' does not exist"):
        read_table(f"{base}/absent.csv")


def test_unreachable_host_is_named() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port once the probe socket is closed.
    with pytest.raises(DataError, match=rf"127\.0\.0\.1:{port}/d\.csv' is unreachable"):
        read_table(f"http://127.0.0.1:{port}/d.csv")


def test_missing_fsspec_backend_names_the_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As on a machine without gcsfs (the stores extra installs it): no module to
    # import, and no class fsspec remembers from an earlier import.
    monkeypatch.setitem(sys.modules, "gcsfs", None)
    for protocol in ("gs", "gcs"):
        monkeypatch.delitem(
            sys.modules["fsspec.registry"]._registry, protocol, raising=False
        )
    with pytest.raises(DataError, match=r"gs://bucket/d\.csv' needs the 'gcsfs'"):
        read_table("gs://bucket/d.csv")


def test_unknown_protocol_is_named() -> None:
    with pytest.raises(DataError, match=r"unknown protocol 'nope://'"):
        read_table("nope://bucket/d.csv")


# --- dataset_sha256 ---------------------------------------------------------------


def test_hash_is_the_same_for_csv_and_its_parquet(tmp_path: Path) -> None:
    from_csv = read_table(_write(tmp_path / "data.csv", CSV))
    write_dataset(from_csv, tmp_path / "data.parquet")
    from_csv.to_parquet(tmp_path / "by_pandas.parquet")

    digest = dataset_sha256(from_csv)
    assert dataset_sha256(read_table(str(tmp_path / "data.parquet"))) == digest
    assert dataset_sha256(read_dataset(tmp_path / "data.parquet")) == digest
    assert dataset_sha256(read_table(str(tmp_path / "by_pandas.parquet"))) == digest


def test_hash_is_the_same_for_penguins_csv_and_parquet(
    tmp_path: Path, penguins: pd.DataFrame
) -> None:
    penguins.to_csv(tmp_path / "p.csv", index=False)
    from_csv = read_table(str(tmp_path / "p.csv"))
    write_dataset(from_csv, tmp_path / "p.parquet")

    assert len(dataset_sha256(from_csv)) == 64
    assert dataset_sha256(read_table(str(tmp_path / "p.parquet"))) == dataset_sha256(
        from_csv
    )


def test_hash_ignores_the_index_and_the_spelling_of_missing() -> None:
    with_nan = pd.DataFrame({"a": ["x", np.nan, "z"], "b": [1.0, np.nan, 3.0]})
    with_none = pd.DataFrame(
        {"a": ["x", None, "z"], "b": [1.0, float("nan"), 3.0]}, index=[7, 8, 9]
    )

    assert dataset_sha256(with_nan) == dataset_sha256(with_none)


def test_hash_changes_with_any_value_name_order_or_dtype(tiny: pd.DataFrame) -> None:
    base = dataset_sha256(tiny)
    value = tiny.copy()
    value.loc[4, "size"] = 10.000001
    text = tiny.copy()
    text.loc[0, "color"] = "Red"
    renamed = tiny.rename(columns={"color": "colour"})
    reordered = tiny[["color", "size", "ok", "count"]]
    rows = tiny.iloc[::-1].reset_index(drop=True)
    retyped = tiny.astype({"count": "float64"})
    dropped = tiny.iloc[:4]
    filled = tiny.fillna({"color": ""})

    variants = [value, text, renamed, reordered, rows, retyped, dropped, filled]
    digests = {dataset_sha256(frame) for frame in variants}
    assert base not in digests
    assert len(digests) == len(variants)


def test_hash_tells_text_from_numbers_in_object_columns() -> None:
    numbers = pd.DataFrame({"a": pd.Series([1, 2], dtype=object)})
    text = pd.DataFrame({"a": pd.Series(["1", "2"], dtype=object)})
    joined = pd.DataFrame({"a": ["ab", "c"]})
    split = pd.DataFrame({"a": ["a", "bc"]})

    assert dataset_sha256(numbers) != dataset_sha256(text)
    assert dataset_sha256(joined) != dataset_sha256(split)


# --- write_dataset / read_dataset ------------------------------------------------


def test_round_trip_keeps_dtypes_and_values(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "i": [1, 2, 3],
            "f": [0.5, np.nan, 2.5],
            "b": [True, False, True],
            "s": ["a", None, "c"],
            "cat": pd.Categorical(["x", "y", "x"]),
            "nullable": pd.array([1, None, 3], dtype="Int64"),
            "when": pd.to_datetime(["2024-01-01", "2024-02-01", None]),
            "flags": [True, None, False],
        }
    )
    write_dataset(frame, tmp_path / "out" / DATASET_FILE)

    back = read_dataset(tmp_path / "out")

    pd.testing.assert_frame_equal(back, frame)
    assert dataset_sha256(back) == dataset_sha256(frame)


def test_unstorable_column_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    frame = pd.DataFrame({"good": [1, 2], "mixed": [1, "two"]})
    target = tmp_path / "data.parquet"

    with pytest.raises(DataError, match=r"data\.parquet: column 'mixed' cannot be"):
        write_dataset(frame, target)

    assert list(tmp_path.iterdir()) == []


def test_read_dataset_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"absent\.parquet' does not exist"):
        read_dataset(tmp_path / "absent.parquet")


# --- ingest -------------------------------------------------------------------------


def test_ingest_writes_parquet_and_summarises(tmp_path: Path) -> None:
    source = _write(tmp_path / "raw.csv", CSV)
    output = tmp_path / "dataset" / DATASET_FILE

    summary = ingest(source, output)

    stored = read_dataset(output)
    assert summary == IngestSummary(
        rows=3,
        columns=3,
        column_names=["species", "bill_length_mm", "count"],
        sha256=dataset_sha256(stored),
        source_uri=source,
    )
    assert summary.to_dict()["sha256"] == summary.sha256
    pd.testing.assert_frame_equal(stored, read_table(source))


def test_failed_ingest_leaves_the_previous_output(tmp_path: Path) -> None:
    output = tmp_path / DATASET_FILE
    ingest(_write(tmp_path / "good.csv", CSV), output)
    before = output.read_bytes()

    with pytest.raises(DataError, match="0 data rows"):
        ingest(_write(tmp_path / "bad.csv", b"a,b\n"), output)

    assert output.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "bad.csv",
        DATASET_FILE,
        "good.csv",
    ]


def test_mixed_frame_survives_csv_and_parquet(
    tmp_path: Path, mixed_frame: pd.DataFrame
) -> None:
    mixed_frame.to_csv(tmp_path / "mixed.csv", index=False)

    summary = ingest(str(tmp_path / "mixed.csv"), tmp_path / DATASET_FILE)
    stored = read_dataset(tmp_path / DATASET_FILE)

    kinds = {name: column_kind(stored[name]) for name in stored.columns}
    assert kinds == {
        "income": "numeric",
        "member": "boolean",
        "region": "categorical",
        "visits": "numeric",
        "churned": "numeric",
    }
    assert stored["member"].dtype == bool
    assert sorted(stored["churned"].unique()) == [0.0, 1.0]
    assert summary.sha256 == dataset_sha256(read_table(str(tmp_path / "mixed.csv")))

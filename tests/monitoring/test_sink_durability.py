"""What the sink acknowledged survives crashes, and is published exactly once."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
from sink_process import post, send_pair, sink_process

from mlops_suite.monitoring.sink.journal import LogStore
from mlops_suite.monitoring.sink.output import BatchOutput, read_logged
from mlops_suite.monitoring.sink.server import LogSink, running_sink


def batches(out: Path) -> list[Path]:
    return sorted(out.glob("batch-*.parquet"))


def test_acknowledged_events_survive_sigkill_and_pair_after_restart(
    tmp_path: Path,
) -> None:
    out = tmp_path / "logs"
    with sink_process(out) as (child, url):
        for number in range(5):
            send_pair(url, f"k-{number}", [float(number), number + 0.5])
        # Acknowledged, not flushed: only its response is still to come.
        assert post(url, "request", "late", {"instances": [[7.0, 14.0]]}) == 200
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert batches(out) == [], "nothing may be published before a flush"

    with running_sink(out, flush_seconds=3600) as sink:
        # Recovery flushed the journal before the sink started listening.
        assert len(read_logged(out)) == 10
        assert post(sink.url, "response", "late", {"predictions": ["y7"]}) == 200
    frame = read_logged(out)

    assert len(frame) == 11
    assert not frame.duplicated(["request_id", "row"]).any()
    expected = {f"k-{n}": [f"y{n:g}", f"y{n + 0.5:g}"] for n in range(5)}
    expected["late"] = ["y7"]
    for event_id, predictions in expected.items():
        rows = frame[frame["request_id"] == event_id].sort_values("row")
        assert rows["prediction"].tolist() == predictions
    late = frame[frame["request_id"] == "late"]
    assert late[["feature_0", "feature_1"]].values.tolist() == [[7.0, 14.0]]


def test_sigterm_flushes_everything_before_exiting(tmp_path: Path) -> None:
    out = tmp_path / "logs"
    with sink_process(out) as (child, url):
        send_pair(url, "t-1", [1.0, 2.0, 3.0])
        # A request still waiting for its response is written alone at shutdown.
        assert post(url, "request", "t-2", {"instances": [[4.0, 8.0]]}) == 200
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == 0
    frame = read_logged(out)
    assert frame["request_id"].tolist() == ["t-1", "t-1", "t-1", "t-2"]
    assert frame["prediction"].tolist()[:3] == ["y1", "y2", "y3"]
    assert frame["prediction"].isna().tolist() == [False, False, False, True]


def test_a_flush_that_crashes_before_its_commit_publishes_nothing_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "logs"
    sink = LogSink(out, host="127.0.0.1", port=0, flush_seconds=3600)
    sink.start()
    send_pair(sink.url, "c-1", [1.0, 2.0])

    written: dict[Path, bytes] = {}

    def disk_full(self: LogStore, path: Path, carry: list[Any]) -> None:
        written.update({file: file.read_bytes() for file in self.outbox_files()})
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(LogStore, "_write_carry", disk_full)
        with pytest.raises(OSError, match="No space left"):
            sink.store.flush()
    assert batches(out) == []
    assert sink.store.buffered_rows == 2, "rows go back to the buffer"
    # A crash at that moment would have left the batch file in the outbox, without
    # its carry file (the commit): put it back as the crash would leave it.
    assert len(written) == 1
    for file, data in written.items():
        file.write_bytes(data)
    send_pair(sink.url, "c-2", [3.0])
    sink.stop(flush=False)  # the process dies here

    with running_sink(out):
        pass
    frame = read_logged(out)
    assert sorted(zip(frame["request_id"], frame["row"], strict=True)) == [
        ("c-1", 0),
        ("c-1", 1),
        ("c-2", 0),
    ]


def test_a_batch_the_store_refused_is_kept_and_published_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "logs"
    sink = LogSink(out, host="127.0.0.1", port=0, flush_seconds=3600)
    sink.start()
    send_pair(sink.url, "p-1", [1.0])

    def unreachable(self: BatchOutput, name: str, data: bytes) -> None:
        raise ConnectionError("object store unreachable")

    with monkeypatch.context() as patch:
        patch.setattr(BatchOutput, "publish", unreachable)
        assert sink.store.flush() == 1  # committed to the outbox, not published
        health = sink.health()
        assert health["unpublished_batches"] == 1
        assert "unreachable" in health["last_error"]
    assert batches(out) == []
    send_pair(sink.url, "p-2", [2.0])
    sink.stop(flush=False)  # crash with one batch in the outbox, one in the journal

    with running_sink(out) as restarted:
        assert restarted.health()["unpublished_batches"] == 0
    frame = read_logged(out)
    assert frame["request_id"].tolist() == ["p-1", "p-2"]
    assert len(batches(out)) == 2


def test_a_torn_last_journal_line_is_ignored(tmp_path: Path) -> None:
    out = tmp_path / "logs"
    sink = LogSink(out, host="127.0.0.1", port=0, flush_seconds=3600)
    sink.start()
    send_pair(sink.url, "j-1", [1.0])
    sink.stop(flush=False)
    (segment,) = (out / ".journal").glob("segment-*.jsonl")
    with segment.open("ab") as handle:
        handle.write(b'{"id": "j-2", "kind": "requ')  # the crash cut this write

    with running_sink(out):
        pass
    assert read_logged(out)["request_id"].tolist() == ["j-1"]

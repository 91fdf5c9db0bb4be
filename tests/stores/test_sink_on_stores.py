"""The payload sink publishing to real S3 and GCS servers, through crashes and refusals.

The local-folder versions of these cases: tests/monitoring/test_sink_durability.py.
"""

from __future__ import annotations

import signal
import tempfile
from pathlib import Path

import pytest
from object_stores import ObjectStore
from sink_process import post, send_pair, sink_process

from mlops_suite.monitoring.sink.output import read_logged
from mlops_suite.monitoring.sink.server import LogSink

pytestmark = pytest.mark.stores


@pytest.fixture
def local_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary directory, where the sink keeps an object store's journal."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_acknowledged_events_survive_sigkill_and_reach_the_store_once(
    store: ObjectStore, local_tmp: Path
) -> None:
    out = store.uri("logs", "penguins")
    with sink_process(out) as (child, url):
        for number in range(5):
            send_pair(url, f"k-{number}", [float(number), number + 0.5])
        # Acknowledged, not flushed: only its response is still to come.
        assert post(url, "request", "late", {"instances": [[7.0, 14.0]]}) == 200
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert not store.filesystem().exists(store.path("logs", "penguins")), (
        "nothing may be published before a flush"
    )

    # The restarted sink finds its journal (the default one for this URI) and
    # publishes it before it listens; SIGTERM then flushes the rest.
    with sink_process(out) as (child, url):
        assert len(read_logged(out)) == 10
        assert post(url, "response", "late", {"predictions": ["y7"]}) == 200
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=60) == 0
    frame = read_logged(out)

    assert len(frame) == 11
    assert not frame.duplicated(["request_id", "row"]).any()
    expected = {f"k-{n}": [f"y{n:g}", f"y{n + 0.5:g}"] for n in range(5)}
    expected["late"] = ["y7"]
    for event_id, predictions in expected.items():
        rows = frame[frame["request_id"] == event_id].sort_values("row")
        assert rows["prediction"].tolist() == predictions
    names = store.filesystem().ls(store.path("logs", "penguins"), detail=False)
    assert len(names) == 2 and all(n.endswith(".parquet") for n in names)


def test_a_batch_a_missing_bucket_refused_is_published_once_the_bucket_exists(
    store: ObjectStore, tmp_path: Path
) -> None:
    bucket = f"later-{store.prefix}"
    out = f"{store.scheme}://{bucket}/logs/penguins"
    sink = LogSink(
        out, host="127.0.0.1", port=0, flush_seconds=3600, journal_dir=tmp_path / "j"
    )
    sink.start()
    try:
        send_pair(sink.url, "p-1", [1.0])
        assert sink.store.flush() == 1  # committed to the outbox, not published
        health = sink.health()
        assert health["unpublished_batches"] == 1
        assert health["last_error"]  # what the store said, for /healthz

        store.filesystem().mkdir(bucket)
        send_pair(sink.url, "p-2", [2.0])
        sink.store.flush()
        assert sink.health()["unpublished_batches"] == 0
    finally:
        sink.stop(flush=True)

    frame = read_logged(out)
    assert frame["request_id"].tolist() == ["p-1", "p-2"]
    assert len(store.filesystem().ls(f"{bucket}/logs/penguins", detail=False)) == 2

"""Receive KServe's payload-logger events and store served traffic as Parquet batches.

The InferenceService's logger (``manifests/components/request-logger``) posts every
request and response to the sink as CloudEvents; :mod:`mlops_suite.monitoring.payloads`
pairs them by request id into one row per instance (features and prediction), and
the sink appends the rows to Parquet batch files under an output folder or fsspec
URI, ``<output>/batch-<UTC time>-<sequence>.parquet``, names that sort by time.
Monitoring reads that folder as its current data (``detect_drift(reference,
"<output>")``); :func:`.output.read_logged` loads it as one DataFrame.

An event is answered 200 only once it is on disk: each accepted event is appended
to a local journal and fsynced before the answer, and batch files are written and
published so that a crash at any point loses no acknowledged event and publishes no
row twice (:mod:`.journal` tells how).

Memory is bounded: rows wait for at most ``flush_rows`` rows or ``flush_seconds``
before a flush (events are refused with 503 when ten times that many are waiting
because flushes keep failing), at most ``max_pending`` events wait for a partner
(the oldest are then written without it), and bodies over ``max_body_bytes`` are
refused with 413. A request whose response has not come after ``pair_timeout_s``
seconds (KServe logs no response for a failed prediction) is written with an empty
prediction; so is every event still waiting at shutdown, since the journal may not
outlive the pod (its partner, if it comes to the next sink, is written alone too).

The modules:

* :mod:`.journal`: :class:`~.journal.LogStore`, the durable journal, the pairing of
  events and the flushes to Parquet batch files;
* :mod:`.output`: the output folder: publishing batch files to it and
  :func:`~.output.read_logged` reading them back;
* :mod:`.server`: :class:`~.server.LogSink`, the HTTP receiver and its flusher
  thread, :func:`~.server.run_sink` (until SIGTERM or SIGINT) and
  :func:`~.server.running_sink` (for a ``with`` block);
* :mod:`.command`: the flags of ``mlops sink`` (also
  ``python -m mlops_suite.monitoring.sink``), light enough for ``mlops --help``;
* :mod:`.defaults`: the default settings the flags and the classes share.
"""

"""A webhook on 127.0.0.1 that keeps every message POSTed to it, for notification tests.

It answers every request with the status it was given (200 by default), so a test can
also play a webhook that refuses; :func:`receiving` stops it when the block ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from http_fake import FakeServer, Recorded, Response


class WebhookReceiver(FakeServer):
    """A threaded HTTP server on 127.0.0.1 standing in for a Slack-style webhook.

    Args:
        status: The HTTP status every request is answered with.
    """

    def __init__(self, status: int = 200) -> None:
        self.status = status  # set first: the server thread may answer at once
        super().__init__()

    def handle(self, request: Recorded) -> Response:
        return self.status, {"ok": self.status < 400}

    @property
    def messages(self) -> list[Any]:
        """The JSON bodies POSTed so far, oldest first."""
        return [request.json for request in self.calls("POST", "")]


@contextmanager
def receiving(status: int = 200) -> Iterator[WebhookReceiver]:
    """A webhook receiver for the length of a ``with`` block.

    Args:
        status: The HTTP status every request is answered with.

    Yields:
        The receiver; its ``url`` is where to send.
    """
    server = WebhookReceiver(status)
    try:
        yield server
    finally:
        server.stop()

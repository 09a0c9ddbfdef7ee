"""Request ids: each request's `X-Request-ID`, taken from a trusted proxy (--forwarded-allow-ips)
or made here, sent back on the response, given to the application (`request.id` in porch.App,
the `porch.request_id` scope extension for ASGI, `environ["porch.request_id"]` for WSGI) and
written in the log lines of the request: the access log's json format, and every logging
record made while the request runs (`record.request_id`, which porch's own lines show).
"""

import contextvars
import logging
import os
import re
from typing import Any

from porch.http.native import RequestHead

# The id of the request whose code is running (asyncio tasks and WSGI threads alike).
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("porch_request_id", default="")
# What a proxy may send: a UUID, a hex or base64 token, a trace id (no spaces, no quotes).
_VALID = re.compile(rb"[A-Za-z0-9._:+/=-]{1,128}\Z")


class RequestIds:
    """The ids one worker makes: a random prefix of its own, then a counter (unique across
    workers and restarts, and cheap: no random bytes per request)."""

    __slots__ = ("count", "prefix")

    def __init__(self) -> None:
        self.prefix = os.urandom(6).hex()
        self.count = 0

    def assign(self, head: RequestHead, trusted: bool) -> None:
        """Give `head` its id: the one a trusted proxy sent if it is well formed, else a new."""
        if trusted:
            sent = head.header(b"x-request-id")
            if sent is not None and _VALID.match(sent):
                head.request_id = sent.decode("ascii")
                return
        self.count += 1
        head.request_id = f"{self.prefix}-{self.count:x}"


def install_record_factory() -> None:
    """Give every logging record the id of the request it is made in (`%(request_id)s`;
    empty outside a request), whichever logger makes it: the application's too."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_porch", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = REQUEST_ID.get()
        return record

    factory._porch = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)

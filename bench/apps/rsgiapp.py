"""A bare RSGI callable (granian's own interface) that answers "Hello, world!" as text/plain."""

from typing import Any

BODY = b"Hello, world!"
HEADERS = [("content-type", "text/plain")]


async def app(scope: Any, protocol: Any) -> None:
    """Answer every HTTP request with the same text."""
    protocol.response_bytes(200, HEADERS, BODY)

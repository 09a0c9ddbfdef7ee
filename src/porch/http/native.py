"""The native interface between porch's server and an application.

An application object with a `__porch_http__(head, body)` method is served natively: for every
request the server calls it with a `RequestHead` and a `BodyReader`, and gets back a `Response`
(or an awaitable of one). The server owns the framing: Content-Length or chunking, HEAD, `Date`
and `Server`, keep-alive and flow control. This skips ASGI's per-request dicts and coroutines.
Anything this contract cannot say (WebSockets, trailers) goes through ASGI instead.
"""

import os
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Iterable
from typing import BinaryIO, Protocol, runtime_checkable
from urllib.parse import unquote_to_bytes

from porch.http.headers import HeaderBlock

RawHeaders = list[tuple[bytes, bytes]]


class RequestHead:
    """The request line and header fields of one request, as received; decoded on demand."""

    __slots__ = (
        "_path",
        "client",
        "headers",
        "http_version",
        "method",
        "query",
        "raw_path",
        "request_id",
        "root_path",
        "route",
        "scheme",
        "server",
        "target",
    )

    def __init__(
        self,
        method: str,
        target: bytes,
        raw_path: bytes,
        query: bytes,
        headers: RawHeaders,
        http_version: str = "1.1",
        client: tuple[str, int] | None = None,
        server: tuple[str, int | None] | None = None,
        scheme: str = "http",
        root_path: str = "",
    ) -> None:
        self.method = method
        self.target = target  # the request-target exactly as sent
        self.raw_path = raw_path  # its path part, still percent-encoded
        self.query = query  # its query part, without the '?'
        self.headers = headers  # (lower-case name, value) in the order received
        self.http_version = http_version
        self.client = client
        self.server = server
        self.scheme = scheme
        self.root_path = root_path
        self.request_id = ""  # X-Request-ID (porch.server.requestid), when the server gives one
        # The template of the route that answered, when the application says (the metrics'
        # label, never the raw path): porch.App sets it as it routes.
        self.route = ""
        self._path: str | None = None

    @property
    def path(self) -> str:
        """The percent-decoded path (UTF-8; undecodable bytes become U+FFFD)."""
        path = self._path
        if path is None:
            raw = self.raw_path
            # PERF: most paths have nothing to unquote (37 is '%': see h1.NUL for why an int).
            path = self._path = (unquote_to_bytes(raw) if 37 in raw else raw).decode(
                "utf-8", "replace"
            )
        return path

    def header(self, name: bytes) -> bytes | None:
        """The first value of the header `name` (lower case), or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def __repr__(self) -> str:
        return f"<RequestHead {self.method} {self.target!r} HTTP/{self.http_version}>"


class BodyReader(Protocol):
    """The request body as the server delivers it; `Expect: 100-continue` and limits underneath.

    Reading past the body limit raises `HTTPError(413)`; a client that goes away raises
    `ClientDisconnected`.
    """

    async def read(self) -> bytes:
        """The rest of the body, whole."""
        ...

    def stream(self) -> AsyncIterator[bytes]:
        """The rest of the body, chunk by chunk as it arrives."""
        ...


class FileRegion:
    """`count` bytes of an open file from `offset`: sent zero-copy, closed by the server after.

    `file` is a binary file object or a bare descriptor (which the region then owns).
    """

    __slots__ = ("count", "file", "offset")

    def __init__(self, file: BinaryIO | int, offset: int, count: int) -> None:
        self.file = file
        self.offset = offset
        self.count = count

    def fileno(self) -> int:
        """The file's descriptor."""
        file = self.file
        return file if isinstance(file, int) else file.fileno()

    def close(self) -> None:
        """Close the file."""
        file = self.file
        if isinstance(file, int):
            if file >= 0:
                self.file = -1
                os.close(file)
        else:
            file.close()

    def __repr__(self) -> str:
        name = getattr(self.file, "name", self.file)
        return f"<FileRegion {name!r} [{self.offset}:+{self.count}]>"


# A response body: whole bytes, a file region, or chunks from a (sync or async) iterable.
# A sync iterable is read on the event loop, so it must not block; iterables with `close()`
# (or `aclose()`) are closed once sent.
Body = bytes | FileRegion | Iterable[bytes] | AsyncIterable[bytes]


# Response headers: a raw list, or a HeaderBlock encoded once for many responses.
ResponseHeaders = RawHeaders | HeaderBlock


class Response:
    """What a native application answers: a status, header list (or block) and body."""

    __slots__ = ("body", "headers", "status")

    def __init__(
        self, status: int = 200, headers: ResponseHeaders | None = None, body: Body = b""
    ) -> None:
        self.status = status
        self.headers = headers if headers is not None else []
        self.body = body

    def __repr__(self) -> str:
        return f"<Response {self.status}>"


@runtime_checkable
class ResponseLike(Protocol):
    """Any object with the three attributes of a native response."""

    status: int
    headers: ResponseHeaders
    body: Body


@runtime_checkable
class NativeApp(Protocol):
    """An application the server may call natively."""

    def __porch_http__(
        self, head: RequestHead, body: BodyReader
    ) -> ResponseLike | Awaitable[ResponseLike]:
        """Answer one request."""
        ...

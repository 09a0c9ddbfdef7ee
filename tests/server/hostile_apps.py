"""Echo applications for the hostile-input tests, and a client that speaks raw bytes.

The same application is written three times (ASGI, WSGI, native). Each records every request
it has read *whole* (head and complete body) and answers with a description of it, so a test
can tell what the application saw: a request the server refused, or a smuggled one, must
never show up in the record.

The answer's body is `METHOD PATH_AND_QUERY BODY_LENGTH\\n` followed by the body itself.
"""

import dataclasses
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from porch.http.native import RequestHead, Response


@dataclasses.dataclass(frozen=True)
class Seen:
    """A request an application read whole."""

    method: str
    target: str  # path and query, as sent (origin-form)
    headers: tuple[tuple[str, str], ...]  # (lower-case name, value), latin-1
    body: bytes

    def describe(self) -> bytes:
        return f"{self.method} {self.target} {len(self.body)}\n".encode("latin-1") + self.body


class Recorder:
    """What one application saw, across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: list[Seen] = []

    def add(self, seen: Seen) -> None:
        with self._lock:
            self._seen.append(seen)

    def take(self) -> list[Seen]:
        """Everything seen since the last take()."""
        with self._lock:
            seen, self._seen = self._seen, []
        return seen


def _target(path: bytes, query: bytes) -> str:
    return (path + (b"?" + query if query else b"")).decode("latin-1")


def _text_headers(headers: Iterable[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    return tuple((name.decode("latin-1"), value.decode("latin-1")) for name, value in headers)


def asgi_echo(recorder: Recorder) -> Any:
    """An ASGI application that echoes and records each request it reads whole."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the body broke off: nothing was seen, nothing to answer
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        seen = Seen(
            scope["method"],
            _target(scope["raw_path"], scope["query_string"]),
            _text_headers(scope["headers"]),
            body,
        )
        recorder.add(seen)
        payload = seen.describe()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/plain"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    return app


def wsgi_echo(recorder: Recorder) -> Any:
    """A WSGI application that echoes and records each request it reads whole."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read()  # wsgi.input_terminated: read to the end
        headers = []
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                headers.append((key[5:].lower().replace("_", "-"), value))
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                headers.append((key.lower().replace("_", "-"), value))
        raw = environ["RAW_URI"]
        if not raw.startswith("/") and raw != "*":
            parts = urlsplit(raw)  # absolute-form: keep the path and query
            raw = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        seen = Seen(environ["REQUEST_METHOD"], raw, tuple(headers), body)
        recorder.add(seen)
        payload = seen.describe()
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(payload)))]
        )
        return [payload]

    return app


class NativeEcho:
    """A native (`__porch_http__`) application that echoes and records each request."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    async def __porch_http__(self, head: RequestHead, body: Any) -> Response:
        data = await body.read()  # a broken-off body raises HTTPError: the server answers it
        seen = Seen(
            head.method, _target(head.raw_path, head.query), _text_headers(head.headers), data
        )
        self.recorder.add(seen)
        return Response(200, [(b"content-type", b"text/plain")], seen.describe())


ECHO_APPS = {"asgi": asgi_echo, "wsgi": wsgi_echo, "native": NativeEcho}


# The client side.


@dataclasses.dataclass
class RawResponse:
    """One response read off the wire."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclasses.dataclass
class Exchange:
    """What came back for some bytes sent on one connection."""

    responses: list[RawResponse]
    closed: bool  # the server closed the connection (EOF or reset) before the timeout
    leftover: bytes  # bytes after the last complete response (must be none)
    elapsed: float  # seconds until the close, or the timeout

    @property
    def statuses(self) -> list[int]:
        return [response.status for response in self.responses if response.status >= 200]


def parse_responses(data: bytes) -> tuple[list[RawResponse], bytes]:
    """The complete responses in `data` (Content-Length, chunked or no body) and the rest."""
    responses = []
    while data:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            break
        lines = data[:end].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name.strip().lower(), value.strip()))
        rest = data[end + 4 :]
        fields = dict(headers)
        if status < 200 or status in (204, 304):
            body = b""
        elif "content-length" in fields:
            length = int(fields["content-length"])
            if len(rest) < length:
                break
            body, rest = rest[:length], rest[length:]
        elif fields.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                line_end = rest.find(b"\r\n")
                if line_end < 0:
                    return responses, data
                size = int(rest[:line_end].split(b";")[0], 16)
                if len(rest) < line_end + 2 + size + 2:
                    return responses, data
                body += rest[line_end + 2 : line_end + 2 + size]
                rest = rest[line_end + 2 + size + 2 :]
                if size == 0:
                    break
        else:
            body, rest = rest, b""  # close-delimited
        responses.append(RawResponse(status, headers, body))
        data = rest
    return responses, data


def exchange(
    port: int,
    data: bytes | Iterable[bytes],
    *,
    half_close: bool = False,
    timeout: float = 5.0,
    pause: float = 0.0,
) -> Exchange:
    """Send `data` (or its pieces, `pause` seconds apart) on a new connection; read to the close.

    Sending stops quietly if the server closes first. With `half_close`, the client shuts its
    side down after sending.
    """
    pieces = [data] if isinstance(data, bytes) else list(data)
    start = time.monotonic()
    received = b""
    closed = False
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            for index, piece in enumerate(pieces):
                if index and pause:
                    time.sleep(pause)
                sock.sendall(piece)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server closed early; what it answered is still to be read
        deadline = start + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            received += chunk
    responses, leftover = parse_responses(received)
    return Exchange(responses, closed, leftover, time.monotonic() - start)

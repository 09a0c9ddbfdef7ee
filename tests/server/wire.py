"""Byte-level protocol tests: exact bytes into an HTTPProtocol on a FakeTransport, and a small
parser for the responses that come out."""

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from porch.server.protocol import HTTPProtocol
from tests.support import FakeTransport, make_protocol

FIXED_DATE = b"date: Thu, 01 Jan 2026 00:00:00 GMT\r\n"
# What every response head ends with while the clock is frozen (no ticker runs in these tests).
HEADER_LINES = b"server: porch\r\n" + FIXED_DATE


def run(coro: Coroutine[Any, Any, Any], timeout: float = 15.0) -> Any:
    """Run a test coroutine on a fresh asyncio loop, failing it past `timeout`."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def wait_until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    """Let the loop (and worker threads) run until `predicate()` is true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.002)


@dataclasses.dataclass
class Parsed:
    """One response parsed from the bytes the server wrote."""

    status: int
    reason: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes
    framing: str  # "length", "chunked", "close", "none"

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def header_names(self) -> list[str]:
        return [key for key, _ in self.headers]


class Incomplete(Exception):
    """The bytes end inside a response."""


def parse_responses(
    data: bytes, methods: list[str] | None = None, closed: bool = False
) -> tuple[list[Parsed], bytes]:
    """The complete responses in `data` and what is left over.

    `methods` are the request methods, in order (HEAD responses have no body); interim 1xx
    responses do not use one up. With `closed`, a response without framing ends with the data.
    """
    methods = list(methods or [])
    responses: list[Parsed] = []
    while data:
        try:
            response, rest = _parse_one(data, methods[0] if methods else "GET", closed)
        except Incomplete:
            break
        responses.append(response)
        if response.status >= 200 and methods:
            methods.pop(0)
        data = rest
    return responses, data


def _parse_one(data: bytes, method: str, closed: bool) -> tuple[Parsed, bytes]:
    end = data.find(b"\r\n\r\n")
    if end < 0:
        raise Incomplete
    head, rest = data[:end].decode("latin-1"), data[end + 4 :]
    status_line, *lines = head.split("\r\n")
    version, status, reason = status_line.split(" ", 2)
    headers = []
    for line in lines:
        name, _, value = line.partition(":")
        assert name == name.strip() and name, f"bad header line {line!r}"
        headers.append((name.lower(), value.strip()))
    code = int(status)
    values = dict(headers)
    if method == "HEAD" or code < 200 or code in (204, 304):
        return Parsed(code, reason, version, headers, b"", "none"), rest
    if "transfer-encoding" in values:
        assert values["transfer-encoding"] == "chunked"
        body = b""
        while True:
            line_end = rest.find(b"\r\n")
            if line_end < 0:
                raise Incomplete
            size = int(rest[:line_end], 16)
            chunk_end = line_end + 2 + size
            if len(rest) < chunk_end + 2:
                raise Incomplete
            assert rest[chunk_end : chunk_end + 2] == b"\r\n", "bad chunk framing"
            body += rest[line_end + 2 : chunk_end]
            rest = rest[chunk_end + 2 :]
            if size == 0:
                return Parsed(code, reason, version, headers, body, "chunked"), rest
    if "content-length" in values:
        length = int(values["content-length"])
        if len(rest) < length:
            raise Incomplete
        return Parsed(code, reason, version, headers, rest[:length], "length"), rest[length:]
    if not closed:
        raise Incomplete
    return Parsed(code, reason, version, headers, rest, "close"), b""


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def captured_log(
    name: str = "porch.error", level: int = logging.DEBUG
) -> Iterator[list[logging.LogRecord]]:
    """The records `name` logs meanwhile (whatever propagation or handlers are set up)."""
    logger = logging.getLogger(name)
    handler = _ListHandler()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def messages(records: list[logging.LogRecord], level: int = logging.ERROR) -> str:
    """The text of the records at `level` or above, tracebacks included."""
    formatter = logging.Formatter("%(levelname)s %(message)s")
    return "\n".join(formatter.format(r) for r in records if r.levelno >= level)


class Wire:
    """An HTTPProtocol serving `app` on a FakeTransport; use as `async with Wire(app) as w`."""

    def __init__(self, app: Any, **settings: Any) -> None:
        self.app = app
        self.settings = settings
        self.protocol: HTTPProtocol
        self.transport: FakeTransport
        self.methods: list[str] = []
        self.received = b""  # everything written so far

    async def __aenter__(self) -> "Wire":
        loop = asyncio.get_running_loop()
        self.protocol, self.transport = make_protocol(self.app, loop, **self.settings)
        self.protocol.clock.header_lines = HEADER_LINES
        return self

    async def __aexit__(self, *exc: object) -> None:
        # Worker threads blocked on the loop must be released before the loop goes away.
        if not self.protocol.closed:
            self.protocol.connection_lost(None)
        executor = getattr(self.protocol.config.adapter, "executor", None)
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown, True)
        for _ in range(3):
            await asyncio.sleep(0)

    def send(self, data: bytes) -> None:
        """Bytes from the client; request methods are noted for parsing the answers."""
        for line in data.split(b"\r\n"):
            for method in (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS"):
                if line.startswith(method + b" ") and b" HTTP/1." in line:
                    self.methods.append(method.decode())
        self.protocol.data_received(data)

    def written(self) -> bytes:
        """All bytes the server wrote so far."""
        self.received += self.transport.take()
        return self.received

    def responses(self) -> list[Parsed]:
        """The complete responses written so far."""
        parsed, _ = parse_responses(self.written(), self.methods, self.transport.closed)
        return parsed

    async def wait_responses(self, count: int, timeout: float = 5.0) -> list[Parsed]:
        """Wait for `count` complete responses (interim 100s count too)."""
        await wait_until(lambda: len(self.responses()) >= count, timeout)
        return self.responses()

    async def wait_closed(self, timeout: float = 5.0) -> bytes:
        """Wait until the server closes the transport; everything it wrote."""
        await wait_until(lambda: self.transport.closed, timeout)
        if not self.protocol.closed:
            self.protocol.connection_lost(None)
        return self.written()

    async def settle(self, turns: int = 20) -> None:
        """Give the loop a few turns (and worker threads a moment)."""
        for _ in range(turns):
            await asyncio.sleep(0.001)

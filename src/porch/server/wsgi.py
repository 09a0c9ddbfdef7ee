"""WSGI (PEP 3333): the application runs in a bounded thread pool, never on the event loop.

The loop receives the request body (see porch.http.bodies: unless --no-request-buffering), builds
the environ and hands the request to a worker thread. The thread runs the application and crosses
back to the loop to send: once for a whole response (the common case), or once per block for a
streamed one, waiting while the client is slow (flow control).
"""

import asyncio
import io
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import IO, Any, TypeVar
from urllib.parse import unquote_to_bytes

from porch.http.bodies import receive_whole
from porch.http.errors import ClientDisconnected, HTTPError
from porch.http.native import FileRegion, RawHeaders, RequestHead
from porch.http.status import reason_phrase
from porch.server.adapters import NoLifespan, app_failed, start_task
from porch.server.cycle import Cycle
from porch.server.h1 import UNDERSCORE, InvalidResponse
from porch.server.metrics import route_from
from porch.server.requestid import REQUEST_ID
from porch.server.settings import default_of
from porch.server.types import ExcInfo, WSGIApp
from porch.version import __version__

logger = logging.getLogger("porch.error")
T = TypeVar("T")

SERVER_SOFTWARE = f"porch/{__version__}"
# A reason phrase is HTAB, SP and visible characters (RFC 9112 §4).
_BAD_REASON = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class FileWrapper:
    """`wsgi.file_wrapper`: a file the server sends zero-copy when it has a descriptor."""

    def __init__(self, filelike: IO[bytes], blksize: int = 65536) -> None:
        self.filelike = filelike
        self.blksize = blksize

    def __iter__(self) -> Iterator[bytes]:
        while block := self.filelike.read(self.blksize):
            yield block

    def close(self) -> None:
        """Close the file."""
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()


class WSGIInput(io.RawIOBase):
    """The raw stream under `wsgi.input` for a body still arriving: reads wait for the loop."""

    def __init__(self, cycle: Cycle, loop: asyncio.AbstractEventLoop) -> None:
        self._cycle = cycle
        self._loop = loop
        self._buffer = bytearray()
        self._eof = False

    def readable(self) -> bool:
        return True

    def _fill(self) -> bool:
        """Fetch the next piece of body from the loop; False at the end."""
        if self._eof:
            return False
        data = on_loop(self._loop, self._cycle.receive_body())
        if not data:
            self._eof = True
            return False
        self._buffer += data
        return True

    def readinto(self, buffer: Any) -> int:
        # What has arrived, waiting only when nothing has: readline() on an interactive
        # upload must not wait for a whole buffer's worth.
        if not self._buffer and not self._fill():
            return 0
        size = min(len(buffer), len(self._buffer))
        buffer[:size] = self._buffer[:size]
        del self._buffer[:size]
        return size

    def readall(self) -> bytes:
        while self._fill():
            pass
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


class WSGIResponse:
    """start_response and the sending of one WSGI response, on the worker thread."""

    __slots__ = ("_cycle", "_headers", "_loop", "_reason", "_sent", "_status")

    def __init__(self, cycle: Cycle, loop: asyncio.AbstractEventLoop) -> None:
        self._cycle = cycle
        self._loop = loop
        self._status = 0
        self._reason: bytes | None = None  # the application's own reason phrase
        self._headers: RawHeaders | None = None
        self._sent = False  # headers have gone to the client

    def start_response(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: ExcInfo | None = None,
    ) -> Callable[[bytes], None]:
        """PEP 3333's start_response."""
        if exc_info is not None:
            try:
                if self._sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # avoid a reference cycle
        elif self._headers is not None:
            raise AssertionError("start_response called twice without exc_info")
        if not isinstance(status, str) or len(status) < 3 or not status[:3].isdigit():
            raise InvalidResponse(f"WSGI: invalid status {status!r}")
        try:
            encoded = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
        except (AttributeError, UnicodeEncodeError, ValueError, TypeError):
            raise InvalidResponse("WSGI: headers must be (str, str) pairs in latin-1") from None
        code = int(status[:3])
        reason = status[4:]
        if reason and reason != reason_phrase(code):
            # Kept as the application wrote it ("200 OK" is the common case, and costs nothing).
            if _BAD_REASON.search(reason) is not None or not reason.isascii():
                raise InvalidResponse(f"WSGI: invalid status {status!r}")
            self._reason = reason.encode("ascii")
        else:
            self._reason = None
        self._status = code
        self._headers = encoded
        cycle = self._cycle
        if cycle.context is not None:
            # The metrics' label, read while the application still holds its request: Flask
            # lets go of its route (environ["werkzeug.request"]) before the body is sent.
            cycle.head.route = route_from(cycle.context)
        return self.write

    def write(self, data: bytes) -> None:
        """PEP 3333's legacy write(): sends a block before returning."""
        self._send(data, more=True)

    def _start(self, body_length: int | None) -> None:
        # On the loop.
        if self._headers is None:
            raise RuntimeError("WSGI: the application sent a body before start_response")
        if not self._cycle.response_started:
            self._cycle.start_response(self._status, self._headers, body_length, self._reason)

    def _send(self, data: bytes, more: bool) -> None:
        """Send a block from the worker thread and wait until it is on its way."""
        if not isinstance(data, bytes):
            raise TypeError(f"WSGI: body blocks must be bytes, not {type(data).__name__}")
        self._sent = True
        on_loop(self._loop, self._write_and_drain(data, more))

    async def _write_and_drain(self, data: bytes, more: bool) -> None:
        cycle = self._cycle
        if cycle.protocol.closed:
            raise ClientDisconnected("client disconnected")
        self._start(None if more else len(data))
        cycle.write(data, more)
        if more:
            await cycle.drain()

    def _send_whole(self, data: bytes) -> None:
        # On the loop: the whole response in one write.
        cycle = self._cycle
        try:
            self._start(len(data))
        except Exception as exc:
            app_failed(cycle, exc)
            return
        cycle.write(data, more=False)

    def _finish(self) -> None:
        # On the loop.
        cycle = self._cycle
        try:
            self._start(0)
        except Exception as exc:
            app_failed(cycle, exc)
            return
        cycle.finish()

    def run(self, app: WSGIApp, environ: dict[str, Any]) -> None:
        """Call the application and send what it returns (on the worker thread)."""
        loop = self._loop
        body = environ["wsgi.input"]
        # The thread's log records carry the request's id (the pool's threads have no task).
        token = REQUEST_ID.set(environ.get("porch.request_id", ""))
        try:
            self._run(app, environ, loop, body)
        finally:
            REQUEST_ID.reset(token)

    def _run(
        self, app: WSGIApp, environ: dict[str, Any], loop: asyncio.AbstractEventLoop, body: Any
    ) -> None:
        try:
            result = app(environ, self.start_response)
            try:
                if isinstance(result, FileWrapper) and _fileno(result.filelike) is not None:
                    self._send_file(result)
                else:
                    self._send_iterable(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except BaseException as exc:
            loop.call_soon_threadsafe(_fail, self._cycle, exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            body.close()  # a received body's memory or temporary file

    def _send_iterable(self, result: Iterable[bytes]) -> None:
        loop = self._loop
        if isinstance(result, (list, tuple)):
            # PERF: a complete body crosses to the loop once, and goes out in one write.
            loop.call_soon_threadsafe(self._send_whole, b"".join(result))
            return
        iterator = iter(result)
        for block in iterator:
            if not block:
                continue
            if not self._sent and self._declares_length(len(block)):
                # PERF: a first block that fills the declared Content-Length ends the body
                # (the iterator may only yield b"" more), so it goes out whole, in one hop.
                rest = b"".join(iterator)
                loop.call_soon_threadsafe(self._send_whole, block + rest)
                return
            self._send(block, more=True)
        loop.call_soon_threadsafe(self._finish)

    def _declares_length(self, size: int) -> bool:
        for name, value in self._headers or ():
            if name.lower() == b"content-length":
                return value.strip() == str(size).encode()
        return False

    def _send_file(self, wrapper: FileWrapper) -> None:
        file = wrapper.filelike
        fd = _fileno(file)
        assert fd is not None
        offset = file.tell() if hasattr(file, "tell") else 0
        count = os.fstat(fd).st_size - offset
        for name, value in self._headers or ():
            if name.lower() == b"content-length" and value.strip().isdigit():
                count = min(count, int(value))
        self._sent = True
        region = FileRegion(os.dup(fd), offset, max(count, 0))
        on_loop(self._loop, self._send_region(region))

    async def _send_region(self, region: FileRegion) -> None:
        try:
            self._start(region.count)
        except BaseException:
            region.close()
            raise
        await self._cycle.send_file(region)


def on_loop(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on the loop from a worker thread, and wait for its result."""
    try:
        future = asyncio.run_coroutine_threadsafe(coro, loop)
    except RuntimeError:
        # The loop is closed: the server stopped without waiting for this (cut) request.
        coro.close()
        raise ClientDisconnected("the server has stopped") from None
    return future.result()


def _fail(cycle: Cycle, exc: BaseException) -> None:
    if isinstance(exc, HTTPError) and not cycle.response_started:
        cycle.send_error(exc.status, exc.detail)
    else:
        app_failed(cycle, exc)


def _fileno(file: Any) -> int | None:
    try:
        fd = file.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    return fd if isinstance(fd, int) else None


class WSGIAdapter:
    """Serves a WSGI application from a pool of `threads` threads."""

    cycle_class = Cycle
    runs_inline = False  # the pool's threads run the application
    websocket_refusal = "WSGI applications cannot take WebSocket connections"

    def __init__(
        self,
        app: WSGIApp,
        loop: asyncio.AbstractEventLoop,
        threads: int = default_of("threads"),
        multiprocess: bool = False,
        request_buffering: bool = default_of("request_buffering"),
        executor: Executor | None = None,
    ) -> None:
        self.app = app
        self.loop = loop
        # Its own pool, unless it runs in a hosting application's (porch.server.hosted).
        self.executor = executor or ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="porch-wsgi"
        )
        self.threads = threads
        # Requests handed to the pool (counted on the loop) and done (by the pool's threads,
        # under the lock): the difference is the pool's load, for the metrics.
        self._submitted = 0
        self._done = 0
        self._done_lock = threading.Lock()
        self.multiprocess = multiprocess
        self.request_buffering = request_buffering
        self.lifespan = NoLifespan()

    def environ(self, cycle: Cycle) -> dict[str, Any]:
        """The PEP 3333 environ of a request whose body is still arriving or all there."""
        if cycle.body_complete:
            # PERF: a body that has all arrived is handed over whole, no thread hops to read it.
            wsgi_input: IO[bytes] = io.BytesIO(cycle.take_body())
        else:
            wsgi_input = io.BufferedReader(WSGIInput(cycle, self.loop))
        return build_environ(cycle.head, wsgi_input, self.multiprocess)

    def run(self, cycle: Cycle) -> None:
        """Hand a request to the pool; first receive its body, unless it is all there."""
        if cycle.body_complete or not self.request_buffering:
            self._submit(cycle, self.environ(cycle))
        else:
            cycle.task = start_task(self.loop, self._receive_then_run(cycle))

    async def _receive_then_run(self, cycle: Cycle) -> None:
        # A slow client costs this connection only, never one of the pool's threads.
        try:
            body = await receive_whole(cycle.stream())
        except (Exception, asyncio.CancelledError) as exc:
            # The body broke off (the server has answered: 413, 408, 400) or the client left.
            app_failed(cycle, exc)
            return
        self._submit(cycle, build_environ(cycle.head, body, self.multiprocess))

    def _submit(self, cycle: Cycle, environ: dict[str, Any]) -> None:
        if cycle.protocol.config.metrics is not None:
            cycle.context = environ  # where the application says which route answered
        response = WSGIResponse(cycle, self.loop)
        self._submitted += 1
        self.executor.submit(self._run, response, environ)

    def _run(self, response: WSGIResponse, environ: dict[str, Any]) -> None:
        # On a pool thread.
        try:
            response.run(self.app, environ)
        finally:
            with self._done_lock:
                self._done += 1

    def pool_usage(self) -> tuple[int, int, int]:
        """The pool's threads, those running a request, and requests waiting for one."""
        load = self._submitted - self._done
        busy = min(load, self.threads)
        return self.threads, busy, load - busy

    async def startup(self) -> None:
        """WSGI has no startup events."""

    async def shutdown(self) -> None:
        """Stop the pool, without waiting for threads still running requests that were cut.

        Their connections are gone; nothing will stop an application stuck in them. The server
        gives running threads a moment, then exits without them.
        """
        self.executor.shutdown(wait=False, cancel_futures=True)


def build_environ(
    head: RequestHead, wsgi_input: IO[bytes], multiprocess: bool = False
) -> dict[str, Any]:
    """The PEP 3333 environ of a request head, reading its body from `wsgi_input`."""
    # PEP 3333: native strings hold the bytes of the URL, decoded as latin-1.
    script_name = head.root_path.rstrip("/").encode("utf-8").decode("latin-1")
    # PEP 3333: the decoded path's bytes, as latin-1 text.
    path = unquote_to_bytes(head.raw_path).decode("latin-1")
    if script_name and (path == script_name or path.startswith(script_name + "/")):
        path = path[len(script_name) :]
    server = head.server or ("", None)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": head.method,
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path,
        "QUERY_STRING": head.query.decode("latin-1"),
        "RAW_URI": head.target.decode("latin-1"),
        "REQUEST_URI": head.target.decode("latin-1"),
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1]) if server[1] is not None else "0",
        "SERVER_PROTOCOL": "HTTP/" + head.http_version,
        "SERVER_SOFTWARE": SERVER_SOFTWARE,
        "wsgi.version": (1, 0),
        "porch.request_id": head.request_id,
        "wsgi.url_scheme": head.scheme,
        "wsgi.input": wsgi_input,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": multiprocess,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
        "wsgi.file_wrapper": FileWrapper,
    }
    if head.client is not None:
        environ["REMOTE_ADDR"], port = head.client
        environ["REMOTE_PORT"] = str(port)
    for name, value in head.headers:
        if UNDERSCORE in name:
            # CGI turns '-' into '_': a header spelled with '_' could pass for another.
            continue
        text = value.decode("latin-1")
        if name == b"content-type":
            # Repeated, the first counts, as ASGI frameworks read it (gunicorn's 041).
            environ.setdefault("CONTENT_TYPE", text)
            continue
        if name == b"content-length":
            environ["CONTENT_LENGTH"] = text
            continue
        key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
        if key in environ:
            separator = "; " if key == "HTTP_COOKIE" else ","
            environ[key] = environ[key] + separator + text
        else:
            environ[key] = text
    return environ

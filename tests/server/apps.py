"""One application written three times, as ASGI, WSGI and native, so that every server
behaviour can be tested against each interface ("same test, every path").

Routes (by path):
  /            200 "hello", known length
  /echo        the request body back, known length
  /stream      b"one", b"two", b"three" with no length (chunked on 1.1, close on 1.0)
  /slow        waits 0.3 s, then "slow"
  /fast        "fast"
  /ignore      "ignored" without reading the body
  /gated       waits for `recorder.gate`, then echoes the body (flow control)
  /error       raises before the response starts
  /error-late  sends b"partial" (no length), then raises
  /close       answers with `Connection: close`
  /big         BIG_CHUNKS chunks of CHUNK bytes with no length (disconnect tests)
  /info        "METHOD PATH QUERY"
"""

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

from porch.http.native import RequestHead, Response

CHUNK = 65536
BIG_CHUNKS = 256  # 16 MiB: more than any socket buffer holds
SECRET = "secret-detail-42"


class Recorder:
    """What an application saw: events, the threads it ran on, and a gate to hold it."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.threads: list[threading.Thread] = []
        self.gate = threading.Event()

    async def wait_gate(self) -> None:
        while not self.gate.is_set():
            await asyncio.sleep(0.002)

    @contextlib.contextmanager
    def held(self, url: str, count: int = 1) -> Iterator[None]:
        """`count` requests to `url`/gated, each from a thread of its own, held at the gate
        until the block ends; then let through, and waited for."""
        threads = [
            threading.Thread(target=httpx.post, args=(url + "/gated",), kwargs={"content": b"x"})
            for _ in range(count)
        ]
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            self.gate.set()
            for thread in threads:
                thread.join(10)


# ASGI.


def asgi_app(recorder: Recorder) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return  # no lifespan support: auto mode moves on
        recorder.threads.append(threading.current_thread())
        path = scope["path"]

        async def read_body() -> bytes:
            body = b""
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    recorder.events.append("disconnect")
                    raise OSError("disconnected")
                body += message.get("body", b"")
                if not message.get("more_body", False):
                    return body

        async def respond(body: bytes, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"text/plain"), *headers],
                }
            )
            await send({"type": "http.response.body", "body": body})

        async def stream(chunks: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            try:
                for chunk in chunks:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    recorder.events.append("chunk")
                await send({"type": "http.response.body", "body": b""})
            except OSError:
                recorder.events.append("stopped")
                raise

        if path == "/":
            await respond(b"hello")
        elif path == "/echo":
            await respond(await read_body())
        elif path == "/stream":
            await stream([b"one", b"two", b"three"])
        elif path == "/slow":
            await asyncio.sleep(0.3)
            await respond(b"slow")
        elif path == "/fast":
            await respond(b"fast")
        elif path == "/ignore":
            await respond(b"ignored")
        elif path == "/gated":
            await recorder.wait_gate()
            await respond(await read_body())
        elif path == "/error":
            raise RuntimeError(SECRET)
        elif path == "/error-late":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"partial", "more_body": True})
            raise RuntimeError(SECRET)
        elif path == "/close":
            await respond(b"bye", ((b"connection", b"close"),))
        elif path == "/big":
            await stream(b"x" * CHUNK for _ in range(BIG_CHUNKS))
        elif path == "/info":
            query = scope["query_string"].decode()
            await respond(f"{scope['method']} {path} {query}".encode())
        else:
            raise AssertionError(path)

    return app


# WSGI.


class ClosingIterable:
    """A WSGI body that records its close()."""

    def __init__(self, recorder: Recorder, chunks: Any) -> None:
        self.recorder = recorder
        self.chunks = chunks
        self.finished = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            yield chunk
            self.recorder.events.append("chunk")
        self.finished = True

    def close(self) -> None:
        self.recorder.events.append("closed" if self.finished else "stopped")


def wsgi_app(recorder: Recorder) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        recorder.threads.append(threading.current_thread())
        path = environ["PATH_INFO"]

        def respond(body: bytes, headers: tuple[tuple[str, str], ...] = ()) -> list[bytes]:
            start_response(
                "200 OK",
                [("Content-Type", "text/plain"), ("Content-Length", str(len(body))), *headers],
            )
            return [body]

        if path == "/":
            return respond(b"hello")
        if path == "/echo":
            return respond(environ["wsgi.input"].read())
        if path == "/stream":
            start_response("200 OK", [])
            return ClosingIterable(recorder, [b"one", b"two", b"three"])
        if path == "/slow":
            time.sleep(0.3)
            return respond(b"slow")
        if path == "/fast":
            return respond(b"fast")
        if path == "/ignore":
            return respond(b"ignored")
        if path == "/gated":
            recorder.gate.wait(10)
            return respond(environ["wsgi.input"].read())
        if path == "/error":
            raise RuntimeError(SECRET)
        if path == "/error-late":
            start_response("200 OK", [])

            def late() -> Iterator[bytes]:
                yield b"partial"
                raise RuntimeError(SECRET)

            return late()
        if path == "/close":
            return respond(b"bye", (("Connection", "close"),))
        if path == "/big":
            start_response("200 OK", [])
            return ClosingIterable(recorder, (b"x" * CHUNK for _ in range(BIG_CHUNKS)))
        if path == "/info":
            text = f"{environ['REQUEST_METHOD']} {path} {environ['QUERY_STRING']}"
            return respond(text.encode())
        raise AssertionError(path)

    return app


# Native.


class NativeApp:
    """The same routes through `__porch_http__`."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def __porch_http__(self, head: RequestHead, body: Any) -> Any:
        self.recorder.threads.append(threading.current_thread())
        path = head.path
        recorder = self.recorder
        text = [(b"content-type", b"text/plain")]
        if path == "/":
            return Response(200, text, b"hello")
        if path == "/echo":
            return self._echo(body)
        if path == "/stream":
            return Response(200, [], ClosingIterable(recorder, [b"one", b"two", b"three"]))
        if path == "/slow":
            return self._slow()
        if path == "/fast":
            return Response(200, text, b"fast")
        if path == "/ignore":
            return Response(200, text, b"ignored")
        if path == "/gated":
            return self._gated(body)
        if path == "/error":
            raise RuntimeError(SECRET)
        if path == "/error-late":
            return Response(200, [], self._late())
        if path == "/close":
            return Response(200, [*text, (b"connection", b"close")], b"bye")
        if path == "/big":
            chunks = (b"x" * CHUNK for _ in range(BIG_CHUNKS))
            return Response(200, [], ClosingIterable(recorder, chunks))
        if path == "/info":
            query = head.query.decode()
            return Response(200, text, f"{head.method} {path} {query}".encode())
        raise AssertionError(path)

    async def _echo(self, body: Any) -> Response:
        return Response(200, [(b"content-type", b"text/plain")], await body.read())

    async def _slow(self) -> Response:
        await asyncio.sleep(0.3)
        return Response(200, [(b"content-type", b"text/plain")], b"slow")

    async def _gated(self, body: Any) -> Response:
        await self.recorder.wait_gate()
        return Response(200, [(b"content-type", b"text/plain")], await body.read())

    async def _late(self) -> AsyncIterator[bytes]:
        yield b"partial"
        raise RuntimeError(SECRET)


INTERFACES = ("asgi", "wsgi", "native")


def make_app(interface: str, recorder: Recorder) -> Any:
    """The application above, spoken through `interface`."""
    if interface == "asgi":
        return asgi_app(recorder)
    if interface == "wsgi":
        return wsgi_app(recorder)
    return NativeApp(recorder)

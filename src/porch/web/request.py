"""The request as handlers see it: decoded on demand, so what a handler does not touch is free.

`async def` handlers read the body with `await request.body()`, `.json()`, `.form()` or
`async for chunk in request.stream()`. `def` handlers run in a worker thread and use the same
methods under `request.sync` (`request.sync.form()`); their body is received whole before the
thread is taken (`receive_whole`), so a slow client never holds a thread.

A body larger than the application's `max_body_size` gets 413: at once when its Content-Length
says so, else as soon as that much has arrived.
"""

import asyncio
import json
from asyncio import _get_running_loop
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from porch.http.bodies import SPOOL_SIZE, SpooledBody, receive_whole
from porch.http.cookies import parse_cookies
from porch.http.errors import HTTPError
from porch.http.headers import is_json
from porch.http.native import BodyReader, RequestHead
from porch.web.datastructures import Headers, MultiDict

if TYPE_CHECKING:
    from porch.web.app import App
    from porch.web.forms import FormData
    from porch.web.router import Hooks
    from porch.web.routing import Route


class Request:
    """One HTTP request: its head, its body (read on demand) and what routing found."""

    __slots__ = (
        "_body",
        "_cookies",
        "_form",
        "_headers",
        "_json",
        "_query",
        "_reader",
        "_sent",
        "_state",
        "app",
        "head",
        "hooks",
        "loop",
        "path_params",
        "route",
    )

    def __init__(
        self,
        head: RequestHead,
        reader: BodyReader,
        app: "App | None" = None,
        path_params: dict[str, Any] | None = None,
    ) -> None:
        self.head = head
        self._reader = reader
        self.app = app
        self.path_params = path_params if path_params is not None else {}
        self.route: Route | None = None  # the route that answers, once routing found it
        self.hooks: Hooks | None = None  # what runs around the answer (see porch.web.router)
        self.loop: asyncio.AbstractEventLoop | None = None  # set where a sync handler needs it
        self._query: MultiDict | None = None
        self._headers: Headers | None = None
        self._cookies: dict[str, str] | None = None
        self._body: bytes | None = None
        self._json: Any = _UNREAD
        self._form: FormData | None = None
        self._state: SimpleNamespace | None = None
        self._sent: list[Callable[[], object]] | None = None  # see on_sent

    # The head.

    @property
    def method(self) -> str:
        """The request method, upper-case."""
        return self.head.method

    @property
    def path(self) -> str:
        """The percent-decoded path, without the application's root path."""
        return self.head.path

    @property
    def query(self) -> MultiDict:
        """The query string's parameters (`request.query.get("page", "1")`, `.getlist`)."""
        if self._query is None:
            self._query = MultiDict(parse_query(self.head.query))
        return self._query

    @property
    def headers(self) -> Headers:
        """The request headers, case-insensitive, values as latin-1 text."""
        if self._headers is None:
            self._headers = Headers(self.head.headers)
        return self._headers

    @property
    def last_event_id(self) -> str | None:
        """The Last-Event-ID a reconnecting EventSource sends: the id of the last server-sent
        event it received (see porch.web.events)."""
        return self.headers.get("last-event-id")

    @property
    def cookies(self) -> dict[str, str]:
        """The cookies the client sent."""
        if self._cookies is None:
            cookies: dict[str, str] = {}
            for name, value in self.head.headers:
                if name == b"cookie":
                    # Browsers send what scripts set as UTF-8.
                    for key, text in parse_cookies(value.decode("utf-8", "replace")).items():
                        cookies.setdefault(key, text)
            self._cookies = cookies
        return self._cookies

    @property
    def id(self) -> str:
        """The request's id (its X-Request-ID, sent back on the response) under porch run;
        "" under another server, or with --no-request-id."""
        return self.head.request_id

    @property
    def client(self) -> tuple[str, int] | None:
        """The client's (address, port), as proxies reported it when trusted."""
        return self.head.client

    @property
    def scheme(self) -> str:
        """'http' or 'https'."""
        return self.head.scheme

    @property
    def host(self) -> str:
        """The host the client asked for (the Host header), else the server's address."""
        host = self.head.header(b"host")
        if host:
            return host.decode("latin-1")
        server = self.head.server
        if server is None:
            return ""
        return server[0] if server[1] in (None, 80, 443) else f"{server[0]}:{server[1]}"

    @property
    def root_path(self) -> str:
        """The path the application is mounted at."""
        return self.head.root_path

    @property
    def base_url(self) -> str:
        """`scheme://host/root_path/`."""
        return f"{self.scheme}://{self.host}{self.root_path}/"

    @property
    def url(self) -> str:
        """The full URL: scheme, host, root path, path and query."""
        query = self.head.query
        path = self.head.raw_path.decode("latin-1")
        url = f"{self.scheme}://{self.host}{self.root_path}{path}"
        return url + "?" + query.decode("latin-1") if query else url

    @property
    def state(self) -> SimpleNamespace:
        """A namespace for what hooks and handlers pass along during this request."""
        if self._state is None:
            self._state = SimpleNamespace()
        return self._state

    def url_for(self, name: str, /, **params: Any) -> str:
        """The path of a route, under this request's root path."""
        if self.app is None:
            raise RuntimeError("url_for needs the request's application")
        return self.root_path + self.app.url_for(name, **params)

    # The body. PERF: each method is a plain one that hands out the coroutine doing the work
    # (no coroutine around a coroutine); it first checks that it is not in a def handler's
    # worker thread, where the coroutine would never be awaited (one attribute load when no
    # thread has run for the request).

    def body(self) -> Coroutine[Any, Any, bytes]:
        """The whole body."""
        if self.loop is not None and _get_running_loop() is None:
            raise _in_thread("body")
        return self._read_body()

    def stream(self) -> AsyncIterator[bytes]:
        """The body, chunk by chunk as it arrives (once; or the whole body if already read)."""
        if self.loop is not None and _get_running_loop() is None:
            raise _in_thread("stream")
        return self._stream()

    def json(self) -> Coroutine[Any, Any, Any]:
        """The body parsed as JSON; 400 if it is not JSON."""
        if self.loop is not None and _get_running_loop() is None:
            raise _in_thread("json")
        return self._read_json()

    def form(self) -> "Coroutine[Any, Any, FormData]":
        """The form fields and files (urlencoded or multipart); 400 or 415 if it is neither."""
        if self.loop is not None and _get_running_loop() is None:
            raise _in_thread("form")
        return self._read_form()

    async def _read_body(self) -> bytes:
        body = self._body
        if body is None:
            limit = self.app.max_body_size if self.app is not None else None
            if limit is None or self._declared_length(limit) is not None:
                # The server holds the body to its Content-Length: no need to count.
                body = await self._reader.read()
            else:
                body = b"".join([chunk async for chunk in self._chunks(limit)])
            self._body = body
        elif body is _STREAMED:
            raise RuntimeError(
                "the request body was already consumed by request.stream() (or a multipart "
                "form()): read body() first to keep it"
            )
        return body

    async def _stream(self) -> AsyncIterator[bytes]:
        body = self._body
        if body is None:
            # PERF: marked in `_body`, not in an attribute of its own each request would set.
            self._body = _STREAMED
            limit = self.app.max_body_size if self.app is not None else None
            async for chunk in self._chunks(limit):
                yield chunk
        elif body is _STREAMED:
            raise RuntimeError("the request body was already consumed by request.stream()")
        elif body:
            yield body

    async def _read_json(self) -> Any:
        if self._json is _UNREAD:
            content_type = self.head.header(b"content-type")
            if content_type is None or not is_json(content_type):
                # A form on another site may post "JSON" as text/plain, with no CORS preflight
                # to stop it: only a JSON media type is read as JSON.
                raise HTTPError(415, "The request body must be JSON (application/json)")
            body = await self._read_body()
            try:
                self._json = json.loads(body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise HTTPError(400, f"Invalid JSON body: {_first_line(exc)}") from None
            except RecursionError:
                raise HTTPError(400, "Invalid JSON body: nested too deeply") from None
        return self._json

    async def receive_whole(self) -> None:
        """Receive the whole body now, before a `def` handler takes a thread (in memory up to
        1 MiB, in a temporary file past it); its reads from the thread then never wait."""
        if self._body is not None or self._reader.__class__ is SpooledBody:
            return
        if not any(
            name == b"content-length" or name == b"transfer-encoding"
            for name, _ in self.head.headers
        ):
            return  # no body (a GET, say): nothing to wait for
        limit = self.app.max_body_size if self.app is not None else None
        length = self._declared_length(limit)
        if length is not None and length <= SPOOL_SIZE:
            await self._read_body()
            return
        self._reader = SpooledBody(await receive_whole(self._chunks(limit)))

    def on_sent(self, callback: Callable[[], object]) -> None:
        """Run `callback()` once the server has the response, as teardown hooks run (what
        it returns is awaited if it is awaitable; what it raises is logged)."""
        if self._sent is None:
            self._sent = [callback]
        else:
            self._sent.append(callback)

    def close(self) -> None:
        """Let a body received whole go (its temporary file, if it has one)."""
        reader = self._reader
        if isinstance(reader, SpooledBody):
            reader.close()

    def _declared_length(self, limit: int | None) -> int | None:
        """The body's Content-Length, if it has one; 413 past `limit`, 400 if malformed."""
        value = self.head.header(b"content-length")
        if value is None:
            return None
        if not value.isdigit():
            raise HTTPError(400, "Invalid Content-Length")
        if limit is not None and (len(value) > 18 or int(value) > limit):
            raise HTTPError(413, f"Request body larger than {limit} bytes")
        return int(value)

    async def _chunks(self, limit: int | None) -> AsyncIterator[bytes]:
        """The body from the reader, in pieces; 413 as soon as it passes `limit`."""
        if limit is None:
            async for chunk in self._reader.stream():
                yield chunk
            return
        self._declared_length(limit)
        received = 0
        async for chunk in self._reader.stream():
            received += len(chunk)
            if received > limit:
                raise HTTPError(413, f"Request body larger than {limit} bytes")
            yield chunk

    async def _read_form(self) -> "FormData":
        if self._form is None:
            from porch.web.forms import parse_form

            self._form = await parse_form(self)
        return self._form

    @property
    def sync(self) -> "SyncBody":
        """The body methods for `def` handlers: `request.sync.body()`, `.json()`, `.form()`."""
        return SyncBody(self)

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.head.target.decode('latin-1')!r}>"


class SyncBody:
    """The body of a request read from a worker thread: each method waits for the event loop."""

    __slots__ = ("_request",)

    def __init__(self, request: Request) -> None:
        self._request = request

    def _wait(self, coroutine: Any) -> Any:
        loop = self._request.loop
        if loop is None or _on_loop_thread(loop):
            coroutine.close()
            raise RuntimeError(
                "request.sync is for `def` handlers (they run in a worker thread); "
                "in an `async def` handler, await request.body(), .json() or .form()"
            )
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result()

    def body(self) -> bytes:
        """The whole body."""
        result: bytes = self._wait(self._request._read_body())
        return result

    def json(self) -> Any:
        """The body parsed as JSON; 400 if it is not JSON."""
        return self._wait(self._request._read_json())

    def form(self) -> "FormData":
        """The form fields and files."""
        result: FormData = self._wait(self._request._read_form())
        return result

    def stream(self) -> Iterator[bytes]:
        """The body, chunk by chunk."""
        iterator = self._request._stream().__aiter__()
        while True:
            try:
                chunk: bytes = self._wait(iterator.__anext__())
            except StopAsyncIteration:
                return
            yield chunk


def _in_thread(method: str) -> RuntimeError:
    """The error for a body method called, not awaited, from a def handler's thread."""
    kind = "an async iterator" if method == "stream" else "a coroutine"
    return RuntimeError(
        f"request.{method}() is {kind}: in a `def` handler (it runs in a worker thread), "
        f"use request.sync.{method}()"
    )


def parse_query(raw: bytes) -> list[tuple[str, str]]:
    """The (name, value) pairs of a query string, blank values kept, as parse_qsl gives them."""
    if not raw:
        return []
    text = raw.decode("latin-1")
    # PERF: most query strings escape nothing: split them (parse_qsl unquotes every piece,
    # a quarter of a typed GET's time).
    if 37 in raw or 43 in raw:  # '%', '+' (ints: see h1.NUL for why)
        return parse_qsl(text, keep_blank_values=True, encoding="utf-8")
    pairs = []
    for piece in text.split("&"):
        if piece:
            name, _, value = piece.partition("=")
            pairs.append((name, value))
    return pairs


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


class _Unread:
    def __repr__(self) -> str:
        return "<unread>"


_UNREAD: Any = _Unread()
# The body has been handed out by stream(): not kept, and not to be read again.
_STREAMED: Any = _Unread()

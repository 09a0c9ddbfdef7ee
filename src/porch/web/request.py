"""The request as handlers see it: decoded on demand, so what a handler does not touch is free.

`async def` handlers read the body with `await request.body()`, `.json()`, `.form()` or
`async for chunk in request.stream()`. `def` handlers run in a worker thread and use the same
methods under `request.sync` (`request.sync.form()`), which wait for the event loop to deliver.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from porch.http.cookies import parse_cookies
from porch.http.errors import HTTPError
from porch.http.native import BodyReader, RequestHead
from porch.web.datastructures import Headers, MultiDict

if TYPE_CHECKING:
    from porch.web.app import App
    from porch.web.forms import FormData


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
        "_state",
        "app",
        "head",
        "loop",
        "path_params",
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
        self.loop: asyncio.AbstractEventLoop | None = None  # set where a sync handler needs it
        self._query: MultiDict | None = None
        self._headers: Headers | None = None
        self._cookies: dict[str, str] | None = None
        self._body: bytes | None = None
        self._json: Any = _UNREAD
        self._form: FormData | None = None
        self._state: SimpleNamespace | None = None

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
            raw = self.head.query
            self._query = MultiDict(
                parse_qsl(raw.decode("latin-1"), keep_blank_values=True, encoding="utf-8")
                if raw
                else ()
            )
        return self._query

    @property
    def headers(self) -> Headers:
        """The request headers, case-insensitive, values as latin-1 text."""
        if self._headers is None:
            self._headers = Headers(self.head.headers)
        return self._headers

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

    # The body.

    async def body(self) -> bytes:
        """The whole body."""
        body = self._body
        if body is None:
            body = self._body = await self._reader.read()
        elif body is _STREAMED:
            raise RuntimeError(
                "the request body was already consumed by request.stream() (or a multipart "
                "form()): read body() first to keep it"
            )
        return body

    async def stream(self) -> AsyncIterator[bytes]:
        """The body, chunk by chunk as it arrives (once; or the whole body if already read)."""
        body = self._body
        if body is None:
            # PERF: marked in `_body`, not in an attribute of its own each request would set.
            self._body = _STREAMED
            async for chunk in self._reader.stream():
                yield chunk
        elif body is _STREAMED:
            raise RuntimeError("the request body was already consumed by request.stream()")
        elif body:
            yield body

    async def json(self) -> Any:
        """The body parsed as JSON; 400 if it is not JSON."""
        if self._json is _UNREAD:
            body = await self.body()
            try:
                self._json = json.loads(body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise HTTPError(400, f"Invalid JSON body: {_first_line(exc)}") from None
        return self._json

    async def form(self) -> "FormData":
        """The form fields and files (urlencoded or multipart); 400 or 415 if it is neither."""
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
        result: bytes = self._wait(self._request.body())
        return result

    def json(self) -> Any:
        """The body parsed as JSON; 400 if it is not JSON."""
        return self._wait(self._request.json())

    def form(self) -> "FormData":
        """The form fields and files."""
        result: FormData = self._wait(self._request.form())
        return result

    def stream(self) -> Iterator[bytes]:
        """The body, chunk by chunk."""
        iterator = self._request.stream().__aiter__()
        while True:
            try:
                chunk: bytes = self._wait(iterator.__anext__())
            except StopAsyncIteration:
                return
            yield chunk


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

"""Mounted applications: any native, ASGI or WSGI application served under a path prefix.

The mounted application sees the prefix as its root path (ASGI `root_path`, WSGI `SCRIPT_NAME`)
and the rest as its path. An ASGI or WSGI application is run by the server's own adapter for
it (see porch.server.hosted); whatever it speaks, its answer comes back as a native Response,
so the framework sends it the same way on both of its own paths.
"""

import asyncio
import inspect
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from porch.http.native import RequestHead
from porch.http.native import Response as NativeResponse
from porch.server.asgi import ASGIAdapter
from porch.server.hosted import host
from porch.server.loader import detect_interface
from porch.server.wsgi import WSGIAdapter

if TYPE_CHECKING:
    from porch.web.request import Request


class Mount:
    """An application served under `prefix`."""

    def __init__(self, prefix: str, app: Any, executor: Executor | None = None) -> None:
        if not prefix.startswith("/"):
            raise ValueError(f"a mount prefix must start with '/': {prefix!r}")
        self.prefix = prefix.rstrip("/")
        self.app = app
        self.executor = executor
        self.interface = detect_interface(app)
        self._adapters: ASGIAdapter | WSGIAdapter | None = None  # made on the first request

    def matches(self, path: str) -> bool:
        """Whether `path` falls under this mount."""
        prefix = self.prefix
        return path == prefix or path.startswith(prefix + "/") or not prefix

    def sub_head(self, head: RequestHead) -> RequestHead:
        """The request as the mounted application sees it."""
        encoded = self.prefix.encode()
        raw_path = head.raw_path[len(encoded) :]
        if head.raw_path.startswith(encoded) and (not raw_path or raw_path[:1] == b"/"):
            raw_path = raw_path or b"/"
        else:
            # The prefix came percent-encoded (/leg%61cy/x): the rest, from the decoded path.
            raw_path = quote(head.path[len(self.prefix) :] or "/").encode("ascii")
        sub = RequestHead(
            head.method,
            head.target,
            raw_path,
            head.query,
            head.headers,
            head.http_version,
            head.client,
            head.server,
            head.scheme,
            head.root_path + self.prefix,
        )
        return sub

    async def handle(self, request: "Request") -> NativeResponse:
        """The mounted application's answer to `request`."""
        head = self.sub_head(request.head)
        reader = request._reader
        if self.interface == "native":
            result = self.app.__porch_http__(head, reader)
            if inspect.isawaitable(result):
                result = await result
            return NativeResponse(result.status, list(result.headers), result.body)
        return await host(self._adapter(request), head, reader)

    def _adapter(self, request: "Request") -> ASGIAdapter | WSGIAdapter:
        """The server's adapter for the application, on this loop (and for WSGI, in the pool
        of the application serving the request: it may have started a new one)."""
        loop = asyncio.get_running_loop()
        executor = request.app.executor if request.app is not None else self.executor
        adapter = self._adapters
        if (
            adapter is None
            or adapter.loop is not loop
            or (isinstance(adapter, WSGIAdapter) and adapter.executor is not executor)
        ):
            if self.interface == "asgi":
                adapter = ASGIAdapter(self.app, loop, lifespan="off")
            else:
                adapter = WSGIAdapter(self.app, loop, executor=executor)
            self._adapters = adapter
        return adapter

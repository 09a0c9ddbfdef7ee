"""The application: routes and routers, hooks, error handlers, middleware, mounts, lifespan.

`App.handle(request)` is the one dispatch core. Porch's server calls it through
`__porch_http__` (the native path: no ASGI scope, messages or task per request); any ASGI
server calls it through `__call__`. Third-party ASGI middleware wrap the ASGI face only, so an
application that has some is served through ASGI by porch too (its `__porch_http__` is absent).
"""

import asyncio
import inspect
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TypeVar

import jinja2

from porch.http.errors import ClientDisconnected, HTTPError
from porch.http.headers import KNOWN_HOSTS, is_host
from porch.http.logsafe import log_safe
from porch.http.native import BodyReader, RequestHead
from porch.http.native import Response as NativeResponse
from porch.server.types import ASGIApp, Receive, Scope, Send
from porch.web.asgi import ASGIBody, head_from_scope, lifespan, send_native
from porch.web.errors import error_page
from porch.web.handlers import Handler, make_response, to_native
from porch.web.middleware.base import Middleware
from porch.web.mounts import Mount
from porch.web.request import Request
from porch.web.responses import Response
from porch.web.routing import (
    DEFAULT_CONVERTERS,
    Converter,
    Route,
    RouteError,
    RouteTable,
    allowed_methods,
    join_paths,
    local_location,
)
from porch.web.templates import make_environment

if TYPE_CHECKING:
    from porch.web.debug import DebugLock

logger = logging.getLogger("porch.error")

F = TypeVar("F", bound=Callable[..., Any])
Hook = Callable[..., Any]


class Router:
    """A group of routes under a common prefix; routers include routers."""

    def __init__(self, prefix: str = "", *, name: str | None = None) -> None:
        if prefix and not prefix.startswith("/"):
            raise RouteError(f"a router's prefix must start with '/': {prefix!r}")
        self.prefix = prefix.rstrip("/")
        self.name = name
        self._routes: list[tuple[str, Callable[..., Any], frozenset[str], str]] = []
        self._included: list[tuple[Router, str]] = []

    def route(
        self, path: str, methods: list[str] | None = None, name: str | None = None
    ) -> Callable[[F], F]:
        """Add the decorated function as the handler of `path` for `methods` (GET)."""

        def decorate(endpoint: F) -> F:
            self.add_route(path, endpoint, methods, name)
            return endpoint

        return decorate

    def add_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        methods: list[str] | None = None,
        name: str | None = None,
    ) -> None:
        """Add `endpoint` as the handler of `path` for `methods` (GET by default)."""
        if not path.startswith("/"):
            raise RouteError(f"route path {path!r} must start with '/'")
        verbs = frozenset(method.upper() for method in (methods or ["GET"]))
        route_name = name or getattr(endpoint, "__name__", None) or repr(endpoint)
        self._routes.append((path, endpoint, verbs, route_name))

    def get(self, path: str, name: str | None = None) -> Callable[[F], F]:
        """A GET route (HEAD is answered too)."""
        return self.route(path, ["GET"], name)

    def post(self, path: str, name: str | None = None) -> Callable[[F], F]:
        """A POST route."""
        return self.route(path, ["POST"], name)

    def put(self, path: str, name: str | None = None) -> Callable[[F], F]:
        """A PUT route."""
        return self.route(path, ["PUT"], name)

    def patch(self, path: str, name: str | None = None) -> Callable[[F], F]:
        """A PATCH route."""
        return self.route(path, ["PATCH"], name)

    def delete(self, path: str, name: str | None = None) -> Callable[[F], F]:
        """A DELETE route."""
        return self.route(path, ["DELETE"], name)

    def include(self, router: "Router", prefix: str = "") -> None:
        """Serve `router`'s routes here, under `prefix` and then its own prefix."""
        if router is self:
            raise RouteError("a router cannot include itself")
        self._included.append((router, prefix.rstrip("/")))

    def iter_routes(
        self, prefix: str = "", namespace: str = ""
    ) -> Iterator[tuple[str, Callable[..., Any], frozenset[str], str]]:
        """Every route of this router and those it includes: (path, endpoint, methods, name)."""
        base = prefix + self.prefix
        space = f"{namespace}{self.name}." if self.name else namespace
        for path, endpoint, methods, name in self._routes:
            yield join_paths(base, path), endpoint, methods, space + name
        for router, extra in self._included:
            yield from router.iter_routes(base + extra, space)


class App(Router):
    """A web application: `App(__name__)` looks for templates/ and static/ beside the module."""

    def __init__(
        self,
        import_name: str = "__main__",
        *,
        debug: bool | None = None,
        template_folder: str = "templates",
        static_folder: str | None = "static",
        static_url_path: str = "/static",
        threads: int = 40,
        eager: bool = True,
        max_body_size: int | None = 10 * 1024 * 1024,
    ) -> None:
        super().__init__()
        self.import_name = import_name
        # On porch's server, a handler's first step runs at once, without a task of its own
        # (see docs/framework.md); eager=False gives every request a task from the start.
        self.eager = eager
        # None: as `porch run --debug` (PORCH_DEBUG) says; off otherwise.
        self.debug = debug if debug is not None else _env_flag("PORCH_DEBUG")
        self.root_folder = _module_folder(import_name)
        self.template_folder = os.path.join(self.root_folder, template_folder)
        self.static_url_path = static_url_path.rstrip("/")
        self.state = SimpleNamespace()
        self.converters: dict[str, Converter] = dict(DEFAULT_CONVERTERS)
        self.threads = threads
        self.executor = _executor(threads)
        # The largest request body a handler may read (413 past it), under any server; None:
        # no limit of the application's own (the server's still holds).
        self.max_body_size = max_body_size
        self._error_handlers: dict[int | type[BaseException], Hook] = {}
        self._before: list[Hook] = []
        self._after: list[Hook] = []
        self._startup: list[Hook] = []
        self._shutdown: list[Hook] = []
        self._middleware: list[Middleware] = []
        self._asgi_middleware: list[tuple[Callable[..., Any], dict[str, Any]]] = []
        self._mounts: list[Mount] = []
        self._table: RouteTable | None = None
        self._chain: Callable[[Request], Awaitable[NativeResponse]] | None = None
        self._asgi: ASGIApp | None = None
        self._jinja: jinja2.Environment | None = None
        self._debug_lock: DebugLock | None = None  # made in debug mode, on first use
        if static_folder is not None:
            folder = os.path.join(self.root_folder, static_folder)
            if os.path.isdir(folder):
                self.static(self.static_url_path, folder)

    # Building the application.

    def errorhandler(self, key: int | type[BaseException]) -> Callable[[F], F]:
        """Handle an HTTP status or an exception class: `handler(request, exc)`."""

        def decorate(handler: F) -> F:
            self._error_handlers[key] = handler
            return handler

        return decorate

    def before_request(self, hook: F) -> F:
        """Run `hook(request)` before each handler; a value it returns is the response."""
        self._before.append(hook)
        self._changed()
        return hook

    def after_request(self, hook: F) -> F:
        """Run `hook(request, response)` after each handler; it may return a new response."""
        self._after.append(hook)
        self._changed()
        return hook

    def on_startup(self, hook: F) -> F:
        """Run `hook()` (sync or async) when the server starts."""
        self._startup.append(hook)
        return hook

    def on_shutdown(self, hook: F) -> F:
        """Run `hook()` (sync or async) when the server stops."""
        self._shutdown.append(hook)
        return hook

    def add_middleware(self, cls: Callable[..., Any], **options: Any) -> None:
        """Add a middleware: porch's own (GZip, CORS, TrustedHost) or any ASGI middleware.

        The last added runs first. ASGI middleware wrap the ASGI face, so porch then serves
        the application through ASGI instead of its native path.
        """
        if isinstance(cls, type) and issubclass(cls, Middleware):
            self._middleware.insert(0, cls(**options))
        else:
            self._asgi_middleware.append((cls, options))
        self._changed()

    def register_converter(self, name: str, converter: Converter) -> None:
        """Make `<name:param>` available in route paths."""
        self.converters[name] = converter
        self._changed()

    def mount(self, prefix: str, app: Any) -> None:
        """Serve any ASGI, WSGI or native application under `prefix`."""
        self._mounts.append(Mount(prefix, app, self.executor))
        self._mounts.sort(key=lambda mount: len(mount.prefix), reverse=True)

    def static(self, url_path: str, folder: str, **options: Any) -> None:
        """Serve the files of `folder` (relative to the application's module) at `url_path`."""
        from porch.server.static import StaticFiles

        folder = os.path.join(self.root_folder, folder)
        self.mount(url_path, StaticFiles(folder, **options))

    @property
    def routes(self) -> list[Route]:
        """Every route, in the order added (routers included)."""
        return list(self.table.routes)

    @property
    def mounts(self) -> list[Mount]:
        """The applications mounted under a prefix (static folders included)."""
        return list(self._mounts)

    def url_for(self, name: str, /, **params: Any) -> str:
        """The path of the route called `name` (without the root path)."""
        return self.table.url_for(name, params)

    @property
    def jinja(self) -> jinja2.Environment:
        """The Jinja2 environment of the templates/ folder."""
        if self._jinja is None:
            self._jinja = make_environment(self.template_folder, self.debug)
        return self._jinja

    @property
    def table(self) -> RouteTable:
        """The compiled route table (built on first use, and again after a change)."""
        table = self._table
        if table is None:
            table = RouteTable()
            for path, endpoint, methods, name in self.iter_routes():
                route = Route(path, endpoint, methods, name)
                table.add(route, self.converters)
                params = {s[0] for s in route.segments if not isinstance(s, str)}
                route.handler = Handler(endpoint, params)
            self._table = table
        return table

    def add_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        methods: list[str] | None = None,
        name: str | None = None,
    ) -> None:
        super().add_route(path, endpoint, methods, name)
        self._changed()

    def include(self, router: Router, prefix: str = "") -> None:
        super().include(router, prefix)
        self._changed()

    def _changed(self) -> None:
        self._table = None
        self._chain = None
        self._asgi = None

    # Serving.

    async def handle(self, request: Request) -> NativeResponse:
        """Answer one request: middleware, hooks, the handler, error pages."""
        chain = self._chain
        if chain is None:
            chain = self._chain = self._build_chain()
        try:
            return await chain(request)
        except Exception as exc:  # from a middleware: nothing else caught it
            return self._failure(request, exc)

    def _build_chain(self) -> Callable[[Request], Awaitable[NativeResponse]]:
        self.table  # noqa: B018 - compile now: a bad route fails at the first request, loudly
        chain: Callable[[Request], Awaitable[NativeResponse]] = self._respond
        for middleware in reversed(self._middleware):
            chain = self._bind(middleware, chain)
        return chain

    def _bind(
        self, middleware: Middleware, call_next: Callable[[Request], Awaitable[NativeResponse]]
    ) -> Callable[[Request], Awaitable[NativeResponse]]:
        """`middleware` around `call_next`; what it raises becomes the error's response here,
        so that the middleware outside it still see (and may change) that response."""

        async def run(request: Request) -> NativeResponse:
            try:
                return await middleware(request, call_next)
            except HTTPError as error:
                return await self._http_error(request, error)
            except Exception as exc:
                return await self._exception(request, exc)

        return run

    async def _respond(self, request: Request) -> NativeResponse:
        """The answer to a request, error pages included; it never raises an Exception."""
        try:
            route = self._route_or_unlock(request) if self.debug else self._route(request)
            if isinstance(route, Route):
                handler = route.handler
                if handler.is_async and not self._before and not self._after:
                    # PERF: the usual request (an async handler, no hooks) is awaited here:
                    # no coroutine of ours between the server and the endpoint.
                    endpoint = handler.endpoint
                    if handler.has_args:
                        value = await endpoint(**handler.arguments(request))
                    else:
                        value = await endpoint()
                    response = to_native(value, request)
                else:
                    response = await self._call_route(route, request)
            elif isinstance(route, NativeResponse):
                response = route
            else:
                response = await route
        except HTTPError as error:
            response = await self._after_error(request, await self._http_error(request, error))
        except Exception as exc:
            response = await self._after_error(request, await self._exception(request, exc))
        if request._form is not None:  # uploads are temporary files: gone once answered
            from porch.web.forms import close_uploads_after

            return close_uploads_after(response, request._form)
        return response

    async def _after_error(self, request: Request, response: NativeResponse) -> NativeResponse:
        if not self._after:
            return response
        # As Flask does: error pages pass the after_request hooks too (security headers...).
        try:
            return await self._after_hooks(request, response)
        except Exception as exc:
            return self._failure(request, exc)

    def _route(self, request: Request) -> Route | NativeResponse | Awaitable[NativeResponse]:
        """The route for a request (its path parameters set on it), or else the answer: a
        redirect, OPTIONS's, or a mount's (to be awaited). Raises HTTPError 404 or 405."""
        head = request.head
        table = self._table or self.table
        found = table.find(head.path)
        if found is None:
            for mount in self._mounts:
                if mount.matches(head.path):
                    return mount.handle(request)
            method = head.method
            path = head.path
            if (
                (method == "GET" or method == "HEAD")
                and not path.endswith("/")
                and table.find(path + "/") is not None
            ):
                # Flask's way: /teams goes to the route /teams/.
                location = local_location(request.root_path, head.raw_path + b"/", head.query)
                return NativeResponse(308, [(b"location", location)], b"")
            raise HTTPError(404)
        methods, params = found
        route = methods.get(head.method)
        if route is None:
            if head.method == "HEAD" and "GET" in methods:
                route = methods["GET"]
            else:
                allow = ", ".join(allowed_methods(methods)).encode("ascii")
                if head.method == "OPTIONS":
                    return NativeResponse(204, [(b"allow", allow)], b"")
                raise HTTPError(405, headers=[(b"allow", allow)])
        request.path_params = params
        return route

    async def _call_route(self, route: Route, request: Request) -> NativeResponse:
        """Run the before_request hooks, the handler and the after_request hooks."""
        if self._before:
            for hook in self._before:
                value = await _call(hook, request)
                if value is not None:
                    return await self._after_hooks(request, value)
        value = await route.handler.call(request, self.executor)
        if self._after:
            return await self._after_hooks(request, value)
        return to_native(value, request)

    async def _after_hooks(self, request: Request, value: Any) -> NativeResponse:
        response = make_response(value, request)
        for hook in self._after:
            replaced = await _call(hook, request, response)
            if replaced is not None:
                response = make_response(replaced, request)
        return response.finish(request)

    async def _http_error(self, request: Request, error: HTTPError) -> NativeResponse:
        handler = self._error_handlers.get(error.status) or self._handler_for(type(error))
        if handler is None:
            return error_page(request.head, error.status, error.detail, error.headers)
        return await self._handled(handler, request, error, error.status, error.headers)

    async def _exception(self, request: Request, exc: Exception) -> NativeResponse:
        handler = self._handler_for(type(exc))
        if handler is not None:
            return await self._handled(handler, request, exc, None, None)
        if isinstance(exc, ClientDisconnected):
            # Nobody is left to read an answer, and nothing went wrong here: no error logged.
            return error_page(request.head, 400, "Client disconnected")
        handler = self._error_handlers.get(500)
        if handler is None:
            return self._failure(request, exc)
        logger.error(
            "Exception in %s %s", log_safe(request.method), log_safe(request.path), exc_info=exc
        )
        return await self._handled(handler, request, exc, 500, None)

    async def _handled(
        self,
        handler: Hook,
        request: Request,
        exc: Exception,
        status: int | None,
        headers: list[tuple[bytes, bytes]] | None,
    ) -> NativeResponse:
        """An error handler's answer. A bare body it returns takes the status it handles (a
        404 page is a 404); a Response or (body, status) says its own."""
        try:
            value = await _call(handler, request, exc)
            if status is None:
                return to_native(value, request)
            response = make_response(value, request)
            if not isinstance(value, (Response, NativeResponse, tuple)):
                response.status = status
            raw = response.headers.raw
            for name, text in headers or ():
                if not any(item == name for item, _ in raw):
                    raw.append((name, text))  # Allow of a 405, WWW-Authenticate of a 401...
            return response.finish(request)
        except HTTPError as error:
            return error_page(request.head, error.status, error.detail, error.headers)
        except Exception as second:
            return self._failure(request, second)

    def _handler_for(self, kind: type[BaseException]) -> Hook | None:
        for base in kind.__mro__:
            handler = self._error_handlers.get(base)
            if handler is not None:
                return handler
        return None

    def _failure(self, request: Request, exc: BaseException) -> NativeResponse:
        """The 500 of an unhandled exception: logged; a traceback page only in debug mode."""
        logger.error(
            "Exception in %s %s", log_safe(request.method), log_safe(request.path), exc_info=exc
        )
        if self.debug:
            from porch.web.debug import is_local_request

            if is_local_request(request):
                return self._debug().failure_page(request, exc)
        return error_page(request.head, 500)

    def _debug(self) -> "DebugLock":
        """The debug page's lock; made on first use (it logs the token it makes, if any)."""
        lock = self._debug_lock
        if lock is None:
            from porch.web.debug import DebugLock

            lock = self._debug_lock = DebugLock()
        return lock

    def _route_or_unlock(
        self, request: Request
    ) -> Route | NativeResponse | Awaitable[NativeResponse]:
        """`_route`, but in debug mode the unlock path comes first, for local clients."""
        from porch.web.debug import UNLOCK_PATH, is_local_request

        if request.head.path == UNLOCK_PATH and is_local_request(request):
            return self._debug().unlock(request)
        return self._route(request)

    # The native face (porch's server).

    @property
    def __porch_http__(self) -> Callable[[RequestHead, BodyReader], Awaitable[NativeResponse]]:
        """The native entry point; absent when ASGI middleware must wrap every request."""
        if self._asgi_middleware:
            raise AttributeError("__porch_http__")
        return self._native

    def _native(self, head: RequestHead, body: BodyReader) -> Awaitable[NativeResponse]:
        request = Request(head, body, self)
        # PERF: without middleware, the answer is _respond's own coroutine (it never raises).
        answer = self.handle(request) if self._middleware else self._respond(request)
        if self.eager:
            return answer
        return asyncio.get_running_loop().create_task(answer)

    # The ASGI face.

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._asgi
        if app is None:
            app = self._serve_asgi
            for cls, options in self._asgi_middleware:
                app = cls(app, **options)
            self._asgi = app
        await app(scope, receive, send)

    async def _serve_asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            head = head_from_scope(scope)
            host = head.header(b"host")
            # Other servers pass Host on unchecked (porch's refuses a bad one): refused here
            # too, so that request.host and base_url, which links are built from, cannot name
            # another host (`example.com:@evil.example`). PERF: a set lookup for known hosts.
            if host is not None and host not in KNOWN_HOSTS and not is_host(host):
                response = error_page(head, 400, "Invalid host header")
            else:
                response = await self.handle(Request(head, ASGIBody(receive), self))
            await send_native(response, send, head)
        elif kind == "lifespan":
            await lifespan(receive, send, self.startup, self.shutdown)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1000})

    async def startup(self) -> None:
        """Compile the routes (a bad one stops the server here), then run the startup hooks
        (those of the porch applications mounted here first)."""
        self._chain = self._build_chain()
        if self.debug:
            self._debug()  # the token it makes is logged now, not at the first error
        for mount in self._mounts:
            if isinstance(mount.app, App):
                await mount.app.startup()
        for hook in self._startup:
            await _call(hook)

    async def shutdown(self) -> None:
        """Run the shutdown hooks, then let the worker threads of `def` handlers go."""
        try:
            for hook in self._shutdown:
                await _call(hook)
            for mount in self._mounts:
                if isinstance(mount.app, App):
                    await mount.app.shutdown()
        finally:
            # Idle workers end at once (a server waits for the threads left at exit); a new
            # pool, whose threads start on demand, serves the application if it starts again.
            executor, self.executor = self.executor, _executor(self.threads)
            executor.shutdown(wait=False)


async def _call(hook: Hook, *args: Any) -> Any:
    """Call a sync or async hook."""
    value = hook(*args)
    if inspect.isawaitable(value):
        value = await value
    return value


def _executor(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="porch-app")


def _module_folder(import_name: str) -> str:
    """The folder of the module `import_name` (the working directory if it has none)."""
    module = sys.modules.get(import_name)
    path = getattr(module, "__file__", None)
    return os.path.dirname(os.path.abspath(path)) if path else os.getcwd()


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")

"""The application: an outermost Router with middleware, mounts, lifespan and the dispatch core.

`App.handle(request)` is the one dispatch core. Porch's server calls it through
`__porch_http__` (the native path: no ASGI scope, messages or task per request); any ASGI
server calls it through `__call__` (see `porch.web.asgi.serve`). Third-party ASGI middleware
wrap the ASGI face only, so an application that has some is served through ASGI by porch too
(its `__porch_http__` is absent).

Around every answer (a route's, a mount's or a static file's, a redirect, an OPTIONS, a 404
or 405) run the hooks of the routers that hold the route or whose prefix covers the path:
`before_request`, then the answer, then `after_request`; `teardown_request` once the server
has the response. An exception becomes the answer of an error handler (`porch.web.errors`).
"""

import asyncio
import inspect
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TypeVar

import jinja2

from porch.http.errors import HTTPError
from porch.http.native import BodyReader, RequestHead
from porch.http.native import Response as NativeResponse
from porch.server.settings import serving
from porch.server.types import ASGIApp, Receive, Scope, Send
from porch.web.asgi import serve
from porch.web.errors import error_response, failure
from porch.web.handlers import call_hook, make_response, to_native
from porch.web.middleware.base import Middleware
from porch.web.mounts import Mount
from porch.web.request import Request
from porch.web.responses import when_sent
from porch.web.router import Hooks, Router
from porch.web.routing import (
    DEFAULT_CONVERTERS,
    Converter,
    Route,
    RouteTable,
    allowed_methods,
    local_location,
)
from porch.web.settings import Settings
from porch.web.templates import make_environment
from porch.web.websocket import WEBSOCKET

if TYPE_CHECKING:
    from porch.web.debug import DebugLock

logger = logging.getLogger("porch.error")

F = TypeVar("F", bound=Callable[..., Any])
Hook = Callable[..., Any]
# What routing found: a route, an answer (a redirect, OPTIONS's), a mount's answer to await,
# or the error to answer (404, 405), which hooks and error handlers still see.
Target = Route | NativeResponse | Awaitable[NativeResponse] | HTTPError


class App(Router):
    """A web application: `App(__name__)` looks for templates/ and static/ beside the module."""

    # PERF: what every request reads, in slots. An instance dict of over 30 names loses
    # CPython's fast attribute access (its "inline values"): the rest stays under that.
    __slots__ = (
        "_asgi",
        "_asgi_middleware",
        "_chain",
        "_middleware",
        "_mounts",
        "_table",
        "debug",
        "dependency_overrides",
        "eager",
        "executor",
        "max_body_size",
        "settings",
    )

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
        settings: type[Settings] | Settings | None = None,
        dependencies: Sequence[Any] = (),
        title: str = "Porch application",
        version: str = "0.1.0",
        description: str | None = None,
        openapi_url: str | None = "/openapi.json",
        docs_url: str | None = "/docs",
    ) -> None:
        super().__init__(dependencies=dependencies)
        self.import_name = import_name
        # On porch's server, a handler's first step runs at once, without a task of its own
        # (see docs/framework.md); eager=False gives every request a task from the start.
        self.eager = eager
        self.root_folder = _module_folder(import_name)
        # The application's settings, read now: a bad value stops it here, naming the
        # variable. A Settings class is read from the environment and the .env beside the app.
        if settings is None or isinstance(settings, type):
            # The built-in Settings unless told: DATABASE_URL and the rest apply to any app.
            kind = settings or Settings
            settings = kind.load(env_file=os.path.join(self.root_folder, ".env"))
        self.settings: Settings = settings
        # None: as `porch run --debug` (PORCH_DEBUG) or the application's settings (DEBUG) say.
        if debug is None:
            server = serving()
            debug = (server is not None and server.debug) or self.settings.debug
        self.debug = debug
        # Replacements for dependencies, in tests: `app.dependency_overrides[real] = fake`.
        self.dependency_overrides: dict[Callable[..., Any], Callable[..., Any]] = {}
        # What the OpenAPI document says of the application, and where it and its page are.
        self.title = title
        self.version = version
        self.description = description
        self.openapi_url = openapi_url
        self.docs_url = docs_url
        self.template_folder = os.path.join(self.root_folder, template_folder)
        self.static_url_path = static_url_path.rstrip("/")
        self.state = SimpleNamespace()
        self.converters: dict[str, Converter] = dict(DEFAULT_CONVERTERS)
        self.threads = threads
        self.executor = _executor(threads)
        # The largest request body a handler may read (413 past it), under any server; None:
        # no limit of the application's own (the server's still holds).
        self.max_body_size = max_body_size
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
            layers = list(self.walk())
            table = RouteTable(layers[0][1])
            for prefix, hooks, routes in layers:
                table.add_prefix(prefix, hooks)
                for route in routes:
                    table.add(route, self.converters)
            if self.openapi_url is not None:
                from porch.web.docs import serve_docs

                serve_docs(self, table)  # the OpenAPI document and the docs page
            self._table = table
        return table

    def _changed(self) -> None:
        self._table = None
        self._chain = None
        self._asgi = None

    @property
    def debug_lock(self) -> "DebugLock":
        """The debug page's lock; made on first use (it logs the token it makes, if any)."""
        lock = self._debug_lock
        if lock is None:
            from porch.web.debug import DebugLock

            lock = self._debug_lock = DebugLock()
        return lock

    # Serving.

    async def handle(self, request: Request) -> NativeResponse:
        """Answer one request: middleware, hooks, the handler, error pages."""
        chain = self._chain
        if chain is None:
            chain = self._chain = self._build_chain()
        try:
            return await chain(request)
        except Exception as exc:  # from a middleware: nothing else caught it
            return failure(self, request, exc)

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
            except Exception as exc:
                return await error_response(self, request, exc)

        return run

    async def _respond(self, request: Request) -> NativeResponse:
        """The answer to a request, error pages included; it never raises an Exception."""
        error: Exception | None = None
        try:
            target = self._route_or_unlock(request) if self.debug else self._route(request)
            if target.__class__ is Route and target.direct:
                # PERF: the usual request (no hooks) is answered here: for a plain async
                # handler, no coroutine of ours between the server and the endpoint.
                value = await target.handler.invoke(request, self.executor)
                response = to_native(value, request)
                if request._form is None and request._sent is None:
                    return response  # PERF: a direct route has no teardown hooks either
            else:
                response = await self._around(request, target)
        except Exception as exc:
            # Teardown hooks hear of an exception, not of an HTTP error (a 404), as in Flask.
            error = None if isinstance(exc, HTTPError) else exc
            response = await self._after_error(request, await error_response(self, request, exc))
        if request._form is not None:  # uploads are temporary files: gone once answered
            from porch.web.forms import close_uploads_after

            response = close_uploads_after(response, request._form)
        hooks = request.hooks
        if (hooks is not None and hooks.teardown) or request._sent is not None:
            # (PERF: made elsewhere: a closure here would make cells of this coroutine's locals.)
            response = when_sent(response, self._teardown_callback(request, hooks, error))
        return response

    async def _around(self, request: Request, target: Target) -> NativeResponse:
        """The before_request hooks, the answer, the after_request hooks."""
        hooks = request.hooks
        assert hooks is not None  # routing set them
        for hook in hooks.before:
            value = await call_hook(hook, request)
            if value is not None:
                return await self._after_hooks(request, value)
        if target.__class__ is Route:
            value = await target.handler.call(request, self.executor)
        elif isinstance(target, HTTPError):
            raise target  # a 404 or 405, after the hooks as Flask runs them
        elif isinstance(target, NativeResponse):
            value = target
        else:
            value = await target  # type: ignore[misc]
        if hooks.after:
            return await self._after_hooks(request, value)
        return to_native(value, request)

    async def _after_hooks(self, request: Request, value: Any) -> NativeResponse:
        response = make_response(value, request)
        assert request.hooks is not None  # routing set them
        for hook in request.hooks.after:
            replaced = await call_hook(hook, request, response)
            if replaced is not None:
                response = make_response(replaced, request)
        return response.finish(request)

    async def _after_error(self, request: Request, response: NativeResponse) -> NativeResponse:
        """An error page through the after_request hooks (security headers...), as Flask
        does; a hook that fails then is logged and the error page kept (a 404 stays a 404)."""
        hooks = request.hooks
        if hooks is None or not hooks.after:
            return response
        try:
            return await self._after_hooks(request, response)
        except Exception as exc:
            from porch.web.errors import log_exception

            log_exception(request, exc)
            return response

    def _teardown_callback(
        self, request: Request, hooks: Hooks | None, error: Exception | None
    ) -> Callable[[], None]:
        return lambda: self._run_teardown(request, hooks, error)

    def _run_teardown(self, request: Request, hooks: Hooks | None, error: Exception | None) -> None:
        """Run what waits for the server to have the response: the request's on_sent
        callbacks, then the teardown_request hooks; log what they raise."""

        async def run() -> None:
            from porch.web.errors import log_exception

            for callback in request._sent or ():
                try:
                    result = callback()
                    if inspect.isawaitable(result):
                        await result
                except Exception as exc:
                    log_exception(request, exc)
            for hook in hooks.teardown if hooks is not None else ():
                try:
                    await call_hook(hook, request, error)
                except Exception as exc:
                    log_exception(request, exc)

        task = asyncio.ensure_future(run())
        _teardowns.add(task)
        task.add_done_callback(_teardowns.discard)

    def _route(self, request: Request) -> Target:
        """What answers a request: its route (path parameters and hooks set on the request),
        an answer (a redirect, OPTIONS's), a mount's answer to await, or the error (404, 405)."""
        head = request.head
        table = self._table or self.table
        path = head.path
        found = table.find(path)
        if found is None:
            request.hooks = table.hooks_for(path)
            for mount in self._mounts:
                if mount.matches(path):
                    return mount.handle(request)
            method = head.method
            if (
                (method == "GET" or method == "HEAD")
                and not path.endswith("/")
                and table.find(path + "/") is not None
            ):
                # Flask's way: /teams goes to the route /teams/.
                location = local_location(request.root_path, head.raw_path + b"/", head.query)
                return NativeResponse(308, [(b"location", location)], b"")
            return HTTPError(404)
        methods, params = found
        route = methods.get(head.method)
        if route is None:
            if methods.keys() == {WEBSOCKET}:
                request.hooks = table.hooks_for(path)
                return HTTPError(404)  # only a WebSocket route here: nothing for HTTP
            if head.method == "HEAD" and "GET" in methods:
                route = methods["GET"]
            else:
                request.hooks = next(iter(methods.values())).hooks
                allow = ", ".join(allowed_methods(methods)).encode("ascii")
                if head.method == "OPTIONS":
                    return NativeResponse(204, [(b"allow", allow)], b"")
                return HTTPError(405, headers=[(b"allow", allow)])
        request.path_params = params
        request.route = route
        head.route = route.path  # the server's metrics count requests by it
        request.hooks = route.hooks
        return route

    def _route_or_unlock(self, request: Request) -> Target:
        """`_route`, but in debug mode the unlock path comes first, for local clients."""
        from porch.web.debug import UNLOCK_PATH, is_local_request

        if request.head.path == UNLOCK_PATH and is_local_request(request):
            request.hooks = (self._table or self.table).hooks
            return self.debug_lock.unlock(request)
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

            async def entry(scope: Scope, receive: Receive, send: Send) -> None:
                await serve(self, scope, receive, send)

            app = entry
            for cls, options in self._asgi_middleware:
                app = cls(app, **options)
            self._asgi = app
        await app(scope, receive, send)

    async def startup(self) -> None:
        """Compile the routes (a bad one stops the server here), then run the startup hooks
        (those of the porch applications mounted here first)."""
        self._chain = self._build_chain()
        if self.debug:
            self.debug_lock  # noqa: B018 - the token it makes is logged now, not at an error
        for mount in self._mounts:
            if isinstance(mount.app, App):
                await mount.app.startup()
        for hook in self._startup:
            await call_hook(hook)

    async def shutdown(self) -> None:
        """Run the shutdown hooks, then let the worker threads of `def` handlers go."""
        try:
            for hook in self._shutdown:
                await call_hook(hook)
            for mount in self._mounts:
                if isinstance(mount.app, App):
                    await mount.app.shutdown()
        finally:
            # Idle workers end at once (a server waits for the threads left at exit); a new
            # pool, whose threads start on demand, serves the application if it starts again.
            executor, self.executor = self.executor, _executor(self.threads)
            executor.shutdown(wait=False)


# Teardown tasks still running (held, so that none is collected half-way).
_teardowns: set["asyncio.Task[None]"] = set()


def _executor(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="porch-app")


def _module_folder(import_name: str) -> str:
    """The folder of the module `import_name` (the working directory if it has none)."""
    module = sys.modules.get(import_name)
    path = getattr(module, "__file__", None)
    return os.path.dirname(os.path.abspath(path)) if path else os.getcwd()

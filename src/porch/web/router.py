"""Routers: groups of routes under a prefix, with their own hooks, error handlers, tags and
dependencies, as Flask's blueprints; an App is the outermost router.

A route is stored as a `Route` object that carries what it says of itself (methods, name,
status, tags, response model, dependencies...), which the route table, the OpenAPI document and
later the admin read. Its handler's signature is compiled when the route is added, so that a
parameter porch cannot bind is an error at `@router.get(...)`, not at the first request.

Hooks and error handlers apply to the routes of the router that holds them and of the routers
it includes, and to the paths under its prefix that match no route (a 404 or 405 there is
answered by the innermost router whose prefix covers the path): `before_request` hooks run
outermost first, `after_request` and `teardown_request` hooks innermost first, and an error
handler is looked for innermost first.
"""

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from porch.web.handlers import Handler
from porch.web.routing import Route, RouteError, join_paths, template_parameters

F = TypeVar("F", bound=Callable[..., Any])
Hook = Callable[..., Any]


class Hooks:
    """What runs around a request for one chain of routers, outermost to innermost."""

    __slots__ = ("after", "before", "handlers", "teardown")

    def __init__(self, routers: Sequence["Router"]) -> None:
        self.before = tuple(hook for router in routers for hook in router._before)
        inner_first = list(reversed(routers))
        self.after = tuple(hook for router in inner_first for hook in router._after)
        self.teardown = tuple(hook for router in inner_first for hook in router._teardown)
        self.handlers = tuple(router._error_handlers for router in inner_first)

    def handler_for(self, error: BaseException, status: int | None) -> Hook | None:
        """The error handler for `error` (by `status` first, then by exception class)."""
        for handlers in self.handlers:
            if status is not None and status in handlers:
                return handlers[status]
            for base in type(error).__mro__:
                handler = handlers.get(base)
                if handler is not None:
                    return handler
        return None


class Router:
    """A group of routes under a common prefix; routers include routers."""

    def __init__(
        self,
        prefix: str = "",
        *,
        name: str | None = None,
        tags: Sequence[str] = (),
        dependencies: Sequence[Any] = (),
        responses: Mapping[int, Any] | None = None,
    ) -> None:
        if prefix and not prefix.startswith("/"):
            raise RouteError(f"a router's prefix must start with '/': {prefix!r}")
        self.prefix = prefix.rstrip("/")
        self.name = name
        self.tags = tuple(tags)
        self.dependencies = tuple(dependencies)
        self.responses = dict(responses or {})  # for every route below, in the document
        self._routes: list[Route] = []
        self._included: list[tuple[Router, str]] = []
        self._error_handlers: dict[int | type[BaseException], Hook] = {}
        self._before: list[Hook] = []
        self._after: list[Hook] = []
        self._teardown: list[Hook] = []

    # Routes.

    def route(
        self, path: str, methods: list[str] | None = None, name: str | None = None, **options: Any
    ) -> Callable[[F], F]:
        """Add the decorated function as the handler of `path` for `methods` (GET).

        `options` describe the route: `status` (of a successful answer), `tags`, `summary`,
        `description`, `response_model`, `dependencies`, `deprecated`, `include_in_schema`,
        `operation_id`.
        """

        _check_options(options)

        def decorate(endpoint: F) -> F:
            self.add_route(path, endpoint, methods, name, **options)
            return endpoint

        return decorate

    def add_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        methods: list[str] | None = None,
        name: str | None = None,
        **options: Any,
    ) -> Route:
        """Add `endpoint` as the handler of `path` for `methods` (GET by default)."""
        if not path.startswith("/"):
            raise RouteError(f"route path {path!r} must start with '/'")
        _check_options(options)
        verbs = frozenset(method.upper() for method in (methods or ["GET"]))
        route_name = name or getattr(endpoint, "__name__", None) or repr(endpoint)
        options["tags"] = tuple(options.get("tags", ()))
        options["dependencies"] = tuple(options.get("dependencies", ()))
        route = Route(path, endpoint, verbs, route_name, **options)
        # Compiled now: a parameter that nothing can give is an error here, naming it.
        route.handler = _compile(route, template_parameters(self.prefix + path), route.dependencies)
        self._routes.append(route)
        self._changed()
        return route

    def get(self, path: str, name: str | None = None, **options: Any) -> Callable[[F], F]:
        """A GET route (HEAD is answered too)."""
        return self.route(path, ["GET"], name, **options)

    def post(self, path: str, name: str | None = None, **options: Any) -> Callable[[F], F]:
        """A POST route."""
        return self.route(path, ["POST"], name, **options)

    def put(self, path: str, name: str | None = None, **options: Any) -> Callable[[F], F]:
        """A PUT route."""
        return self.route(path, ["PUT"], name, **options)

    def patch(self, path: str, name: str | None = None, **options: Any) -> Callable[[F], F]:
        """A PATCH route."""
        return self.route(path, ["PATCH"], name, **options)

    def delete(self, path: str, name: str | None = None, **options: Any) -> Callable[[F], F]:
        """A DELETE route."""
        return self.route(path, ["DELETE"], name, **options)

    def websocket(
        self, path: str, name: str | None = None, dependencies: Sequence[Any] = ()
    ) -> Callable[[F], F]:
        """A WebSocket route: the decorated `async def` gets the connection as its `WebSocket`
        parameter, and path, query, header and cookie parameters and dependencies as an HTTP
        route's (see porch.web.websocket)."""
        from porch.web.signature import is_async_callable
        from porch.web.websocket import WEBSOCKET

        def decorate(endpoint: F) -> F:
            if not is_async_callable(endpoint):
                raise RouteError(f"WebSocket handler {endpoint.__name__} must be an async def")
            route = self.add_route(
                path,
                endpoint,
                [WEBSOCKET],
                name,
                dependencies=dependencies,
                include_in_schema=False,
            )
            if route.handler.signature.body:
                raise RouteError(
                    f"WebSocket handler {endpoint.__name__} takes a body parameter: a handshake "
                    "has no body (receive messages instead)"
                )
            return endpoint

        return decorate

    def include(self, router: "Router", prefix: str = "") -> None:
        """Serve `router`'s routes here, under `prefix` and then its own prefix."""
        if router is self:
            raise RouteError("a router cannot include itself")
        self._included.append((router, prefix.rstrip("/")))
        self._changed()

    # Hooks and error handlers.

    def errorhandler(self, key: int | type[BaseException]) -> Callable[[F], F]:
        """Handle an HTTP status or an exception class: `handler(request, exc)`."""

        def decorate(handler: F) -> F:
            self._error_handlers[key] = handler
            self._changed()
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

    def teardown_request(self, hook: F) -> F:
        """Run `hook(request, exc)` once the response is handed to the server (`exc`: the
        unhandled exception, or None); what it raises is logged."""
        self._teardown.append(hook)
        self._changed()
        return hook

    def _changed(self) -> None:
        """Something changed that a compiled table depends on (the App rebuilds its own)."""

    # What the route table is built from.

    def walk(
        self,
        prefix: str = "",
        namespace: str = "",
        outer: tuple["Router", ...] = (),
        tags: tuple[str, ...] = (),
        dependencies: tuple[Any, ...] = (),
        responses: Mapping[int, Any] | None = None,
    ) -> Iterator[tuple[str, Hooks, list[Route]]]:
        """For this router and every router it includes: its full prefix, the hooks that apply
        under it, and its routes as they are served (full path and name, inherited tags and
        dependencies)."""
        base = prefix + self.prefix
        space = f"{namespace}{self.name}." if self.name else namespace
        chain = (*outer, self)
        hooks = Hooks(chain)
        tags = (*tags, *self.tags)
        dependencies = (*dependencies, *self.dependencies)
        responses = {**(responses or {}), **self.responses}
        routes = []
        for route in self._routes:
            full_path = join_paths(base, route.path)
            served = dataclasses.replace(
                route,
                path=full_path,
                name=space + route.name,
                tags=(*tags, *route.tags),
                dependencies=(*dependencies, *route.dependencies),
                responses={**responses, **(route.responses or {})} or None,
                hooks=hooks,
            )
            names = template_parameters(full_path)
            if names != route.handler.path_params or served.dependencies != route.dependencies:
                # An including router adds parameters (its prefix) or dependencies: compiled
                # again, with them.
                served.handler = _compile(route, names, served.dependencies)
            served.direct = not (hooks.before or hooks.after or hooks.teardown)
            routes.append(served)
        yield base, hooks, routes
        for router, extra in self._included:
            yield from router.walk(base + extra, space, chain, tags, dependencies, responses)


_ROUTE_OPTIONS = frozenset(
    field.name for field in dataclasses.fields(Route) if field.metadata.get("option")
)


def _compile(
    route: Route, path_params: Mapping[str, type | None], dependencies: tuple[Any, ...]
) -> Handler:
    return Handler(
        route.endpoint,
        path_params,
        response_model=route.response_model,
        status=route.status,
        dependencies=dependencies,
    )


def _check_options(options: dict[str, Any]) -> None:
    unknown = set(options) - _ROUTE_OPTIONS
    if unknown:
        raise TypeError(
            f"unknown route option(s): {', '.join(sorted(unknown))} (a route takes "
            f"{', '.join(sorted(_ROUTE_OPTIONS))})"
        )

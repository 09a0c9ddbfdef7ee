"""Calling handlers: which arguments they take, and what their return values become.

A handler's signature is read once, when its route is added: a parameter named `request` (or
annotated `Request`) gets the request, one named like a path parameter gets its converted value,
and one with a default is left to it. Anything else is an error at once, not at request time.

Return values: `str` is HTML, `bytes` application/octet-stream, dict/list/dataclass/msgspec
struct JSON, a `Response` itself, `(body, status)`, `(body, headers)` or `(body, status,
headers)`, `None` 204.
"""

import asyncio
import contextvars
import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from typing import Any

import msgspec

from porch.http.headers import HeaderBlock
from porch.http.native import Response as NativeResponse
from porch.web.request import Request
from porch.web.responses import (
    HTMLResponse,
    JSONResponse,
    Response,
    encode_json,
)
from porch.web.routing import RouteError

# PERF: the headers of the common answers, checked and encoded once for all responses.
HTML_HEADERS = HeaderBlock([(b"content-type", b"text/html; charset=utf-8")])
JSON_HEADERS = HeaderBlock([(b"content-type", b"application/json")])
BYTES_HEADERS = HeaderBlock([(b"content-type", b"application/octet-stream")])
NO_CONTENT = NativeResponse(204, HeaderBlock([]), b"")


class Handler:
    """A route's endpoint with its arguments worked out."""

    __slots__ = (
        "endpoint",
        "has_args",
        "is_async",
        "name",
        "path_args",
        "path_params",
        "wants_request",
    )

    def __init__(self, endpoint: Callable[..., Any], path_params: frozenset[str]) -> None:
        self.endpoint = endpoint
        self.path_params = path_params  # the route's, which it was compiled against
        self.name = getattr(endpoint, "__qualname__", repr(endpoint))
        target = endpoint.func if isinstance(endpoint, functools.partial) else endpoint
        call = getattr(target, "__call__", None)  # noqa: B004 - callable objects count too
        self.is_async = inspect.iscoroutinefunction(target) or (
            not inspect.isfunction(target) and inspect.iscoroutinefunction(call)
        )
        self.wants_request: str | None = None
        path_args: list[str] = []
        try:
            hints = typing.get_type_hints(target)
        except Exception:
            hints = {}
        for parameter in inspect.signature(endpoint).parameters.values():
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            if parameter.name == "request" or hints.get(parameter.name) is Request:
                self.wants_request = parameter.name
            elif parameter.name in path_params:
                path_args.append(parameter.name)
            elif parameter.default is parameter.empty:
                raise RouteError(
                    f"{self.name}: parameter {parameter.name!r} is neither the request nor a "
                    f"path parameter ({', '.join(sorted(path_params)) or 'none'}); give it a "
                    "default or rename it"
                )
        self.path_args = tuple(path_args)
        self.has_args = bool(self.path_args) or self.wants_request is not None

    def arguments(self, request: Request) -> dict[str, Any]:
        """The keyword arguments for one call."""
        params = request.path_params
        kwargs = {name: params[name] for name in self.path_args}
        if self.wants_request is not None:
            kwargs[self.wants_request] = request
        return kwargs

    async def call(self, request: Request, executor: Executor | None) -> Any:
        """Call the endpoint: on the loop if it is async, in a worker thread if not."""
        if self.is_async:
            return await self.endpoint(**self.arguments(request))
        return await self.call_in_thread(request, executor)

    async def call_in_thread(self, request: Request, executor: Executor | None) -> Any:
        """Call a `def` endpoint in a worker thread (the event loop is never blocked)."""
        # The body first, on the loop: a slow client must not hold a thread while it sends.
        await request.receive_whole()
        kwargs = self.arguments(request) if self.has_args else {}
        loop = asyncio.get_running_loop()
        request.loop = loop
        context = contextvars.copy_context()
        try:
            return await loop.run_in_executor(
                executor, functools.partial(context.run, self.endpoint, **kwargs)
            )
        finally:
            request.close()


async def call_hook(hook: Callable[..., Any], *args: Any) -> Any:
    """Call a sync or async hook (or error handler) and return what it returns."""
    value = hook(*args)
    if inspect.isawaitable(value):
        value = await value
    return value


def to_native(value: Any, request: Request) -> NativeResponse:
    """The native response for what a handler returned."""
    cls = value.__class__
    # PERF: the most common answers skip the Response classes altogether.
    if cls is str:
        return NativeResponse(200, HTML_HEADERS, value.encode())
    if cls is dict or cls is list:
        return NativeResponse(200, JSON_HEADERS, encode_json(value))
    if isinstance(value, Response):
        return value.finish(request)
    if cls is bytes:
        return NativeResponse(200, BYTES_HEADERS, value)
    if value is None:
        return NO_CONTENT
    if isinstance(value, NativeResponse):
        return value
    return make_response(value, request).finish(request)


def make_response(value: Any, request: Request | None = None) -> Response:
    """A Response object for what a handler (or hook) returned."""
    if isinstance(value, Response):
        return value
    if isinstance(value, tuple):
        if not 2 <= len(value) <= 3:
            raise TypeError(
                "a handler returns (body, status), (body, headers) or (body, status, headers)"
            )
        response = make_response(value[0], request)
        headers = value[-1] if len(value) == 3 else None
        if len(value) == 2 and isinstance(value[1], (Mapping, list)):
            headers = value[1]  # Flask's (body, headers)
        else:
            response.status = int(value[1])
        if headers is not None:
            items = headers.items() if isinstance(headers, Mapping) else headers
            for name, text in items:
                response.headers[name] = text
        return response
    if isinstance(value, str):
        return HTMLResponse(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Response(bytes(value), media_type="application/octet-stream")
    if value is None:
        return Response(b"", 204)
    if isinstance(value, NativeResponse):
        response = Response(b"", value.status)
        response.headers.raw.extend(value.headers)
        response.body = value.body
        return response
    render = getattr(value, "__porch_response__", None)
    if render is not None:  # render(): a template to be rendered with the request
        return make_response(render(request), request)
    if isinstance(value, (dict, list, msgspec.Struct)) or dataclasses.is_dataclass(value):
        return JSONResponse(value)
    raise TypeError(
        f"a handler returned a {type(value).__name__}: return a str, bytes, dict, list, "
        "dataclass, Response, (body, status[, headers]) or None"
    )

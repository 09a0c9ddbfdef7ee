"""Calling handlers: their arguments, worked out once (porch.web.signature) and solved per
request (porch.web.dependencies), and what their return values become.

Return values: `str` is HTML, `bytes` application/octet-stream, dict/list/dataclass/msgspec
struct/number/bool JSON, a `Response` itself, `(body, status)`, `(body, headers)` or `(body, status,
headers)`, `None` 204. A route's response model (its handler's return annotation, when that
holds a Struct, dataclass or TypedDict) converts what the handler returns into exactly the
declared fields first (`from_attributes`: ORM objects too); a route's `status` is the status
of what the handler returns unless it says its own.
"""

import asyncio
import contextvars
import dataclasses
import functools
import inspect
import logging
import typing
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from typing import Any

import msgspec

from porch.http.headers import HeaderBlock
from porch.http.native import Response as NativeResponse
from porch.web.dependencies import Solver
from porch.web.request import Request
from porch.web.responses import (
    HTMLResponse,
    JSONResponse,
    Response,
    encode_json,
)
from porch.web.routing import FROM_ANNOTATION, RouteError
from porch.web.signature import (
    SignatureError,
    bare,
    compile_signature,
    is_async_callable,
    strip_optional,
)

logger = logging.getLogger("porch.error")

# PERF: the headers of the common answers, checked and encoded once for all responses.
HTML_HEADERS = HeaderBlock([(b"content-type", b"text/html; charset=utf-8")])
JSON_HEADERS = HeaderBlock([(b"content-type", b"application/json")])
BYTES_HEADERS = HeaderBlock([(b"content-type", b"application/octet-stream")])
NO_CONTENT = NativeResponse(204, HeaderBlock([]), b"")


class Handler:
    """A route's endpoint with its arguments and response model worked out."""

    __slots__ = (
        "endpoint",
        "has_args",
        "is_async",
        "name",
        "path_args",
        "path_params",
        "plain",
        "response_model",
        "signature",
        "status",
        "wants_request",
    )

    def __init__(
        self,
        endpoint: Callable[..., Any],
        path_params: Mapping[str, type | None],
        *,
        response_model: Any = FROM_ANNOTATION,
        status: int | None = None,
        dependencies: tuple[Any, ...] = (),
    ) -> None:
        self.endpoint = endpoint
        self.path_params = path_params  # the route's, which it was compiled against
        self.name = getattr(endpoint, "__qualname__", repr(endpoint))
        self.is_async = is_async_callable(endpoint)
        try:
            self.signature = compile_signature(endpoint, path_params, dependencies)
        except SignatureError as exc:
            raise RouteError(str(exc)) from None
        self.response_model = _response_model(endpoint, response_model)
        self.status = status
        signature = self.signature
        self.wants_request = signature.request
        self.path_args = tuple(name for name, _ in signature.path)
        self.has_args = bool(self.path_args) or self.wants_request is not None
        # PERF: nothing to read, validate or convert: the endpoint is called with at most the
        # request and its path parameters, and its value taken as it is.
        self.plain = signature.plain and self.response_model is None and status is None

    def arguments(self, request: Request) -> dict[str, Any]:
        """The keyword arguments of a plain handler (the request, path parameters)."""
        params = request.path_params
        kwargs = {name: params[name] for name in self.path_args}
        if self.wants_request is not None:
            kwargs[self.wants_request] = request
        return kwargs

    def invoke(self, request: Request, executor: Executor | None) -> Awaitable[Any]:
        """What the endpoint answers, to await. PERF: for a plain async handler, its own
        coroutine: no coroutine of porch's between the server and the endpoint."""
        if self.plain and self.is_async:
            if self.has_args:
                return self.endpoint(**self.arguments(request))  # type: ignore[no-any-return]
            return self.endpoint()  # type: ignore[no-any-return]
        return self.call(request, executor)

    async def call(self, request: Request, executor: Executor | None) -> Any:
        """Call the endpoint: on the loop if it is async, in a worker thread if not; with its
        arguments solved and its return value converted by the response model."""
        if self.plain:
            if self.is_async:
                return await self.endpoint(**self.arguments(request))
            return await self.call_in_thread(request, executor, self.arguments(request))
        solver = Solver(request, executor)
        try:
            kwargs = await solver.arguments(self.signature)
            if self.is_async:
                value = await self.endpoint(**kwargs)
            else:
                value = await self.call_in_thread(request, executor, kwargs)
        except BaseException as exc:
            await solver.close(exc)
            raise
        if solver.cleanups:
            # Before the value is converted: a session commits first (and so gives new rows
            # their keys), and a commit that fails is the answer instead.
            await solver.close(None)
        if self.response_model is not None and not self.is_async:
            # What a `def` handler returns may load more as it is read (an ORM relationship):
            # read in a worker thread too, never on the event loop.
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(executor, self.convert, value)
        return self.convert(value)

    def convert(self, value: Any) -> Any:
        """A handler's value as the route answers it: through the response model, with the
        route's status."""
        if isinstance(value, (Response, NativeResponse, tuple)):
            return value  # it says its own status and body
        model = self.response_model
        if model is not None and value.__class__ is not model:
            if isinstance(value, msgspec.Struct) and typing.get_origin(model) is value.__class__:
                # Page[TeamOut] from a Page of rows: msgspec would keep a Struct of the same
                # class as it is, whatever its items; its fields are converted instead.
                value = msgspec.structs.asdict(value)
            try:
                value = msgspec.convert(value, model, from_attributes=True)
            except msgspec.ValidationError as exc:
                raise RuntimeError(
                    f"{self.name} returned what its response model "
                    f"{_type_name(model)} does not hold: {exc}"
                ) from None
        if self.status is None:
            return value
        if value is None:
            return Response(b"", self.status)
        response = make_response(value)
        response.status = self.status
        return response

    async def call_in_thread(
        self, request: Request, executor: Executor | None, kwargs: dict[str, Any]
    ) -> Any:
        """Call a `def` endpoint in a worker thread (the event loop is never blocked)."""
        # The body first, on the loop: a slow client must not hold a thread while it sends.
        await request.receive_whole()
        loop = asyncio.get_running_loop()
        request.loop = loop
        context = contextvars.copy_context()
        try:
            return await loop.run_in_executor(
                executor, functools.partial(context.run, self.endpoint, **kwargs)
            )
        finally:
            request.close()


def _response_model(endpoint: Callable[..., Any], given: Any) -> Any:
    """The type a handler's values are converted to: `given`, else its return annotation when
    that holds a Struct, dataclass or TypedDict (a dict, str or Response is sent as it is)."""
    if given is not FROM_ANNOTATION:
        return given
    target = endpoint.func if isinstance(endpoint, functools.partial) else endpoint
    try:
        model = typing.get_type_hints(target, include_extras=True).get("return")
    except Exception:
        return None
    return model if model is not None and _declares_fields(model) else None


def _declares_fields(annotation: Any) -> bool:
    """Whether a type is, or holds, a Struct, dataclass or TypedDict."""
    inner = bare(strip_optional(bare(annotation)))
    if isinstance(inner, type):
        if issubclass(inner, (Response, NativeResponse)):
            return False
        return (
            issubclass(inner, msgspec.Struct)
            or dataclasses.is_dataclass(inner)
            or typing.is_typeddict(inner)
        )
    return any(_declares_fields(arg) for arg in typing.get_args(inner))


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or repr(annotation)


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
    if (
        isinstance(value, (dict, list, int, float, msgspec.Struct))  # a bool is an int
        or dataclasses.is_dataclass(value)
    ):
        return JSONResponse(value)
    raise TypeError(
        f"a handler returned {_a(type(value).__name__)}: return a str, bytes, dict, list, "
        "number, dataclass, Struct, Response, (body, status[, headers]) or None"
    )


def _a(noun: str) -> str:
    """`noun` with its indefinite article: "an int", "a float"."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"

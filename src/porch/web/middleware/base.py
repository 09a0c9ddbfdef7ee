"""Porch's own middleware: wraps the application's dispatch, on both the native and ASGI paths.

A middleware gets the request and `call_next`, and gives back the native response
(`porch.http.Response`: status, header list or HeaderBlock, body). Unlike ASGI middleware it
keeps porch's native path: no scope, no messages, no task per request.

Never change a response's `headers` in place: a HeaderBlock, and even a whole response, may be
shared by many requests (the 204 of a handler that returns None is one object). Make a new
Response with a new header list: `Response(r.status, [*r.headers, extra], r.body)`.
"""

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from porch.http.native import Response as NativeResponse

if TYPE_CHECKING:
    from porch.web.request import Request

CallNext = Callable[["Request"], Awaitable[NativeResponse]]


class Middleware:
    """A step around each request: `await call_next(request)` gives the response to change.

    Subclasses take their options as keyword arguments: `app.add_middleware(Cls, **options)`,
    and define `async def __call__(self, request, call_next)`.
    """

    def __call__(self, request: "Request", call_next: CallNext) -> Awaitable[NativeResponse]:
        """Answer `request`; this one passes it on unchanged.

        Declared as a plain function returning an awaitable, so that a subclass may hand back
        `call_next(request)` itself when it has nothing to add (PERF: no coroutine of its own
        per request); `async def __call__` in a subclass fits this signature too.
        """
        return call_next(request)

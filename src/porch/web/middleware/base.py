"""Porch's own middleware: wraps the application's dispatch, on both the native and ASGI paths."""

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from porch.http.native import Response as NativeResponse

if TYPE_CHECKING:
    from porch.web.request import Request

CallNext = Callable[["Request"], Awaitable[NativeResponse]]


class Middleware:
    """A step around each request: `await call_next(request)` gives the response to change.

    Subclasses take their options as keyword arguments: `app.add_middleware(Cls, **options)`.
    """

    async def __call__(self, request: "Request", call_next: CallNext) -> NativeResponse:
        """Answer `request`; this one passes it on unchanged."""
        return await call_next(request)

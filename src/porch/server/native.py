"""The native adapter: calls `app.__porch_http__(head, body)` and sends the Response it gives."""

import asyncio
import contextvars
import inspect
from collections.abc import AsyncIterable, Awaitable, Coroutine, Iterable
from types import CoroutineType
from typing import Any

from porch.http.errors import HTTPError
from porch.http.native import FileRegion, NativeApp, Response, ResponseLike
from porch.server.adapters import (
    EAGER_TASKS,
    NoLifespan,
    app_failed,
    resume,
    start_task,
    step_coroutine,
)
from porch.server.asgi import serve_websocket
from porch.server.cycle import Cycle
from porch.server.h1 import InvalidResponse
from porch.server.lifespan import Lifespan


class NativeAdapter:
    """Serves an application through porch's native contract (see `porch.http.native`)."""

    cycle_class = Cycle
    runs_inline = True  # a handler that needs no wait answers within run()

    def __init__(
        self, app: NativeApp, loop: asyncio.AbstractEventLoop, lifespan: str = "auto"
    ) -> None:
        self.app = app
        self.loop = loop
        self.handler = app.__porch_http__
        # An application that is also ASGI (porch.App) gets its startup and shutdown, and its
        # WebSocket connections, through ASGI.
        asgi = _is_asgi(app)
        self.lifespan: Lifespan | NoLifespan = (
            Lifespan(app, lifespan) if asgi else NoLifespan()  # type: ignore[arg-type]
        )
        self.websocket_refusal = (
            None
            if asgi
            else "the application is served through porch's native interface, which has no "
            "WebSocket routes"
        )

    def run(self, cycle: Cycle) -> None:
        """Answer a request; without a task when the application answers at once."""
        if cycle.upgrade is not None:  # a WebSocket handshake: the application's ASGI face
            state = self.lifespan.state if isinstance(self.lifespan, Lifespan) else None
            cycle.task = start_task(self.loop, serve_websocket(self.app, cycle, state))
            return
        try:
            result = self.handler(cycle.head, cycle)
            if result.__class__ is CoroutineType and not EAGER_TASKS:
                # PERF: the application's own coroutine is stepped at once, no wrapper around
                # it; most answer in that first step, with no task (see adapters.step_coroutine).
                context = contextvars.copy_context()
                try:
                    yielded = context.run(result.send, None)
                except StopIteration as done:
                    result = done.value
                else:
                    cycle.task = self.loop.create_task(
                        self._await(cycle, resume(result, yielded)), context=context
                    )
                    return
            elif result.__class__ is not Response and isinstance(result, Awaitable):
                cycle.task = step_coroutine(self.loop, self._await(cycle, result))
                return
        except HTTPError as error:
            cycle.send_error(error.status, error.detail, error.headers)
            return
        except Exception as exc:
            app_failed(cycle, exc)
            return
        rest = self._answer(cycle, result)
        if rest is not None:
            cycle.task = step_coroutine(self.loop, rest)

    async def _await(self, cycle: Cycle, awaitable: Awaitable[ResponseLike]) -> None:
        try:
            response = await awaitable
        except HTTPError as error:
            cycle.send_error(error.status, error.detail, error.headers)
            return
        except (Exception, asyncio.CancelledError) as exc:
            # Cancelled: the connection was aborted; the request still has to be accounted for.
            app_failed(cycle, exc)
            return
        rest = self._answer(cycle, response)
        if rest is not None:
            await rest

    def _answer(self, cycle: Cycle, response: ResponseLike) -> Coroutine[Any, Any, None] | None:
        """Send a whole body now; any other body needs the coroutine returned."""
        body = getattr(response, "body", None)
        if body.__class__ is not bytes:
            return self._send(cycle, response)
        # PERF: a whole body needs neither a coroutine nor a task.
        try:
            cycle.respond(response.status, response.headers, body)
        except HTTPError as error:
            cycle.send_error(error.status, error.detail, error.headers)
        except Exception as exc:
            app_failed(cycle, exc)
        return None

    async def _send(self, cycle: Cycle, response: ResponseLike) -> None:
        """Send any kind of native body, then complete the response."""
        try:
            if response.__class__ is not Response and not isinstance(response, ResponseLike):
                raise InvalidResponse(f"native: the application returned {response!r}")
            body = response.body
            if isinstance(body, bytes):
                cycle.respond(response.status, response.headers, body)
            elif isinstance(body, FileRegion):
                try:
                    cycle.start_response(response.status, response.headers, body.count)
                except BaseException:
                    body.close()
                    raise
                await cycle.send_file(body)
            elif isinstance(body, AsyncIterable):
                cycle.start_response(response.status, response.headers)
                try:
                    if cycle.sends_body:  # a HEAD answer never runs the stream
                        async for chunk in body:
                            cycle.write(chunk, more=True)
                            await cycle.drain()
                finally:
                    await _aclose(body)
                cycle.finish()
            else:
                cycle.start_response(response.status, response.headers)
                try:
                    if cycle.sends_body:
                        for chunk in body:
                            cycle.write(chunk, more=True)
                            await cycle.drain()
                finally:
                    _close(body)
                cycle.finish()
        except HTTPError as error:
            cycle.send_error(error.status, error.detail, error.headers)
        except (Exception, asyncio.CancelledError) as exc:
            app_failed(cycle, exc)

    async def startup(self) -> None:
        """Run the application's startup (through ASGI lifespan, if it speaks ASGI)."""
        await self.lifespan.startup()

    async def shutdown(self) -> None:
        """Run the application's shutdown."""
        await self.lifespan.shutdown()


def _is_asgi(app: Any) -> bool:
    return callable(app) and inspect.iscoroutinefunction(type(app).__call__)


async def _aclose(body: AsyncIterable[bytes]) -> None:
    aclose = getattr(body, "aclose", None)
    if aclose is not None:
        await aclose()


def _close(body: Iterable[bytes]) -> None:
    close = getattr(body, "close", None)
    if close is not None:
        close()

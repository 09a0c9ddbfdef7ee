"""What the three application adapters (ASGI, WSGI, native) share with the connection."""

import asyncio
import contextvars
import logging
import sys
import types
from collections.abc import Coroutine, Generator
from typing import Any, Protocol, TypeVar

from porch.http.errors import ClientDisconnected
from porch.http.logsafe import log_safe
from porch.server.cycle import Cycle

logger = logging.getLogger("porch.error")

T = TypeVar("T")

# Python 3.12+ can run a task's first step at once, with the task already current.
EAGER_TASKS = sys.version_info >= (3, 12)


class Adapter(Protocol):
    """Runs an application for each request cycle; optional lifespan around the server."""

    cycle_class: type[Cycle]
    # Whether run() does the request's work before it returns (see ServerState.inline_left).
    runs_inline: bool

    def run(self, cycle: Cycle) -> None:
        """Start answering `cycle` (the answer may complete before this returns)."""
        ...

    async def startup(self) -> None:
        """Run the application's startup; raise LifespanFailure if it fails."""
        ...

    async def shutdown(self) -> None:
        """Run the application's shutdown."""
        ...


class LifespanFailure(Exception):
    """The application's startup failed; the message says why."""


def start_task(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]
) -> "asyncio.Task[None] | None":
    """Run `coro` as a task; on Python 3.12+ its first step runs now (eagerly).

    Returns None when the coroutine finished during that first step.
    """
    if EAGER_TASKS:
        task: asyncio.Task[None] = asyncio.Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg]
        return None if task.done() else task
    return loop.create_task(coro)


def step_coroutine(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]
) -> "asyncio.Task[None] | None":
    """Step `coro` once now and make a task of it only if it suspends.

    PERF: most handlers finish without waiting; they cost no Task and no trip through the
    loop. On Python 3.11 the first step runs outside any task (`asyncio.current_task()` is
    None until the handler first suspends), so only porch's own native path uses this.
    """
    if EAGER_TASKS:
        return start_task(loop, coro)
    context = contextvars.copy_context()
    try:
        yielded = context.run(coro.send, None)
    except StopIteration:
        return None
    return loop.create_task(resume(coro, yielded), context=context)


@types.coroutine
def _bare_yield() -> Generator[None, None, None]:
    yield  # what `asyncio.sleep(0)` yields: give the loop one turn


async def resume(coro: Coroutine[Any, Any, T], yielded: Any) -> T:
    """Drive the rest of a coroutine that suspended on `yielded` during its eager step;
    what it returns, or raises, is the coroutine's own."""
    while True:
        try:
            if yielded is None:
                await _bare_yield()
            else:
                # A Task clears this flag on each future it is handed; the eager step had no
                # Task, and awaiting a future still flagged raises "await wasn't used with future".
                yielded._asyncio_future_blocking = False
                await yielded
        except BaseException as exc:  # cancellation included: it belongs to the coroutine
            try:
                yielded = coro.throw(exc)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
        else:
            try:
                yielded = coro.send(None)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]


# What frameworks call their exception for a client that left (Starlette's, for one).
DISCONNECT_NAMES = frozenset(("ClientDisconnect", "ClientDisconnected"))


def _says_client_left(exc: BaseException) -> bool:
    """Whether an exception, raised once the client has gone, says only that: porch's OSError
    or a cancellation, a framework's own exception raised from (or named for) it, or a group
    (an anyio task group's) of nothing else. A real bug in the group is still an error."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_says_client_left(inner) for inner in exc.exceptions)
    if isinstance(exc, (OSError, asyncio.CancelledError)):
        return True
    return type(exc).__name__ in DISCONNECT_NAMES or isinstance(
        exc.__cause__ or exc.__context__, OSError
    )


def app_failed(cycle: Cycle, exc: BaseException, client_gone: bool | None = None) -> None:
    """Log an application's exception (not a mere disconnect) and end the response.

    `client_gone`: whether the client has left (by default, whether the connection is closed).
    """
    if cycle.hand_failure(exc):
        return
    head = cycle.head
    if client_gone is None:
        client_gone = cycle.protocol.closed
    if isinstance(exc, ClientDisconnected) or (client_gone and _says_client_left(exc)):
        logger.debug("Client disconnected during %s %s", log_safe(head.method), log_safe(head.path))
    elif cycle._body_error is not None:
        # The application was told the client is gone (ASGI http.disconnect) and gave up,
        # as it should: the request's own fault is answered.
        logger.debug(
            "Request body broken off (%s) during %s %s",
            cycle._body_error,
            log_safe(head.method),
            log_safe(head.path),
            exc_info=exc,
        )
    else:
        logger.error(
            "Exception in the application for %s %s",
            log_safe(head.method),
            log_safe(head.path),
            exc_info=exc,
        )
    cycle.fail(exc)


class NoLifespan:
    """Startup and shutdown for applications without lifespan events."""

    state: dict[str, Any] | None = None

    async def startup(self) -> None:
        """Nothing to start."""

    async def shutdown(self) -> None:
        """Nothing to stop."""

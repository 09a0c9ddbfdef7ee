"""ASGI lifespan: the application's startup and shutdown around the server's life."""

import asyncio
import logging
from typing import Any

from porch.http.logsafe import log_safe
from porch.server.adapters import LifespanFailure
from porch.server.types import ASGIApp, Message

logger = logging.getLogger("porch.error")


class Lifespan:
    """Runs an application's `lifespan` scope; `mode` is auto, on or off."""

    def __init__(self, app: ASGIApp, mode: str = "auto") -> None:
        self.app = app
        self.mode = mode
        # The lifespan state, copied into every request's scope once startup completes.
        self.state: dict[str, Any] | None = None
        self._receive_queue: asyncio.Queue[Message] | None = None
        self._startup_done: asyncio.Event | None = None
        self._shutdown_done: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._failure: str | None = None
        self._running = False
        self._started = False  # the application sent lifespan.startup.complete

    async def startup(self) -> None:
        """Send lifespan.startup and wait; raise LifespanFailure if the application fails."""
        if self.mode == "off":
            return
        self._receive_queue = asyncio.Queue()
        self._startup_done = asyncio.Event()
        self._shutdown_done = asyncio.Event()
        state: dict[str, Any] = {}
        self._task = asyncio.get_running_loop().create_task(self._main(state))
        await self._receive_queue.put({"type": "lifespan.startup"})
        await self._startup_done.wait()
        if self._failure is not None:
            raise LifespanFailure(self._failure)
        if self._started:
            # Even if the application returned at once: it finished its startup.
            self.state = state

    async def shutdown(self) -> None:
        """Send lifespan.shutdown and wait for the application to finish it."""
        if not self._running or self._receive_queue is None or self._shutdown_done is None:
            return
        await self._receive_queue.put({"type": "lifespan.shutdown"})
        await self._shutdown_done.wait()
        if self._task is not None:
            await asyncio.wait([self._task], timeout=1.0)

    async def _main(self, state: dict[str, Any]) -> None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": state,
        }
        started = False
        try:
            self._running = True
            await self.app(scope, self._receive, self._send)
        except BaseException as exc:
            started = self._startup_done is not None and self._startup_done.is_set()
            self._running = False
            if self._failure is not None:
                pass  # already reported through lifespan.startup.failed
            elif not started and self.mode == "auto":
                logger.info("The application does not handle ASGI lifespan events; skipping them")
            elif not started:
                logger.error("Exception in the application's lifespan startup", exc_info=exc)
                self._failure = log_safe(f"{type(exc).__name__}: {exc}")
            else:
                logger.error("Exception in the application's lifespan shutdown", exc_info=exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            self._running = False
            for event in (self._startup_done, self._shutdown_done):
                if event is not None:
                    event.set()

    async def _receive(self) -> Message:
        assert self._receive_queue is not None
        return await self._receive_queue.get()

    async def _send(self, message: Message) -> None:
        assert self._startup_done is not None and self._shutdown_done is not None
        message_type = message["type"]
        if message_type == "lifespan.startup.complete":
            self._started = True
            self._startup_done.set()
        elif message_type == "lifespan.startup.failed":
            # The application's own words, logged: no line of theirs may pass for one of ours.
            self._failure = log_safe(str(message.get("message") or "startup failed"))
            self._running = False
            self._startup_done.set()
        elif message_type == "lifespan.shutdown.complete":
            self._shutdown_done.set()
        elif message_type == "lifespan.shutdown.failed":
            logger.error(
                "Application shutdown failed: %s", log_safe(str(message.get("message", "")))
            )
            self._shutdown_done.set()
        else:
            raise RuntimeError(f"ASGI lifespan: unexpected message {message_type!r}")

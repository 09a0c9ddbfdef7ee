"""A publish/subscribe hub for WebSocket and server-sent-event handlers: rooms, and a message
published to a room fanned out to every subscriber of it in this process.

    hub = Hub()

    @app.websocket("/ws/rooms/<slug:room>")
    async def chat(ws: WebSocket, room: str) -> None:
        await ws.accept()
        async with hub.subscribe(room) as messages:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(forward(messages, ws))        # what others say, to this client
                async for said in ws.iter_json():              # what this client says, to all
                    await hub.publish(room, said)

A subscriber holds at most `backlog` messages it has not taken; one that falls further behind
(a client that stopped reading) is dropped: its iteration raises `Overflow`, so that its handler
can close the connection (the client reconnects), and no publisher ever waits for it. The hub
is one process's: with several workers, each has its own. `Backend` is what another transport
(Redis's pub/sub, say) implements to span processes; `Hub(backend=...)` takes it.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

BACKLOG = 100


class Overflow(Exception):
    """A subscriber fell more than its backlog behind and was dropped."""


class Subscription:
    """The messages of one room for one subscriber, in the order published."""

    def __init__(self, hub: "Hub", room: str, backlog: int) -> None:
        self.hub = hub
        self.room = room
        self.backlog = backlog
        self._queue: asyncio.Queue[Any] = asyncio.Queue(backlog)
        self.dropped = False

    def offer(self, message: Any) -> bool:
        """Queue a message; False (and dropped) once this subscriber is too far behind."""
        if self.dropped:
            return False
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped = True
            self._queue = asyncio.Queue(1)
            self._queue.put_nowait(_OVERFLOW)
            return False
        return True

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        message = await self._queue.get()
        if message is _OVERFLOW:
            raise Overflow(f"more than {self.backlog} messages of {self.room!r} not taken")
        return message


_OVERFLOW = object()


class Backend(Protocol):
    """Carries published messages to every process's hub (a Redis pub/sub, say)."""

    async def publish(self, room: str, message: Any) -> None: ...

    async def listen(self, deliver: Callable[[str, Any], int]) -> None:
        """Call `deliver(room, message)` for each message published anywhere, until cancelled
        (`Hub.listen` runs it)."""
        ...


class Hub:
    """Rooms of subscribers (see the module)."""

    def __init__(self, backlog: int = BACKLOG, backend: Backend | None = None) -> None:
        self.backlog = backlog
        self.backend = backend
        self._rooms: dict[str, set[Subscription]] = {}

    def members(self, room: str) -> int:
        """How many subscribe to `room` in this process."""
        return len(self._rooms.get(room, ()))

    @contextlib.asynccontextmanager
    async def subscribe(self, room: str) -> AsyncIterator[Subscription]:
        """A subscription to `room` for the block's duration."""
        subscription = Subscription(self, room, self.backlog)
        self._rooms.setdefault(room, set()).add(subscription)
        try:
            yield subscription
        finally:
            members = self._rooms.get(room)
            if members is not None:
                members.discard(subscription)
                if not members:
                    del self._rooms[room]

    async def publish(self, room: str, message: Any) -> int:
        """Send `message` to the subscribers of `room`; how many took it here (through a
        backend, every process's hub delivers it)."""
        if self.backend is not None:
            await self.backend.publish(room, message)
            return self.members(room)
        return self.deliver(room, message)

    async def listen(self) -> None:
        """With a backend: deliver here what any process publishes, until cancelled (start it
        as a task at startup)."""
        if self.backend is None:
            raise RuntimeError("a Hub without a backend delivers what it publishes itself")
        await self.backend.listen(self.deliver)

    def deliver(self, room: str, message: Any) -> int:
        """Hand `message` to this process's subscribers of `room` (a backend calls this)."""
        return sum(subscription.offer(message) for subscription in list(self._rooms.get(room, ())))

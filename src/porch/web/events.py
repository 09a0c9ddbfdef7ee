"""Server-sent events: `EventStream`, a `text/event-stream` response (the HTML standard's
EventSource), from an iterable of `Event`s, strings or JSON values.

    @app.get("/scores/stream")
    async def scores(request: Request) -> EventStream:
        async def events():
            async for score in feed(after=request.last_event_id):
                yield Event(data=score, event="score", id=str(score.id))
        return EventStream(events())

Each event leaves as soon as it is made: neither porch nor its GZip middleware buffer it. While
none comes, a comment line every `ping` seconds (15) keeps proxies from closing an idle
stream. When the client goes, the iterable is closed (its `finally` runs) and nothing more is
asked of it. `request.last_event_id` is the `Last-Event-ID` a reconnecting EventSource sends.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from porch.web.responses import HeadersLike, StreamingResponse, encode_json, iterate_in_thread

PING = 15.0  # seconds between comment lines while no event comes


@dataclass(frozen=True)
class Event:
    """One server-sent event. `data` is sent as it is if a str, else as JSON; `id` is what the
    client sends back as Last-Event-ID when it reconnects; `retry` its reconnection delay (ms)."""

    data: Any = None
    event: str | None = None
    id: str | None = None
    retry: int | None = None
    comment: str | None = None


def encode_event(item: Event | str | Any) -> bytes:
    """The bytes of one event (a str or a JSON value is the data of an unnamed event)."""
    if not isinstance(item, Event):
        item = Event(data=item)
    lines: list[str] = []
    if item.comment is not None:
        lines += [": " + line for line in item.comment.splitlines() or [""]]
    for field, value in (("event", item.event), ("id", item.id)):
        if value is not None:
            if "\n" in value or "\r" in value or (field == "id" and "\0" in value):
                raise ValueError(f"an event's {field} cannot hold a line break: {value!r}")
            lines.append(f"{field}: {value}")
    if item.retry is not None:
        lines.append(f"retry: {int(item.retry)}")
    if item.data is not None:
        text = item.data if isinstance(item.data, str) else encode_json(item.data).decode()
        # A line break in the data becomes another data line (the client joins them with \n).
        lines += ["data: " + line for line in text.replace("\r\n", "\n").split("\n")]
    return ("\n".join(lines) + "\n\n").encode()


class EventStream(StreamingResponse):
    """A `text/event-stream` response of the events `content` yields (see the module)."""

    __slots__ = ()

    def __init__(
        self,
        content: AsyncIterable[Any] | Iterable[Any],
        status: int = 200,
        headers: HeadersLike = None,
        *,
        ping: float = PING,
    ) -> None:
        super().__init__(_events(content, ping), status, headers, "text/event-stream")
        raw = self.headers.raw
        for name, value in ((b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")):
            if not any(item == name for item, _ in raw):
                raw.append((name, value))  # nor a proxy (nginx) may hold the events back


async def _events(content: AsyncIterable[Any] | Iterable[Any], ping: float) -> AsyncIterator[bytes]:
    """The encoded events of `content`, with a comment each `ping` seconds none comes."""
    if not isinstance(content, AsyncIterable):
        content = iterate_in_thread(content)
    iterator = aiter(content)
    pending: asyncio.Future[Any] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            done, _ = await asyncio.wait((pending,), timeout=ping or None)
            if not done:
                yield b": ping\n\n"
                continue
            try:
                item = pending.result()
            except StopAsyncIteration:
                return
            finally:
                pending = None
            yield encode_event(item)
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()

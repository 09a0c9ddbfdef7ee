"""Server-sent events (porch/web/events.py): the encoding, and EventStream over real sockets
under porch run: events leave one by one, idle streams are pinged, a client that leaves stops
the events, Last-Event-ID comes back."""

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from porch import App, Event, EventStream, Request
from porch.web.events import encode_event
from tests.support import serve


def test_encoding() -> None:
    assert encode_event("hi") == b"data: hi\n\n"
    assert encode_event({"a": [1, 2]}) == b'data: {"a":[1,2]}\n\n'
    assert encode_event(Event(data="two\nlines", event="note", id="7", retry=3000)) == (
        b"event: note\nid: 7\nretry: 3000\ndata: two\ndata: lines\n\n"
    )
    assert encode_event(Event(comment="keep")) == b": keep\n\n"
    with pytest.raises(ValueError, match="line break"):
        encode_event(Event(data="x", event="a\nb"))


def read_events(response: httpx.Response) -> Iterator[tuple[float, str]]:
    """(arrival time, block) for each blank-line-separated block of the stream."""
    buffer = ""
    for text in response.iter_text():
        buffer += text
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            yield time.monotonic(), block


def test_events_leave_one_by_one_and_idle_streams_are_pinged() -> None:
    app = App(__name__)

    @app.get("/stream")
    async def stream(request: Request) -> EventStream:
        async def events() -> AsyncIterator[Any]:
            yield Event(data={"n": 1}, id="1", event="score")
            await asyncio.sleep(0.5)  # idle: pinged meanwhile
            yield "last"

        return EventStream(events(), ping=0.1)

    with serve(app) as server, httpx.stream("GET", f"{server.url}/stream") as response:
        started = time.monotonic()
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        blocks = list(read_events(response))
    first_at, first = blocks[0]
    assert first == 'event: score\nid: 1\ndata: {"n":1}'
    assert first_at - started < 0.4  # not held back until the stream ended
    assert [block for _, block in blocks[1:-1]] == [": ping"] * (len(blocks) - 2)
    assert len(blocks) - 2 >= 3
    assert blocks[-1][1] == "data: last"


def test_a_client_that_leaves_stops_the_events() -> None:
    app = App(__name__)
    stopped = threading.Event()
    made: list[int] = []

    @app.get("/forever")
    async def forever() -> EventStream:
        async def events() -> AsyncIterator[int]:
            try:
                n = 0
                while True:
                    n += 1
                    made.append(n)
                    yield n
                    await asyncio.sleep(0.02)
            finally:
                stopped.set()

        return EventStream(events())

    with serve(app) as server:
        with httpx.stream("GET", f"{server.url}/forever") as response:
            for _, block in read_events(response):
                if block == "data: 3":
                    break
        assert stopped.wait(5)  # the generator's finally ran: nothing more is asked of it
        count = len(made)
        time.sleep(0.2)
        assert len(made) == count


def test_last_event_id_and_a_sync_source() -> None:
    app = App(__name__)

    @app.get("/resume")
    def resume(request: Request) -> EventStream:
        after = int(request.last_event_id or 0)
        return EventStream(Event(data=n, id=str(n)) for n in range(after + 1, after + 3))

    with serve(app) as server:
        response = httpx.get(f"{server.url}/resume", headers={"Last-Event-ID": "5"})
        assert response.text == "id: 6\ndata: 6\n\nid: 7\ndata: 7\n\n"
        assert httpx.get(f"{server.url}/resume").text == "id: 1\ndata: 1\n\nid: 2\ndata: 2\n\n"

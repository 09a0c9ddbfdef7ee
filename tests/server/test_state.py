"""Shared server state (`porch/server/state.py`): the clock, Date/Server lines, counters."""

import asyncio
import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from porch.server.state import Clock, ConnectionConfig, ServerState
from tests.support import serve


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def test_clock_lines() -> None:
    clock = Clock()
    clock.update(123.0)
    assert clock.now == 123.0
    assert clock.header_lines.startswith(b"server: porch\r\ndate: ")
    assert clock.header_lines.endswith(b" GMT\r\n")
    assert Clock(server_header=False).header_lines == b""
    quiet = Clock(server_header=False)
    quiet.update(0.0)
    assert quiet.header_lines.startswith(b"date: ")


def test_date_header_is_current() -> None:
    with serve(app) as server:
        response = httpx.get(server.url)
        date = parsedate_to_datetime(response.headers["date"])
        assert abs(date.timestamp() - time.time()) < 2
        assert response.headers["server"] == "porch"
        time.sleep(1.1)
        later = parsedate_to_datetime(httpx.get(server.url).headers["date"])
        assert later > date  # renewed by the ticker, not frozen at start


def test_no_server_header() -> None:
    with serve(app, server_header=False) as server:
        response = httpx.get(server.url)
    assert "server" not in response.headers
    assert "date" in response.headers


def test_max_requests_sets_exhausted() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        state = ServerState(ConnectionConfig(adapter=None, max_requests=2), loop)  # type: ignore[arg-type]
        state.request_counted()
        assert not state.exhausted.is_set()
        state.request_counted()
        assert state.exhausted.is_set()

    asyncio.run(main())


def test_ticker_checks_deadlines() -> None:
    class Connection:
        def __init__(self, deadline: float) -> None:
            self.deadline = deadline
            self.expired = 0

        def deadline_passed(self) -> None:
            self.expired += 1
            self.deadline = 0.0

    async def main() -> None:
        loop = asyncio.get_running_loop()
        state = ServerState(ConnectionConfig(adapter=None), loop)  # type: ignore[arg-type]
        due, later, none = Connection(loop.time()), Connection(loop.time() + 60), Connection(0.0)
        state.connections.update([due, later, none])  # type: ignore[list-item]
        state.start_ticker()
        await asyncio.sleep(0.05)
        state.stop_ticker()
        assert (due.expired, later.expired, none.expired) == (1, 0, 0)

    asyncio.run(main())


def test_a_turn_of_the_loop_runs_its_share_of_requests_inline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past INLINE_BUDGET requests (here 3) since the loop last reached its ready queue,
    requests start from there, so that its tasks and timers run between batches of answers;
    none is lost, and the budget is renewed."""
    from porch.http.native import Response
    from porch.server import state as state_module
    from porch.server.native import NativeAdapter
    from porch.server.protocol import HTTPProtocol
    from porch.server.settings import Settings
    from tests.support import FakeTransport

    monkeypatch.setattr(state_module, "INLINE_BUDGET", 3)

    class Hello:
        def __porch_http__(self, head: Any, body: Any) -> Response:
            return Response(200, [(b"content-type", b"text/plain")], b"hi")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        settings = Settings(access_log=False, request_id=False, proxy_headers=False)
        shared = ServerState(
            ConnectionConfig.from_settings(settings, NativeAdapter(Hello(), loop)), loop
        )
        shared.inline_left = 3
        transports = []
        for _ in range(8):
            protocol = HTTPProtocol(shared)
            transport = FakeTransport()
            transport.protocol = protocol
            protocol.connection_made(transport)
            transports.append(transport)
        for transport in transports:  # as one poll's callbacks: no turn of the loop between
            transport.protocol.data_received(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        answered = [b"200 OK" in transport.take() for transport in transports]
        assert answered == [True] * 3 + [False] * 5
        await asyncio.sleep(0)  # the ready queue: the budget is renewed, the rest run
        answered = [b"200 OK" in transport.take() for transport in transports[3:]]
        assert answered == [True] * 5
        assert shared.inline_left == 3

    asyncio.run(main())

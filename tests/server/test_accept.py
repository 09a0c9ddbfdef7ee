"""The acceptor: how many waiting connections it takes each time the socket is readable."""

import asyncio
import socket
import time

import pytest

from porch.server.accept import SHARE, TLS, Acceptor


@pytest.mark.parametrize(
    ("shared_with", "taken"),
    [(None, 6), (0, 1), (SHARE - 1, 1), (SHARE, 2), (3 * SHARE, 4), (100 * SHARE, 6)],
    ids=["alone", "idle", "almost", "one-share", "three-shares", "busy"],
)
def test_a_worker_sharing_the_socket_takes_a_share_of_a_burst(
    shared_with: int | None, taken: int
) -> None:
    """Alone, a worker takes all that waits; beside other workers, one connection and one
    more for every SHARE it holds open, so that a burst is spread between them."""
    loop = asyncio.new_event_loop()
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    clients = [socket.create_connection(listener.getsockname()) for _ in range(6)]
    try:
        time.sleep(0.05)  # the kernel completes the handshakes: all six wait in the queue
        connections = None if shared_with is None else list(range(shared_with))
        transports: list[asyncio.BaseTransport] = []

        class Closing(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                transports.append(transport)

        acceptor = Acceptor(listener, Closing, TLS(None, None), loop, 64, connections)
        acceptor.accept()
        assert len(acceptor.connecting) == taken
        loop.run_until_complete(asyncio.wait(acceptor.connecting))
        for transport in transports:
            transport.close()
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        for client in clients:
            client.close()
        listener.close()
        loop.close()

import asyncio

import httpx

from tests.support import RawClient, make_protocol, serve


async def hello(scope, receive, send):
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"hi"})


def test_thread_server_answers_httpx():
    with serve(hello) as server:
        response = httpx.get(server.url + "/x")
    assert response.status_code == 200
    assert response.text == "hi"


def test_fake_transport_round_trip():
    async def main():
        loop = asyncio.get_running_loop()
        protocol, transport = make_protocol(hello, loop)
        protocol.data_received(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        for _ in range(3):
            await asyncio.sleep(0)
        return transport.take()

    data = asyncio.run(main())
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.endswith(b"\r\n\r\nhi")


def test_raw_client_reads_error():
    with serve(hello) as server, RawClient(server.port) as client:
        client.send(b"GET / HTTP/1.1\r\n\r\n")
        status, _, _ = client.read_response()
        assert status == 400
        assert client.is_closed()

"""GZipMiddleware (`porch/web/middleware/gzip.py`), on both paths and over real sockets."""

import asyncio
import gzip
import json
import os
import shutil
import subprocess
import threading
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from porch.http.native import Response as NativeResponse
from porch.testing import TestClient
from porch.web import (
    App,
    FileResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from porch.web.middleware import GZipMiddleware
from porch.web.middleware.gzip import THREAD_SIZE, accepts_gzip, compressible
from tests.support import RawClient, needs_tool, serve

TEXT = "".join(f"line {n}: the quick brown fox jumps over the lazy dog\n" for n in range(60))
GZ = {"accept-encoding": "gzip"}
IDENTITY = {"accept-encoding": "identity"}


def make_app(tmp_path: Path, **options: Any) -> App:
    app = App("tests.web.test_middleware_gzip", static_folder=None)
    app.add_middleware(GZipMiddleware, **options)
    big_text = tmp_path / "big.txt"
    big_text.write_text(TEXT * 100)  # ~330 KB: sent as a FileRegion
    big_png = tmp_path / "big.png"
    big_png.write_bytes(os.urandom(100_000))
    app.state.closed = []

    @app.get("/text")
    def text() -> Any:
        return PlainTextResponse(TEXT)

    @app.get("/html")
    def html() -> str:
        return "<p>" + TEXT + "</p>"

    @app.get("/small")
    def small() -> str:
        return "tiny"

    @app.get("/json")
    def json_items() -> Any:
        return {"items": [TEXT[:40]] * 50}

    @app.get("/png")
    def png() -> Any:
        return Response(TEXT.encode(), media_type="image/png")

    @app.get("/svg")
    def svg() -> Any:
        return Response(f"<svg>{TEXT}</svg>".encode(), media_type="image/svg+xml")

    @app.get("/encoded")
    def encoded() -> Any:
        return Response(
            zlib.compress(TEXT.encode()),
            headers={"content-encoding": "deflate"},
            media_type="text/plain",
        )

    @app.get("/events")
    def events() -> Any:
        return StreamingResponse(iter([TEXT]), media_type="text/event-stream")

    @app.get("/etag")
    def etag() -> Any:
        return PlainTextResponse(TEXT, headers={"etag": '"v1"'})

    @app.get("/weak-etag")
    def weak_etag() -> Any:
        return PlainTextResponse(TEXT, headers={"etag": 'W/"v1"'})

    @app.get("/vary")
    def vary() -> Any:
        return PlainTextResponse(TEXT, headers={"vary": "Cookie"})

    @app.get("/vary-star")
    def vary_star() -> Any:
        return PlainTextResponse(TEXT, headers={"vary": "*"})

    @app.get("/no-transform")
    def no_transform() -> Any:
        return PlainTextResponse(TEXT, headers={"cache-control": "public, no-transform"})

    @app.get("/declared")
    def declared() -> Any:
        return NativeResponse(
            200,
            [(b"content-type", b"text/plain"), (b"content-length", str(len(TEXT)).encode())],
            TEXT.encode(),
        )

    @app.get("/stream")
    async def stream() -> Any:
        async def chunks() -> AsyncIterator[str]:
            try:
                for n in range(20):
                    yield TEXT[n * 100 : (n + 1) * 100]
            finally:
                app.state.closed.append("stream")

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.get("/sync-chunks")
    def sync_chunks() -> Any:
        def chunks() -> Iterator[bytes]:
            try:
                yield from (TEXT[n * 100 : (n + 1) * 100].encode() for n in range(20))
            finally:
                app.state.closed.append("sync")

        return NativeResponse(200, [(b"content-type", b"text/plain")], chunks())

    @app.get("/big")
    def big() -> Any:
        return PlainTextResponse(TEXT * (THREAD_SIZE // len(TEXT) + 2))

    @app.get("/none")
    def none() -> None:
        return None

    @app.get("/file")
    def file() -> Any:
        return FileResponse(big_text, media_type="text/plain")

    @app.get("/file-png")
    def file_png() -> Any:
        return FileResponse(big_png)

    @app.get("/missing")
    def missing() -> Any:
        return PlainTextResponse(TEXT, status=404)

    return app


@pytest.fixture
def client(client_for: Callable[..., TestClient], tmp_path: Path) -> TestClient:
    return client_for(make_app(tmp_path))


def compressed_length(response: httpx.Response) -> int:
    return int(response.headers["content-length"])


# Which clients accept gzip.


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        (None, False),
        (b"", False),
        (b"gzip", True),
        (b"GZip", True),
        (b"gzip, deflate, br", True),
        (b"br;q=1.0, gzip;q=0.8, *;q=0.1", True),
        (b"x-gzip", True),
        (b"gzip;q=0", False),
        (b"gzip;q=0.000", False),
        (b"gzip;q=0, *", False),  # gzip named: '*' does not stand for it
        (b"*", True),
        (b"*;q=0.5", True),
        (b"*;q=0", False),
        (b"br, deflate", False),
        (b"identity", False),
        (b"gzip;q=bogus", False),
        (b"gzip ; q=0.5", True),
    ],
)
def test_accepts_gzip(value: bytes | None, accepted: bool) -> None:
    assert accepts_gzip(value) is accepted


@pytest.mark.parametrize(
    ("content_type", "worth"),
    [
        (None, True),
        (b"text/html; charset=utf-8", True),
        (b"application/json", True),
        (b"image/svg+xml", True),
        (b"IMAGE/PNG", False),
        (b"image/jpeg", False),
        (b"video/mp4", False),
        (b"audio/mpeg", False),
        (b"application/zip", False),
        (b"application/gzip", False),
        (b"font/woff2", False),
        (b"text/event-stream", False),
        (b"text/event-stream; charset=utf-8", False),
    ],
)
def test_compressible(content_type: bytes | None, worth: bool) -> None:
    assert compressible(content_type) is worth


# Whole bodies.


@pytest.mark.parametrize("url", ["/text", "/html", "/json", "/svg", "/missing"])
def test_compresses_when_accepted(client: TestClient, url: str) -> None:
    plain = client.get(url, headers=IDENTITY)
    response = client.get(url, headers=GZ)
    assert response.status_code == plain.status_code
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.content == plain.content  # httpx decodes it: valid gzip
    assert compressed_length(response) < len(plain.content) / 3
    assert response.headers["content-type"] == plain.headers["content-type"]


def test_identity_response_still_says_vary(client: TestClient) -> None:
    response = client.get("/text", headers=IDENTITY)
    assert "content-encoding" not in response.headers
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.text == TEXT
    assert compressed_length(response) == len(TEXT)


@pytest.mark.parametrize("accept", ["gzip;q=0", "br", "gzip;q=0, *;q=1", "*;q=0"])
def test_refused_by_quality(client: TestClient, accept: str) -> None:
    response = client.get("/text", headers={"accept-encoding": accept})
    assert "content-encoding" not in response.headers
    assert response.text == TEXT


@pytest.mark.parametrize("accept", ["*", "x-gzip", "deflate;q=1, gzip;q=0.1"])
def test_accepted_by_quality(client: TestClient, accept: str) -> None:
    response = client.get("/text", headers={"accept-encoding": accept})
    assert response.headers["content-encoding"] == "gzip"
    assert response.text == TEXT


def test_small_body_left_alone(client: TestClient) -> None:
    response = client.get("/small", headers=GZ)
    assert "content-encoding" not in response.headers
    assert "vary" not in response.headers  # it is never compressed: it varies on nothing
    assert response.text == "tiny"


def test_minimum_size_option(client_for: Callable[..., TestClient], tmp_path: Path) -> None:
    client = client_for(make_app(tmp_path, minimum_size=4))
    assert client.get("/small", headers=GZ).headers["content-encoding"] == "gzip"
    client = client_for(make_app(tmp_path, minimum_size=len(TEXT) + 1))
    assert "content-encoding" not in client.get("/text", headers=GZ).headers


def test_compresslevel_option(client_for: Callable[..., TestClient], tmp_path: Path) -> None:
    fast = client_for(make_app(tmp_path, compresslevel=1)).get("/big", headers=GZ)
    best = client_for(make_app(tmp_path, compresslevel=9)).get("/big", headers=GZ)
    assert fast.content == best.content
    assert compressed_length(best) < compressed_length(fast)


@pytest.mark.parametrize(
    "options",
    [{"compresslevel": 0}, {"compresslevel": 10}, {"minimum_size": -1}, {"max_file_size": -5}],
)
def test_bad_options(options: dict[str, int]) -> None:
    app = App("tests.web.test_middleware_gzip", static_folder=None)
    with pytest.raises(ValueError):
        app.add_middleware(GZipMiddleware, **options)


@pytest.mark.parametrize("url", ["/png", "/events", "/no-transform"])
def test_not_worth_or_not_allowed(client: TestClient, url: str) -> None:
    response = client.get(url, headers=GZ)
    assert "content-encoding" not in response.headers
    assert "accept-encoding" not in response.headers.get("vary", "").lower()
    assert response.content.startswith(TEXT[:20].encode()) or url == "/png"


def test_already_encoded_left_alone(client: TestClient) -> None:
    response = client.get("/encoded", headers=GZ)
    assert response.headers["content-encoding"] == "deflate"
    assert response.text == TEXT  # decoded once, by httpx: not gzipped on top


def test_strong_etag_made_weak(client: TestClient) -> None:
    assert client.get("/etag", headers=GZ).headers["etag"] == 'W/"v1"'
    assert client.get("/etag", headers=IDENTITY).headers["etag"] == '"v1"'
    assert client.get("/weak-etag", headers=GZ).headers["etag"] == 'W/"v1"'


def test_vary_added_to_the_application_s(client: TestClient) -> None:
    response = client.get("/vary", headers=GZ)
    assert response.headers.get_list("vary") == ["Cookie", "Accept-Encoding"]
    response = client.get("/vary-star", headers=GZ)
    assert response.headers.get_list("vary") == ["*"]
    assert response.headers["content-encoding"] == "gzip"


def test_declared_length_replaced(client: TestClient) -> None:
    response = client.get("/declared", headers=GZ)
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers.get_list("content-length") == [response.headers["content-length"]]
    assert compressed_length(response) < len(TEXT)
    assert response.text == TEXT


def test_no_content_untouched(client: TestClient) -> None:
    response = client.get("/none", headers=GZ)
    assert response.status_code == 204
    assert "content-encoding" not in response.headers


def test_big_body_compressed_in_a_thread(client: TestClient) -> None:
    response = client.get("/big", headers=GZ)
    assert response.headers["content-encoding"] == "gzip"
    assert response.text == TEXT * (THREAD_SIZE // len(TEXT) + 2)


# HEAD.


def test_head_gets_the_get_s_headers_without_a_body(client: TestClient) -> None:
    response = client.head("/text", headers=GZ)
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    # The identity length would be a lie about the gzipped body; none is sent.
    assert "content-length" not in response.headers
    assert response.content == b""


def test_head_of_a_file(client: TestClient) -> None:
    response = client.head("/file", headers=GZ)
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["etag"].startswith('W/"')
    assert "content-length" not in response.headers


# Streams.


def test_async_stream_compressed_and_closed(client: TestClient) -> None:
    app = client.app
    response = client.get("/stream", headers=GZ)
    assert response.headers["content-encoding"] == "gzip"
    assert "content-length" not in response.headers
    assert response.text == TEXT[:2000]
    assert app.state.closed == ["stream"]


def test_sync_stream_compressed_and_closed(client: TestClient) -> None:
    app = client.app
    response = client.get("/sync-chunks", headers=GZ)
    assert response.headers["content-encoding"] == "gzip"
    assert response.text == TEXT[:2000]
    assert app.state.closed == ["sync"]


def test_stream_without_gzip(client: TestClient) -> None:
    response = client.get("/stream", headers=IDENTITY)
    assert "content-encoding" not in response.headers
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.text == TEXT[:2000]


def test_event_stream_not_compressed(client: TestClient) -> None:
    response = client.get("/events", headers=GZ)
    assert response.text == TEXT
    assert "content-encoding" not in response.headers


# Files.


def test_file_region_compressed(client: TestClient, tmp_path: Path) -> None:
    response = client.get("/file", headers=GZ)
    assert response.headers["content-encoding"] == "gzip"
    assert response.text == TEXT * 100
    assert compressed_length(response) < len(TEXT) * 100 / 10
    assert response.headers["etag"].startswith('W/"')
    assert response.headers["accept-ranges"] == "bytes"


def test_file_304_keeps_working_with_the_weak_tag(client: TestClient) -> None:
    first = client.get("/file", headers=GZ)
    tag = first.headers["etag"]
    again = client.get("/file", headers={**GZ, "if-none-match": tag})
    assert again.status_code == 304
    assert again.headers["etag"] == tag  # the tag of the 200 it stands for
    assert again.headers["vary"] == "Accept-Encoding"
    plain = client.get("/file", headers=IDENTITY)
    assert not plain.headers["etag"].startswith("W/")
    revalidated = client.get("/file", headers={**IDENTITY, "if-none-match": plain.headers["etag"]})
    assert revalidated.status_code == 304
    assert revalidated.headers["etag"] == plain.headers["etag"]
    assert revalidated.headers["vary"] == "Accept-Encoding"


def test_file_range_never_compressed(client: TestClient) -> None:
    response = client.get("/file", headers={**GZ, "range": "bytes=0-99"})
    assert response.status_code == 206
    assert "content-encoding" not in response.headers
    assert response.text == (TEXT * 100)[:100]
    assert not response.headers["etag"].startswith("W/")  # the identity bytes' own tag


def test_incompressible_file_sent_as_is(client: TestClient) -> None:
    response = client.get("/file-png", headers=GZ)
    assert "content-encoding" not in response.headers
    assert len(response.content) == 100_000


def test_file_over_max_file_size_sent_as_is(
    client_for: Callable[..., TestClient], tmp_path: Path
) -> None:
    client = client_for(make_app(tmp_path, max_file_size=100_000))
    response = client.get("/file", headers=GZ)
    assert "content-encoding" not in response.headers
    assert response.text == TEXT * 100


def test_static_precompressed_not_compressed_twice(
    client_for: Callable[..., TestClient], tmp_path: Path
) -> None:
    folder = tmp_path / "public"
    folder.mkdir()
    (folder / "app.js").write_text(TEXT)
    (folder / "app.js.gz").write_bytes(gzip.compress(TEXT.encode()))
    (folder / "style.css").write_text(TEXT)
    app = make_app(tmp_path)
    app.static("/static", str(folder))
    client = client_for(app)
    js = client.get("/static/app.js", headers=GZ)
    assert js.headers["content-encoding"] == "gzip"
    assert js.text == TEXT
    assert not js.headers["etag"].startswith("W/")  # the static file's own gzip bytes
    css = client.get("/static/style.css", headers=GZ)
    assert css.headers["content-encoding"] == "gzip"
    assert css.text == TEXT
    assert css.headers["etag"].startswith('W/"')
    tag = css.headers["etag"]
    assert client.get("/static/style.css", headers={**GZ, "if-none-match": tag}).status_code == 304


# Real sockets.


def test_over_a_socket(tmp_path: Path) -> None:
    with serve(make_app(tmp_path)) as server:
        with RawClient(server.port) as raw:
            raw.send(b"GET /text HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n")
            status, headers, body = raw.read_response()
        assert status == 200
        assert headers["content-encoding"] == "gzip"
        assert int(headers["content-length"]) == len(body)
        assert gzip.decompress(body).decode() == TEXT
        with RawClient(server.port) as raw:
            raw.send(
                b"HEAD /text HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
            )
            head = raw.read_until_close()
        assert b"content-encoding: gzip" in head
        assert b"content-length" not in head.lower()
        assert head.endswith(b"\r\n\r\n")  # nothing after the head
        with RawClient(server.port) as raw:
            raw.send(
                b"HEAD /stream HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
            )
            head = raw.read_until_close()
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"content-encoding: gzip" in head
        assert head.endswith(b"\r\n\r\n")
        with httpx.Client(base_url=server.url) as client:
            response = client.get("/stream")
            assert response.headers["content-encoding"] == "gzip"
            assert response.headers["transfer-encoding"] == "chunked"
            assert response.text == TEXT[:2000]
            assert client.get("/file").text == TEXT * 100


@needs_tool("curl")
def test_curl_compressed(tmp_path: Path) -> None:
    curl = shutil.which("curl")
    assert curl is not None
    with serve(make_app(tmp_path)) as server:
        done = subprocess.run(
            [curl, "-sS", "--compressed", "-D", "-", f"{server.url}/json"],
            capture_output=True,
            timeout=10,
            check=True,
        )
    head, _, body = done.stdout.partition(b"\r\n\r\n")
    assert b"content-encoding: gzip" in head.lower()
    assert json.loads(body) == {"items": [TEXT[:40]] * 50}


def test_stream_leaves_chunk_by_chunk(tmp_path: Path) -> None:
    """Each chunk of a stream is flushed: the client has it before the next one is made."""
    go_on = threading.Event()
    app = App("tests.web.test_middleware_gzip", static_folder=None)
    app.add_middleware(GZipMiddleware)

    @app.get("/slow")
    async def slow() -> Any:
        async def chunks() -> AsyncIterator[str]:
            yield "first chunk " * 10
            while not go_on.is_set():
                await asyncio.sleep(0.01)
            yield "second chunk " * 10

        return StreamingResponse(chunks(), media_type="text/plain")

    with (
        serve(app) as server,
        httpx.Client(base_url=server.url, timeout=5) as client,
        client.stream("GET", "/slow", headers=GZ) as response,
    ):
        assert response.headers["content-encoding"] == "gzip"
        pieces = response.iter_text()
        received = ""
        deadline = time.monotonic() + 5
        while "first chunk " * 10 not in received and time.monotonic() < deadline:
            received += next(pieces)
        assert received == "first chunk " * 10  # before the second one was made
        go_on.set()
        received += "".join(pieces)
    assert received == "first chunk " * 10 + "second chunk " * 10

"""Responses (porch/web/responses.py): Response and its kinds, cookies, streams, files and
redirects; every request through both of the App's paths."""

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from porch import (
    App,
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Request,
    Response,
    StreamingResponse,
    redirect,
)
from porch.testing import TestClient

Client = Callable[..., TestClient]


def test_response_arguments(client_for: Client) -> None:
    app = App(__name__)

    @app.get("/full")
    def full() -> Response:
        return Response("é", 201, {"X-One": "1", "Cache-Control": "no-store"}, "text/csv")

    @app.get("/bytes")
    def raw() -> Response:
        return Response(b"\x00raw")

    @app.get("/header-type-wins")
    def header_type_wins() -> Response:
        return Response("x", headers={"Content-Type": "application/x-mine"}, media_type="text/a")

    @app.get("/list-headers")
    def list_headers() -> Response:
        return Response("x", headers=[("Vary", "a"), ("Vary", "b")])

    @app.get("/changed")
    def changed() -> Response:
        response = PlainTextResponse("text")
        response.headers["X-Late"] = "yes"
        response.status = 202
        return response

    client = client_for(app)
    response = client.get("/full")
    assert response.status_code == 201
    assert response.content == "é".encode()
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["x-one"] == "1"
    assert response.headers["cache-control"] == "no-store"
    response = client.get("/bytes")
    assert response.content == b"\x00raw"
    assert "content-type" not in response.headers
    assert client.get("/header-type-wins").headers["content-type"] == "application/x-mine"
    assert client.get("/list-headers").headers.get_list("vary") == ["a", "b"]
    response = client.get("/changed")
    assert (response.status_code, response.text) == (202, "text")
    assert response.headers["x-late"] == "yes"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_response_kinds() -> None:
    assert HTMLResponse("<p>").body == b"<p>"
    assert HTMLResponse("x").headers["content-type"] == "text/html; charset=utf-8"
    assert PlainTextResponse("x").headers["content-type"] == "text/plain; charset=utf-8"
    response = JSONResponse({"when": datetime(2024, 1, 2, tzinfo=UTC), "n": None})
    assert response.body == b'{"when":"2024-01-02T00:00:00Z","n":null}'
    assert response.headers["content-type"] == "application/json"
    assert response.status_code == 200
    assert repr(JSONResponse([], 201)) == "<JSONResponse 201>"
    with pytest.raises(TypeError, match="Response cannot send a dict"):
        Response({"a": 1})


def test_headers_refuse_injection() -> None:
    response = Response("x")
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        response.headers["X-Bad"] = "a\r\nSet-Cookie: evil=1"
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        response.headers.append("X-Bad", "a\nb")
    with pytest.raises(ValueError, match="not a token"):
        response.headers["Bad Name"] = "x"
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        Response("x", headers={"X-Bad": "a\rb"})
    with pytest.raises(ValueError, match="latin-1"):
        response.headers["X-Euro"] = "5 €"
    response.headers["X-Latin"] = "café"
    assert response.headers.raw[-1] == (b"x-latin", "café".encode("latin-1"))
    assert response.headers.get("X-€") is None
    assert "X-€" not in response.headers


def test_mutable_headers() -> None:
    response = Response("x", headers=[("X-A", "1"), ("X-A", "2"), ("X-B", "3")])
    headers = response.headers
    headers["x-a"] = "only"
    assert headers.getlist("X-A") == ["only"]
    headers.append("X-A", "again")
    assert headers.getlist("x-a") == ["only", "again"]
    del headers["X-A"]
    assert "x-a" not in headers
    assert headers.setdefault("X-C", "c") == "c"
    assert headers.setdefault("X-C", "other") == "c"
    headers.update({"X-B": "new", "X-D": "d"})
    assert headers.multi_items() == [("x-b", "new"), ("x-c", "c"), ("x-d", "d")]


# Cookies.


def cookie_app() -> App:
    app = App(__name__)

    @app.get("/set")
    def set_cookie() -> Response:
        response = Response("set")
        response.set_cookie("session", "abc")
        return response

    @app.get("/options")
    def options() -> Response:
        response = Response("options")
        response.set_cookie(
            "prefs",
            "a b;c",
            max_age=3600,
            expires=datetime(2030, 1, 1, tzinfo=UTC),
            path="/app",
            domain="example.org",
            secure=False,
            httponly=False,
            samesite="strict",
        )
        return response

    @app.get("/none")
    def samesite_none() -> Response:
        response = Response("none")
        response.set_cookie("cross", "1", samesite="None")
        return response

    @app.get("/delete")
    def delete() -> Response:
        response = Response("deleted")
        response.delete_cookie("session")
        return response

    @app.get("/two")
    def two() -> Response:
        response = Response("two")
        response.set_cookie("a", "1")
        response.set_cookie("b", "2")
        return response

    @app.get("/read")
    def read(request: Request) -> dict[str, str]:
        return request.cookies

    return app


def test_set_cookie_defaults_on_http(client_for: Client) -> None:
    response = client_for(cookie_app()).get("/set")
    assert response.headers["set-cookie"] == "session=abc; Path=/; HttpOnly; SameSite=Lax"


def test_set_cookie_is_secure_on_https(client_for: Client) -> None:
    client = client_for(cookie_app(), base_url="https://testserver")
    response = client.get("/set")
    assert response.headers["set-cookie"] == "session=abc; Path=/; Secure; HttpOnly; SameSite=Lax"
    # The client keeps it and sends it back over HTTPS.
    assert client.get("/read").json() == {"session": "abc"}


def test_set_cookie_options(client_for: Client) -> None:
    response = client_for(cookie_app()).get("/options")
    assert response.headers["set-cookie"] == (
        "prefs=a%20b%3Bc; Max-Age=3600; Expires=Tue, 01 Jan 2030 00:00:00 GMT; Path=/app; "
        "Domain=example.org; SameSite=Strict"
    )


def test_samesite_none_is_always_secure(client_for: Client) -> None:
    response = client_for(cookie_app()).get("/none")
    assert response.headers["set-cookie"] == "cross=1; Path=/; Secure; HttpOnly; SameSite=None"


def test_delete_cookie(client_for: Client) -> None:
    client = client_for(cookie_app())
    client.get("/set")
    assert client.get("/read").json() == {"session": "abc"}
    response = client.get("/delete")
    assert response.headers["set-cookie"] == (
        "session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; SameSite=Lax"
    )
    assert client.get("/read").json() == {}


def test_two_cookies_two_headers(client_for: Client) -> None:
    response = client_for(cookie_app()).get("/two")
    assert response.headers.get_list("set-cookie") == [
        "a=1; Path=/; HttpOnly; SameSite=Lax",
        "b=2; Path=/; HttpOnly; SameSite=Lax",
    ]


def test_bad_cookies_fail_where_they_are_set() -> None:
    response = Response()
    with pytest.raises(ValueError, match="not a token"):
        response.set_cookie("bad name", "x")
    with pytest.raises(ValueError, match="SameSite must be one of"):
        response.set_cookie("a", "x", samesite="sometimes")
    with pytest.raises(ValueError, match="forbidden character"):
        response.set_cookie("a", "x", path="/;evil")


def test_cookies_set_in_after_request_hook(client_for: Client) -> None:
    app = App(__name__)

    @app.get("/")
    def index() -> str:
        return "index"

    @app.after_request
    def add_cookie(request: Request, response: Response) -> None:
        response.set_cookie("seen", "1")

    client = client_for(app, base_url="https://testserver")
    assert client.get("/").headers["set-cookie"] == "seen=1; Path=/; Secure; HttpOnly; SameSite=Lax"


# Streams.


def test_streaming_from_a_sync_iterator_runs_in_a_thread(client_for: Client) -> None:
    app = App(__name__)
    threads: list[str] = []
    loop_thread: list[str] = []
    closed: list[bool] = []

    def rows() -> Iterator[str | bytes]:
        try:
            for index in range(3):
                threads.append(threading.current_thread().name)
                yield f"row {index}\n" if index % 2 else f"row {index}\n".encode()
        finally:
            closed.append(True)

    @app.get("/rows")
    async def stream() -> StreamingResponse:
        loop_thread.append(threading.current_thread().name)
        return StreamingResponse(rows(), media_type="text/plain")

    response = client_for(app).get("/rows")
    assert response.text == "row 0\nrow 1\nrow 2\n"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert threads and all(name != loop_thread[0] for name in threads)
    assert closed == [True]


def test_streaming_from_an_async_iterator(client_for: Client) -> None:
    app = App(__name__)
    closed: list[bool] = []

    async def numbers() -> AsyncIterator[bytes]:
        try:
            for index in range(1000):
                await asyncio.sleep(0)
                yield b"%d," % index
        finally:
            closed.append(True)

    @app.get("/numbers")
    def stream() -> StreamingResponse:
        return StreamingResponse(numbers(), headers={"X-Stream": "yes"})

    response = client_for(app).get("/numbers")
    assert response.content == b"".join(b"%d," % i for i in range(1000))
    assert response.headers["x-stream"] == "yes"
    assert "content-length" not in response.headers
    assert closed == [True]


def test_streaming_error_before_the_first_chunk(client_for: Client) -> None:
    app = App(__name__)

    async def broken() -> AsyncIterator[bytes]:
        raise RuntimeError("broken stream")
        yield b""

    @app.get("/broken")
    def stream() -> StreamingResponse:
        return StreamingResponse(broken())

    client = client_for(app)
    with pytest.raises(RuntimeError, match="broken stream"):
        client.get("/broken")


# Files.


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "hello.txt").write_bytes(b"0123456789" * 10)
    (tmp_path / "big.bin").write_bytes(os.urandom(300_000))
    return tmp_path


def file_app(folder: Path) -> App:
    app = App(__name__)

    @app.get("/file/<name>")
    def file(name: str) -> FileResponse:
        return FileResponse(folder / name)

    @app.get("/download")
    def download() -> FileResponse:
        return FileResponse(folder / "hello.txt", filename="résumé 2024.txt")

    @app.get("/inline")
    def inline() -> FileResponse:
        return FileResponse(
            folder / "hello.txt",
            media_type="application/x-custom",
            filename="plain.txt",
            content_disposition_type="inline",
            headers={"Cache-Control": "max-age=60"},
        )

    @app.get("/with-cookie")
    def with_cookie() -> FileResponse:
        response = FileResponse(folder / "hello.txt")
        response.set_cookie("got", "file")
        return response

    @app.get("/not-found-page")
    def not_found_page() -> FileResponse:
        return FileResponse(folder / "hello.txt", status=404)

    return app


def test_file_response(client_for: Client, files: Path) -> None:
    client = client_for(file_app(files))
    response = client.get("/file/hello.txt")
    assert response.status_code == 200
    assert response.content == b"0123456789" * 10
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-length"] == "100"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"].startswith('"')
    assert "last-modified" in response.headers


def test_file_response_big(client_for: Client, files: Path) -> None:
    response = client_for(file_app(files)).get("/file/big.bin")
    assert response.content == (files / "big.bin").read_bytes()
    assert response.headers["content-length"] == "300000"


def test_file_response_conditional(client_for: Client, files: Path) -> None:
    client = client_for(file_app(files))
    etag = client.get("/file/hello.txt").headers["etag"]
    response = client.get("/file/hello.txt", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert "content-length" not in response.headers
    response = client.get("/file/hello.txt", headers={"If-None-Match": '"other"'})
    assert response.status_code == 200
    response = client.get("/file/hello.txt", headers={"If-Match": '"other"'})
    assert response.status_code == 412


def test_file_response_ranges(client_for: Client, files: Path) -> None:
    client = client_for(file_app(files))
    response = client.get("/file/hello.txt", headers={"Range": "bytes=10-19"})
    assert response.status_code == 206
    assert response.content == b"0123456789"
    assert response.headers["content-range"] == "bytes 10-19/100"
    assert response.headers["content-length"] == "10"
    response = client.get("/file/big.bin", headers={"Range": "bytes=-100000"})
    assert response.status_code == 206
    assert response.content == (files / "big.bin").read_bytes()[-100000:]
    response = client.get("/file/hello.txt", headers={"Range": "bytes=500-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == "bytes */100"
    response = client.get("/file/hello.txt", headers={"Range": "bytes=0-0,5-5"})
    assert response.status_code == 206
    assert response.headers["content-type"].startswith("multipart/byteranges; boundary=")


def test_file_response_head(client_for: Client, files: Path) -> None:
    client = client_for(file_app(files))
    for name, size in (("hello.txt", "100"), ("big.bin", "300000")):
        response = client.head(f"/file/{name}")
        assert response.status_code == 200
        assert response.content == b""
        assert response.headers["content-length"] == size


def test_file_response_download_name(client_for: Client, files: Path) -> None:
    client = client_for(file_app(files))
    response = client.get("/download")
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"r_sum_ 2024.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%202024.txt"
    )
    response = client.get("/inline")
    assert response.headers["content-disposition"] == 'inline; filename="plain.txt"'
    assert response.headers["content-type"] == "application/x-custom"
    assert response.headers["cache-control"] == "max-age=60"


def test_file_response_cookie_and_status(client_for: Client, files: Path) -> None:
    client = client_for(file_app(files))
    assert client.get("/with-cookie").headers["set-cookie"].startswith("got=file;")
    response = client.get("/not-found-page")
    assert response.status_code == 404
    assert response.content == b"0123456789" * 10


def test_missing_file_is_404(client_for: Client, files: Path) -> None:
    client = client_for(file_app(files))
    assert client.get("/file/missing.txt").status_code == 404
    assert client.get("/file/..").status_code == 404  # a folder is never sent


# Files named by the client, from a folder (Flask's send_from_directory).


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    """A folder to serve from, with a secret beside it and links in and out of it."""
    folder = tmp_path / "shared"
    (folder / "docs").mkdir(parents=True)
    (folder / "hello.txt").write_bytes(b"0123456789" * 10)
    (folder / "big.bin").write_bytes(os.urandom(300_000))
    (folder / "docs" / "a b.txt").write_bytes(b"in docs")
    (folder / "%41.txt").write_bytes(b"a file named so")
    (folder / ".env").write_bytes(b"PASSWORD=hunter2")
    (tmp_path / "secret.txt").write_bytes(b"TOP SECRET")
    os.symlink("../secret.txt", folder / "out.txt")
    os.symlink(tmp_path, folder / "outdir")
    os.symlink("hello.txt", folder / "in.txt")
    os.symlink("docs", folder / "indir")
    os.mkfifo(folder / "fifo")
    return folder


def shared_app(folder: Path | str, **options: object) -> App:
    app = App(__name__)

    @app.get("/files/<path:name>")
    def files(name: str) -> FileResponse:
        return FileResponse.from_directory(folder, name, **options)  # type: ignore[arg-type]

    return app


REFUSED_NAMES = [
    "../secret.txt",
    "docs/../../secret.txt",
    "a/../../secret.txt",
    "docs/../hello.txt",  # '..' is refused wherever it is, even if it stays inside
    "./hello.txt",
    "docs/./a b.txt",
    "docs//a b.txt",
    "docs/",
    "",
    "%2e%2e/secret.txt",
    "%2E%2E/secret.txt",
    "%2e/hello.txt",
    "..%2fsecret.txt",
    "..%5csecret.txt",
    "/etc/passwd",
    "docs\\a b.txt",
    "..\\secret.txt",
    "hello.txt\x00.png",
    "x\x00",
    ".env",
    "docs/.hidden",
    "out.txt",  # a link out of the folder
    "outdir/secret.txt",  # through a link to a folder outside
    "missing.txt",
    "docs",  # a folder is not a file
    "fifo",  # nor is a FIFO (never opened)
    "x" * 5000,  # too long for the file system: 404, not 500
]


@pytest.mark.parametrize("name", REFUSED_NAMES)
def test_from_directory_refuses(name: str, shared: Path) -> None:
    # Straight to the classmethod: names a URL could not carry are tried too.
    from porch.http.errors import HTTPError
    from porch.http.native import RequestHead
    from porch.web.request import Request
    from tests.support import NoBody

    request = Request(RequestHead("GET", b"/", b"/", b"", []), NoBody(), shared_app(shared))
    with pytest.raises(HTTPError) as caught:
        FileResponse.from_directory(shared, name).finish(request)
    assert caught.value.status == 404


@pytest.mark.parametrize(
    "target",
    [
        b"/files/../secret.txt",
        b"/files/%2e%2e/secret.txt",
        b"/files/%252e%252e/secret.txt",
        b"/files/docs%2f..%2f..%2fsecret.txt",
        b"/files/..%5csecret.txt",
        b"/files/%2fetc/passwd",
        b"/files//etc/passwd",
        b"/files/x%00",
        b"/files/.env",
        b"/files/out.txt",
        b"/files/outdir/secret.txt",
    ],
)
def test_from_directory_traversal_over_requests(
    client_for: Client, shared: Path, target: bytes
) -> None:
    import httpx

    client = client_for(shared_app(shared))
    response = client.get(httpx.URL("http://testserver", raw_path=target))
    assert response.status_code == 404
    assert b"SECRET" not in response.content and b"hunter2" not in response.content


def test_from_directory_serves_files(client_for: Client, shared: Path) -> None:
    client = client_for(shared_app(shared))
    response = client.get("/files/hello.txt")
    assert response.status_code == 200
    assert response.content == b"0123456789" * 10
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert client.get("/files/docs/a%20b.txt").content == b"in docs"
    # The name is taken as it is (the router has decoded the URL once): no second decoding.
    assert client.get("/files/%2541.txt").content == b"a file named so"
    # Links that stay inside the folder are fine.
    assert client.get("/files/in.txt").content == b"0123456789" * 10
    assert client.get("/files/indir/a%20b.txt").content == b"in docs"
    assert client.get("/files/big.bin").content == (shared / "big.bin").read_bytes()


def test_from_directory_conditional_and_ranges(client_for: Client, shared: Path) -> None:
    client = client_for(shared_app(shared))
    etag = client.get("/files/hello.txt").headers["etag"]
    assert client.get("/files/hello.txt", headers={"If-None-Match": etag}).status_code == 304
    response = client.get("/files/hello.txt", headers={"Range": "bytes=10-19"})
    assert response.status_code == 206
    assert response.content == b"0123456789"
    assert response.headers["content-range"] == "bytes 10-19/100"
    response = client.get("/files/big.bin", headers={"Range": "bytes=-10"})
    assert (response.status_code, response.content) == (
        206,
        (shared / "big.bin").read_bytes()[-10:],
    )
    assert client.get("/files/hello.txt", headers={"Range": "bytes=500-"}).status_code == 416


def test_from_directory_options(client_for: Client, shared: Path) -> None:
    client = client_for(shared_app(shared, show_hidden=True, follow_symlinks=True))
    assert client.get("/files/.env").content == b"PASSWORD=hunter2"
    assert client.get("/files/out.txt").content == b"TOP SECRET"  # the app asked for it
    assert client.get("/files/%2e%2e/secret.txt").status_code == 404  # never '..'
    client = client_for(
        shared_app(shared, filename="greeting.txt", media_type="text/x-greeting", status=203)
    )
    response = client.get("/files/hello.txt")
    assert response.status_code == 203
    assert response.headers["content-type"] == "text/x-greeting"
    assert response.headers["content-disposition"] == 'attachment; filename="greeting.txt"'


def test_from_directory_relative_to_the_application(
    client_for: Client, shared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As Flask's send_from_directory and app.static: relative to the application's folder.
    app = shared_app("shared")
    app.root_folder = str(shared.parent)
    monkeypatch.chdir("/")
    assert client_for(app).get("/files/hello.txt").content == b"0123456789" * 10


# Redirects.


def test_redirects(client_for: Client) -> None:
    app = App(__name__)

    @app.get("/old")
    def old() -> RedirectResponse:
        return redirect("/new")

    @app.get("/moved")
    def moved() -> RedirectResponse:
        return redirect("https://example.org/a b?x=é", status=301)

    @app.post("/form")
    def form() -> RedirectResponse:
        return RedirectResponse("/done", 303, headers={"X-Why": "posted"})

    @app.get("/new")
    def new() -> str:
        return "new"

    client = client_for(app)
    response = client.get("/old")
    assert response.status_code == 302
    assert response.headers["location"] == "/new"
    assert response.content == b""
    assert client.get("/old", follow_redirects=True).text == "new"
    response = client.get("/moved")
    assert response.status_code == 301
    assert response.headers["location"] == "https://example.org/a%20b?x=%C3%A9"
    response = client.post("/form")
    assert (response.status_code, response.headers["x-why"]) == (303, "posted")
    assert response.headers["location"] == "/done"


def test_redirect_refuses_header_injection() -> None:
    response = redirect("/a\r\nSet-Cookie: x=1")
    assert "\r" not in response.headers["location"]
    assert "\n" not in response.headers["location"]


def test_no_content_has_no_content_length(client_for: Client, files: Path) -> None:
    app = App(__name__)

    @app.get("/empty")
    def empty() -> None:
        return None

    @app.get("/empty-response")
    def empty_response() -> Response:
        return Response(status=204)

    client = client_for(app)
    for target in ("/empty", "/empty-response"):
        response = client.get(target)
        assert response.status_code == 204
        assert "content-length" not in response.headers


def test_cookie_values_round_trip_through_the_client(client_for: Client) -> None:
    app = App(__name__)

    @app.get("/set")
    def set_value(request: Request) -> Response:
        response = Response("set")
        response.set_cookie("note", request.query["value"])
        return response

    @app.get("/read")
    def read(request: Request) -> dict[str, str]:
        return request.cookies

    client = client_for(app)
    for value in ("a b;c", "été", "100%", 'say "hi", ok'):
        client.get("/set", params={"value": value})
        assert client.get("/read").json() == {"note": value}

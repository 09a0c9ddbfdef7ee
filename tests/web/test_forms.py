"""Forms (porch/web/forms.py): urlencoded and multipart bodies, uploads spooled to disk past
1 MiB, and a clear 4xx for every malformed form; every request through both paths."""

import os
import time
from collections.abc import Callable
from typing import Any

import pytest

from porch import App, HTTPError, Request
from porch.testing import TestClient
from porch.web import forms
from porch.web.forms import FormData, UploadFile

Client = Callable[..., TestClient]


def form_app(kept: list[FormData] | None = None) -> App:
    app = App(__name__)

    @app.post("/form")
    async def form(request: Request) -> dict[str, Any]:
        form = await request.form()
        if kept is not None:
            kept.append(form)
        files = {}
        for name, upload in form.files_list:
            data = await upload.read()
            files.setdefault(name, []).append(
                {
                    "filename": upload.filename,
                    "content_type": upload.content_type,
                    "size": upload.size,
                    "in_memory": upload.in_memory,
                    "head": data[:16].decode("latin-1"),
                    "length": len(data),
                }
            )
        return {
            "fields": form.multi_items(),
            "name": form.get("name"),
            "missing": form.get("missing", "default"),
            "tags": form.getlist("tag"),
            "files": files,
            "first": form.files["file"].filename if "file" in form.files else None,
            "same": form is await request.form(),
        }

    return app


def test_urlencoded(client_for: Client) -> None:
    client = client_for(form_app())
    response = client.post("/form", data={"name": "Éagles", "tag": ["a", "b"], "empty": ""})
    data = response.json()
    assert data["fields"] == [["name", "Éagles"], ["tag", "a"], ["tag", "b"], ["empty", ""]]
    assert data["name"] == "Éagles"
    assert data["missing"] == "default"
    assert data["tags"] == ["a", "b"]
    assert data["files"] == {}
    assert data["same"] is True


def test_urlencoded_with_a_charset(client_for: Client) -> None:
    client = client_for(form_app())
    body = b"name=%E9t%E9"
    response = client.post(
        "/form",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=latin-1"},
    )
    assert response.json()["name"] == "été"


def test_multipart_fields_and_files(client_for: Client) -> None:
    client = client_for(form_app())
    response = client.post(
        "/form",
        data={"name": "Ann", "tag": ["x", "y"]},
        files=[
            ("file", ("notes.txt", b"hello file", "text/plain")),
            ("file", ("second.bin", b"\x00\x01", "application/octet-stream")),
            ("photo", ("me.png", b"\x89PNG....", "image/png")),
        ],
    )
    data = response.json()
    assert data["name"] == "Ann"
    assert data["tags"] == ["x", "y"]
    assert data["first"] == "notes.txt"
    assert data["files"]["file"] == [
        {
            "filename": "notes.txt",
            "content_type": "text/plain",
            "size": 10,
            "in_memory": True,
            "head": "hello file",
            "length": 10,
        },
        {
            "filename": "second.bin",
            "content_type": "application/octet-stream",
            "size": 2,
            "in_memory": True,
            "head": "\x00\x01",
            "length": 2,
        },
    ]
    assert data["files"]["photo"][0]["content_type"] == "image/png"


def test_multipart_file_without_a_content_type(client_for: Client) -> None:
    client = client_for(form_app())
    body = (
        b"--b\r\n"
        b'Content-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n'
        b"abc\r\n"
        b"--b--\r\n"
    )
    response = client.post(
        "/form", content=body, headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    upload = response.json()["files"]["file"][0]
    assert upload["content_type"] == "application/octet-stream"
    assert upload["head"] == "abc"


def test_non_ascii_file_name(client_for: Client) -> None:
    client = client_for(form_app())
    body = (
        b"--b\r\n"
        b'Content-Disposition: form-data; name="file"; filename="\xc3\xa9t\xc3\xa9.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n"
        b"summer\r\n"
        b"--b--\r\n"
    )
    response = client.post(
        "/form", content=body, headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert response.json()["first"] == "été.txt"


def test_upload_spools_to_disk_past_one_mebibyte(client_for: Client) -> None:
    client = client_for(form_app())
    small = b"s" * (forms.SPOOL_SIZE - 1000)
    big = os.urandom(2 * 1024 * 1024)
    response = client.post("/form", files={"small": ("small.bin", small), "big": ("big.bin", big)})
    files = response.json()["files"]
    assert files["small"][0]["in_memory"] is True
    assert files["small"][0]["length"] == len(small)
    assert files["big"][0]["in_memory"] is False
    assert files["big"][0]["size"] == files["big"][0]["length"] == len(big)


def test_big_upload_reaches_the_handler_intact(client_for: Client) -> None:
    app = App(__name__)
    big = os.urandom(3 * 1024 * 1024 + 17)

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, Any]:
        form = await request.form()
        upload = form.files["file"]
        first = await upload.read(10)
        rest = await upload.read()
        await upload.seek(0)
        whole = await upload.read()
        return {
            "ok": first + rest == big and whole == big,
            "on_disk": not upload.in_memory,
            "repr": repr(upload),
        }

    data = client_for(app).post("/upload", files={"file": ("big.bin", big)}).json()
    assert data["ok"] is True
    assert data["on_disk"] is True
    assert data["repr"] == f"<UploadFile 'big.bin' application/octet-stream {len(big)} bytes>"


def test_uploaded_files_are_closed_after_the_response(client_for: Client) -> None:
    kept: list[FormData] = []
    client = client_for(form_app(kept))
    client.post("/form", files={"file": ("a.bin", os.urandom(2 * 1024 * 1024))})
    upload = kept[0].files["file"]
    assert upload.file.closed


def test_empty_body_without_content_type_is_an_empty_form(client_for: Client) -> None:
    client = client_for(form_app())
    data = client.post("/form").json()
    assert data["fields"] == []
    assert data["files"] == {}


@pytest.mark.parametrize(
    ("content_type", "body", "status", "message"),
    [
        ("application/json", b'{"a": 1}', 415, "Expected a form"),
        ("text/plain", b"a=1", 415, "Expected a form"),
        ("", b"a=1", 415, "Expected a form"),
        ("multipart/form-data", b"--x\r\n", 400, "without a boundary"),
        ("multipart/form-data; boundary=b", b"garbage", 400, "Malformed multipart"),
        (
            "multipart/form-data; boundary=b",
            b"--b\r\nContent-Type: text/plain\r\n\r\nabc\r\n--b--\r\n",
            400,
            "no Content-Disposition",
        ),
        (
            "multipart/form-data; boundary=b",
            b"--b\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--b--\r\n",
            400,
            "no name",
        ),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n\xff\xfe\r\n--b--\r\n',
            400,
            "not valid UTF-8",
        ),
        ("application/x-www-form-urlencoded", b"a=%ff", 400, "not valid utf-8"),
        ("application/x-www-form-urlencoded; charset=klingon", b"a=1", 400, "klingon"),
        ("application/x-www-form-urlencoded; charset=rot13", b"a=1", 400, "rot13"),
        ("application/x-www-form-urlencoded; charset=utf-16", b"a=1", 400, "utf-16"),
        (
            "multipart/form-data; boundary=" + "b" * 300,
            b"--" + b"b" * 300 + b"--\r\n",
            400,
            "Boundary length",
        ),
    ],
)
def test_malformed_forms_are_4xx(
    client_for: Client, content_type: str, body: bytes, status: int, message: str
) -> None:
    client = client_for(form_app())
    headers = {"Content-Type": content_type, "Accept": "application/json"}
    response = client.post("/form", content=body, headers=headers)
    assert response.status_code == status
    assert message in response.json()["error"]["detail"]


def test_truncated_multipart_is_400(client_for: Client) -> None:
    client = client_for(form_app())
    body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc'
    response = client.post(
        "/form", content=body, headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert response.status_code == 400


def test_too_many_fields_is_413(client_for: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forms, "MAX_FIELDS", 5)
    client = client_for(form_app())
    data = {f"f{i}": "x" for i in range(6)}
    assert client.post("/form", data=data).status_code == 413
    assert client.post("/form", data=data, files={"file": ("a", b"a")}).status_code == 413
    fewer = {f"f{i}": "x" for i in range(5)}
    assert client.post("/form", data=fewer).status_code == 200
    assert client.post("/form", data=fewer, files={"file": ("a", b"a")}).status_code == 200


def test_too_many_files_is_413(client_for: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forms, "MAX_FILES", 2)
    client = client_for(form_app())
    files = [("file", (f"{i}.txt", b"x")) for i in range(3)]
    assert client.post("/form", files=files).status_code == 413
    assert client.post("/form", files=files[:2]).status_code == 200


def test_too_big_field_is_413(client_for: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forms, "MAX_FIELD_SIZE", 100)
    client = client_for(form_app())
    response = client.post("/form", data={"a": "x" * 101}, files={"f": ("f", b"small")})
    assert response.status_code == 413
    # Files are not fields: they may be as large as the body limit allows.
    assert client.post("/form", files={"f": ("f", b"y" * 1000)}).status_code == 200


def test_formdata_and_uploadfile_units() -> None:
    import asyncio

    from porch.web.datastructures import Headers

    async def run() -> None:
        upload = UploadFile("a.txt", "text/plain", Headers())
        upload._write(b"abc")
        upload.file.seek(0)
        form = FormData([("a", "1")], [("f", upload), ("f", UploadFile("b", "x/y", Headers()))])
        assert form.get("a") == "1"
        assert form.files["f"] is upload
        assert [u.filename for u in form.getfiles("f")] == ["a.txt", "b"]
        assert await upload.read() == b"abc"
        await form.close()
        assert upload.file.closed

    asyncio.run(run())


def test_uploads_closed_once_a_streamed_answer_is_sent(client_for: Client) -> None:
    from porch import StreamingResponse

    app = App(__name__)
    uploads: list[UploadFile] = []
    open_while_streaming: list[bool] = []

    @app.post("/echo")
    async def echo(request: Request) -> StreamingResponse:
        form = await request.form()
        upload = form.files["file"]
        uploads.append(upload)

        async def chunks() -> Any:
            open_while_streaming.append(not upload.file.closed)
            yield await upload.read()

        return StreamingResponse(chunks())

    client = client_for(app)
    response = client.post("/echo", files={"file": ("a.bin", b"streamed back")})
    assert response.content == b"streamed back"
    assert open_while_streaming == [True]
    assert uploads[0].file.closed


def test_raw_utf8_urlencoded_body(client_for: Client) -> None:
    client = client_for(form_app())
    response = client.post(
        "/form",
        content="name=Zoë&tag=été".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.json()["name"] == "Zoë"
    assert response.json()["tags"] == ["été"]


# The per-field limit holds for urlencoded forms too, counted after percent-decoding.

URLENCODED = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}


def unbounded_form_app() -> App:
    """form_app without the application's body limit: the form's own limits are under test."""
    app = form_app()
    app.max_body_size = None
    return app


@pytest.mark.parametrize(
    "body",
    [
        b"a=" + b"x" * (forms.MAX_FIELD_SIZE + 1),
        b"a=1&b=" + b"%41" * (forms.MAX_FIELD_SIZE + 1),  # 3 MiB sent, 1 MiB + 1 decoded
        b"a=" + b"+" * (forms.MAX_FIELD_SIZE + 1),
        b"x" * (forms.MAX_FIELD_SIZE + 1) + b"=1",  # a name is no smaller a field
    ],
    ids=["plain", "percent-encoded", "plus-encoded", "name"],
)
def test_too_big_urlencoded_field_is_413(client_for: Client, body: bytes) -> None:
    client = client_for(unbounded_form_app())
    response = client.post("/form", content=body, headers=URLENCODED)
    assert response.status_code == 413
    detail = response.json()["error"]["detail"]
    assert detail == f"A form field is larger than {forms.MAX_FIELD_SIZE} bytes"


def test_urlencoded_field_limit_counts_decoded_bytes(client_for: Client) -> None:
    client = client_for(unbounded_form_app())
    at_limit = b"a=" + b"x" * forms.MAX_FIELD_SIZE + b"&b=2"
    response = client.post("/form", content=at_limit, headers=URLENCODED)
    assert response.status_code == 200
    assert len(response.json()["fields"][0][1]) == forms.MAX_FIELD_SIZE
    # 1.5 MiB on the wire, half a MiB once decoded.
    encoded = b"a=" + b"%41" * (forms.MAX_FIELD_SIZE // 2)
    response = client.post("/form", content=encoded, headers=URLENCODED)
    assert response.status_code == 200
    assert response.json()["name"] is None
    assert response.json()["fields"] == [["a", "A" * (forms.MAX_FIELD_SIZE // 2)]]


def test_urlencoded_parsing_keeps_its_rules(client_for: Client) -> None:
    """What parse_qsl did: '+' is a space, blank values kept, empty pieces skipped."""
    client = client_for(form_app())
    body = b"name=a+b%2Bc&&tag=&tag&=v&%E2%9C%93=%25"
    response = client.post("/form", content=body, headers=URLENCODED)
    assert response.json()["fields"] == [
        ["name", "a b+c"],
        ["tag", ""],
        ["tag", ""],
        ["", "v"],
        ["✓", "%"],
    ]


# Part headers are bounded: a huge one is refused at once, with a 400 that says why.

MULTIPART = {"Content-Type": "multipart/form-data; boundary=b", "Accept": "application/json"}
TWENTY_MB = 20 * 1024 * 1024


@pytest.mark.parametrize(
    "part_head",
    [
        b'Content-Disposition: form-data; name="a"; filename="' + b"x" * TWENTY_MB + b'"',
        b"X-" + b"n" * TWENTY_MB + b": 1",  # one header name with no end in sight
        b"X-A: 1\r\n" * (TWENTY_MB // 8),  # or headers without number
    ],
    ids=["long-value", "long-name", "many-headers"],
)
def test_huge_part_header_refused_fast(client_for: Client, part_head: bytes) -> None:
    client = client_for(unbounded_form_app())
    body = b"--b\r\n" + part_head + b"\r\n\r\ndata\r\n--b--\r\n"
    started = time.process_time()
    response = client.post("/form", content=body, headers=MULTIPART)
    spent = time.process_time() - started
    assert response.status_code == 400
    assert response.json()["error"]["detail"].startswith("Malformed multipart form: Maximum")
    assert spent < 0.5, f"{spent:.2f}s of CPU for one form"


def part(headers: list[bytes]) -> bytes:
    return b"--b\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\nvalue\r\n--b--\r\n"


def test_part_headers_bounded_in_all(client_for: Client) -> None:
    """Lines each short enough still make too much together."""
    client = client_for(form_app())
    line = b"X-Pad: " + b"p" * (forms.MAX_PART_HEADER_SIZE // 4)
    ok = part([b'Content-Disposition: form-data; name="a"', line, line])
    assert client.post("/form", content=ok, headers=MULTIPART).json()["fields"] == [["a", "value"]]
    response = client.post(
        "/form",
        content=part([b'Content-Disposition: form-data; name="a"', *[line] * 4]),
        headers=MULTIPART,
    )
    assert response.status_code == 400
    detail = response.json()["error"]["detail"]
    assert detail == f"A form part's headers are larger than {forms.MAX_PART_HEADER_SIZE} bytes"


def test_part_header_count_bounded(client_for: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forms, "MAX_PART_HEADERS", 2)
    client = client_for(form_app())
    two = [b'Content-Disposition: form-data; name="a"', b"Content-Type: text/plain"]
    assert client.post("/form", content=part(two), headers=MULTIPART).status_code == 200
    response = client.post("/form", content=part([*two, b"X-Third: 3"]), headers=MULTIPART)
    assert response.status_code == 400
    assert "Maximum header count" in response.json()["error"]["detail"]


def test_part_header_bounds_hold_across_chunks() -> None:
    """Porch's own bounds, whatever the parser does: a header arriving in many pieces."""
    state = forms._MultipartState()
    state.part_begin()
    chunk = b"n" * 1024
    for _ in range(forms.MAX_PART_HEADER_SIZE // 1024):
        state.header_field(chunk, 0, len(chunk))
    with pytest.raises(HTTPError) as refused:
        state.header_field(chunk, 0, 1)
    assert refused.value.status == 400
    assert len(state.header_name) == forms.MAX_PART_HEADER_SIZE  # nothing kept past it
    state.header_end()
    state.part_begin()  # the next part starts afresh
    state.header_field(chunk, 0, len(chunk))
    for _ in range(forms.MAX_PART_HEADERS):
        state.header_end()
    with pytest.raises(HTTPError, match="more than 8 headers"):
        state.header_end()

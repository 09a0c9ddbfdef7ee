"""porch.server.static end to end: StaticFiles on a real socket, real clients.

Security (traversal, links, hidden files, special files) is in test_static_security.py; the
pure parts of files.py, listing.py and mediatypes.py in test_static_units.py.
"""

import gzip
import hashlib
import http.client
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from porch.http.dates import format_http_date
from porch.http.native import FileRegion, RequestHead, Response
from porch.server import files as files_module
from porch.server.files import FileCache, file_response
from porch.server.static import StaticFiles
from tests.support import PorchProcess, RawClient, needs_tool, serve

OLD = time.time() - 3600  # an mtime old enough for the small-file cache to keep the bytes
TEXT = b"".join(b"line %04d of a text file\n" % i for i in range(4000))  # ~100 KB, compressible


def make_site(base: Path) -> Path:
    """A served folder `base/root` (returned), with `base/secret.txt` outside it."""
    root = base / "root"
    root.mkdir()
    (base / "secret.txt").write_bytes(b"TOP SECRET outside the root\n")
    (base / "outside").mkdir()
    (base / "outside" / "inner.txt").write_bytes(b"TOP SECRET inner\n")
    (root / "index.html").write_bytes(b"<!doctype html><title>home</title>home page\n")
    (root / "file.txt").write_bytes(bytes(range(32, 127)) * 32)  # 3040 bytes
    (root / "empty.txt").write_bytes(b"")
    (root / "sub").mkdir()
    (root / "sub" / "index.html").write_bytes(b"<p>sub index</p>\n")
    (root / "docs").mkdir()
    (root / "docs" / "a.txt").write_bytes(b"a\n")
    (root / "text.txt").write_bytes(TEXT)
    (root / "text.txt.gz").write_bytes(gzip.compress(TEXT))
    (root / "text.txt.br").write_bytes(b"pretend-brotli:" + TEXT[:1000])
    (root / "only-gz.css").write_bytes(b"body { color: red }\n" * 50)
    (root / "only-gz.css.gz").write_bytes(gzip.compress(b"body { color: red }\n" * 50))
    for path in root.rglob("*"):
        os.utime(path, (OLD, OLD))
    return root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_site(tmp_path)


@pytest.fixture
def site(root: Path):
    with serve(StaticFiles(root)) as server:
        yield server


def fetch(
    server, path: str, method: str = "GET", headers: dict[str, str] | None = None, body=None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request with the path sent exactly as given; status, headers, body."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def parse_multipart(body: bytes, content_type: str) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a multipart/byteranges body: (headers, data)."""
    boundary = re.search(r"boundary=([^;\s]+)", content_type).group(1).encode()
    sections = body.split(b"--" + boundary)
    assert sections[0] == b"" and sections[-1] == b"--\r\n", (sections[0], sections[-1])
    parts = []
    for section in sections[1:-1]:
        assert section.startswith(b"\r\n") and section.endswith(b"\r\n")
        head, _, data = section[2:-2].partition(b"\r\n\r\n")
        fields = {}
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        parts.append((fields, data))
    return parts


# Content types.


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("page.html", "text/html; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("mod.mjs", "text/javascript; charset=utf-8"),
        ("data.json", "application/json; charset=utf-8"),
        ("logo.svg", "image/svg+xml; charset=utf-8"),
        ("pic.png", "image/png"),
        ("pic.jpg", "image/jpeg"),
        ("pic.JPEG", "image/jpeg"),
        ("anim.gif", "image/gif"),
        ("pic.webp", "image/webp"),
        ("pic.avif", "image/avif"),
        ("favicon.ico", "image/vnd.microsoft.icon"),
        ("mod.wasm", "application/wasm"),
        ("notes.txt", "text/plain; charset=utf-8"),
        ("feed.xml", "application/xml; charset=utf-8"),
        ("doc.pdf", "application/pdf"),
        ("font.woff", "font/woff"),
        ("font.woff2", "font/woff2"),
        ("clip.mp4", "video/mp4"),
        ("clip.webm", "video/webm"),
        ("song.mp3", "audio/mpeg"),
        ("app.js.map", "application/json; charset=utf-8"),
        ("README.md", "text/markdown; charset=utf-8"),
        ("archive.tar.gz", "application/gzip"),
        ("Makefile", "application/octet-stream"),
        ("blob.unknownext", "application/octet-stream"),
    ],
)
def test_content_type_over_http(tmp_path: Path, name: str, expected: str) -> None:
    (tmp_path / name).write_bytes(b"x" * 10)
    with serve(StaticFiles(tmp_path)) as server:
        status, headers, body = fetch(server, "/" + name)
    assert status == 200
    assert headers["content-type"] == expected
    assert body == b"x" * 10
    assert "content-encoding" not in headers  # archive.tar.gz is bytes, not an encoding


def test_every_file_has_validators_and_accepts_ranges(site, root: Path) -> None:
    status, headers, body = fetch(site, "/file.txt")
    assert status == 200
    assert body == (root / "file.txt").read_bytes()
    assert headers["content-length"] == str(len(body))
    assert re.fullmatch(r'"[0-9a-f]+-[0-9a-f]+"', headers["etag"])
    assert headers["last-modified"] == format_http_date(int(OLD))
    assert headers["accept-ranges"] == "bytes"
    assert "vary" not in headers  # no precompressed sibling
    assert headers["date"] and headers["server"]


def test_query_string_is_ignored_for_files(site, root: Path) -> None:
    status, _, body = fetch(site, "/file.txt?v=123&x=<y>")
    assert status == 200
    assert body == (root / "file.txt").read_bytes()


def test_empty_file(site) -> None:
    status, headers, body = fetch(site, "/empty.txt")
    assert (status, body, headers["content-length"]) == (200, b"", "0")
    status, headers, body = fetch(site, "/empty.txt", headers={"Range": "bytes=0-10"})
    assert status == 416
    assert headers["content-range"] == "bytes */0"


def test_non_ascii_names(tmp_path: Path) -> None:
    (tmp_path / "café.txt").write_bytes(b"utf-8 name")
    (tmp_path / os.fsdecode(b"raw\xff.txt")).write_bytes(b"latin-1 name")
    (tmp_path / "100%.txt").write_bytes(b"percent")
    (tmp_path / "a b+c.txt").write_bytes(b"space")
    with serve(StaticFiles(tmp_path)) as server:
        assert fetch(server, "/caf%C3%A9.txt")[2] == b"utf-8 name"
        assert fetch(server, "/raw%FF.txt")[2] == b"latin-1 name"
        assert fetch(server, "/100%25.txt")[2] == b"percent"
        assert fetch(server, "/a%20b+c.txt")[2] == b"space"
        assert fetch(server, "/a b+c.txt".replace(" ", "%20"))[0] == 200


# Folders: index.html, the redirect, listings.


def test_index_html_for_folders(site) -> None:
    status, headers, body = fetch(site, "/")
    assert status == 200
    assert body.endswith(b"home page\n")
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert "etag" in headers
    assert fetch(site, "/sub/")[2] == b"<p>sub index</p>\n"


def test_folder_without_slash_redirects_keeping_the_query(site) -> None:
    status, headers, _ = fetch(site, "/sub?a=1&b=%20x")
    assert status == 301
    assert headers["location"] == "/sub/?a=1&b=%20x"
    status, headers, _ = fetch(site, "/sub", method="HEAD")
    assert (status, headers["location"]) == (301, "/sub/")
    # httpx follows it to the index.
    response = httpx.get(site.url + "/sub", follow_redirects=True)
    assert response.status_code == 200
    assert str(response.url).endswith("/sub/")
    assert response.text == "<p>sub index</p>\n"


def test_redirect_never_becomes_a_protocol_relative_url(tmp_path: Path) -> None:
    (tmp_path / "evil.example").mkdir()
    with serve(StaticFiles(tmp_path)) as server:
        status, headers, _ = fetch(server, "//evil.example")
        assert status == 301
        assert headers["location"] == "/evil.example/"  # not //evil.example/, another host
        status, headers, _ = fetch(server, "///evil.example?q=1")
        assert (status, headers["location"]) == (301, "/evil.example/?q=1")


def test_redirect_keeps_the_encoding_of_the_path(tmp_path: Path) -> None:
    (tmp_path / "a b é").mkdir()
    with serve(StaticFiles(tmp_path)) as server:
        status, headers, _ = fetch(server, "/a%20b%20%C3%A9")
    assert status == 301
    assert headers["location"] == "/a%20b%20%C3%A9/"


def test_file_url_with_trailing_slash_is_404(site) -> None:
    assert fetch(site, "/file.txt/")[0] == 404


def test_folder_without_index_is_404_when_listing_is_off(site) -> None:
    status, headers, body = fetch(site, "/docs/")
    assert status == 404
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert b"a.txt" not in body


def listing_site(base: Path) -> Path:
    folder = base / "www"
    folder.mkdir()
    names = [
        "<script>alert(1)<script>.txt",
        "<img src=x onerror=alert(1)>.txt",
        'a&b "q".txt',
        "100% sure.txt",
        "?x#y.txt",
        "a:b.txt",
        "zeta.txt",
        "Alpha.txt",
    ]
    for name in names:
        (folder / name).write_bytes(name.encode() + b" content")
    (folder / os.fsdecode(b"bad\xffname.txt")).write_bytes(b"non-utf-8 name")
    (folder / "folder<b>").mkdir()
    (folder / "folder<b>" / "inside.txt").write_bytes(b"inside")
    (folder / ".hidden").write_bytes(b"hidden")
    (folder / "back\\slash.txt").write_bytes(b"unservable")
    os.mkfifo(folder / "pipe")
    os.symlink(base / "secret.txt", folder / "leak.txt")
    (base / "secret.txt").write_bytes(b"TOP SECRET")
    return folder


def test_listing_escapes_names_and_links_round_trip(tmp_path: Path) -> None:
    folder = listing_site(tmp_path)
    with serve(StaticFiles(folder, list_directories=True)) as server:
        status, headers, body = fetch(server, "/")
        assert status == 200
        assert headers["content-type"] == "text/html; charset=utf-8"
        assert "default-src 'none'" in headers["content-security-policy"]
        page = body.decode()
        # Nothing a name holds becomes markup.
        assert "<script>" not in page and "<img" not in page and "<b>" not in page
        assert "&lt;script&gt;alert(1)&lt;script&gt;.txt" in page
        assert "a&amp;b &quot;q&quot;.txt" in page
        assert "folder&lt;b&gt;/" in page  # folders end in '/'
        # Hidden files, unservable names, FIFOs and links out of the folder are not listed.
        for absent in (".hidden", "slash.txt", "pipe", "leak.txt"):
            assert absent not in page
        assert 'href="../"' not in page  # the root has no parent
        hrefs = re.findall(r'href="([^"]*)"', page)
        # Folders first, then files by name, case-insensitively.
        assert hrefs[0] == "folder%3Cb%3E/"
        files = hrefs[1:]
        assert files.index("Alpha.txt") < files.index("zeta.txt")
        assert "%3Fx%23y.txt" in files and "a%3Ab.txt" in files
        assert "bad%FFname.txt" in files
        # Every link leads back to its file.
        for href in files:
            assert not href.startswith(("/", "//")) and ":" not in href
            status, _, content = fetch(server, "/" + href)
            assert status == 200, href
            assert content.endswith(b"content") or content == b"non-utf-8 name", href
        status, _, sub = fetch(server, "/folder%3Cb%3E/")
        assert status == 200
        assert 'href="../"' in sub.decode()
        assert 'href="inside.txt"' in sub.decode()
        assert "Index of /folder&lt;b&gt;/" in sub.decode()


def test_listing_prefers_index_html(root: Path) -> None:
    with serve(StaticFiles(root, list_directories=True)) as server:
        assert fetch(server, "/")[2].endswith(b"home page\n")
        status, _, body = fetch(server, "/docs/")
        assert status == 200
        assert b'href="a.txt"' in body
        assert fetch(server, "/docs/", method="HEAD")[2] == b""


# Conditional requests.


def test_if_none_match_gives_304(site) -> None:
    _, headers, _ = fetch(site, "/file.txt")
    etag = headers["etag"]
    for value in (etag, f"W/{etag}", f'"nope", {etag}', f'"a,b", W/{etag}', "*"):
        status, got, body = fetch(site, "/file.txt", headers={"If-None-Match": value})
        assert status == 304, value
        assert body == b""
        assert got["etag"] == etag
        assert got["last-modified"] == headers["last-modified"]
        assert "content-length" not in got
    status, _, body = fetch(site, "/file.txt", headers={"If-None-Match": '"other"'})
    assert status == 200 and len(body) == 3040
    status, _, _ = fetch(site, "/file.txt", method="HEAD", headers={"If-None-Match": etag})
    assert status == 304


def test_if_modified_since(site) -> None:
    _, headers, _ = fetch(site, "/file.txt")
    last_modified = headers["last-modified"]
    later = format_http_date(OLD + 100)
    earlier = format_http_date(OLD - 100)
    assert fetch(site, "/file.txt", headers={"If-Modified-Since": last_modified})[0] == 304
    assert fetch(site, "/file.txt", headers={"If-Modified-Since": later})[0] == 304
    assert fetch(site, "/file.txt", headers={"If-Modified-Since": earlier})[0] == 200
    assert fetch(site, "/file.txt", headers={"If-Modified-Since": "yesterday"})[0] == 200
    # If-None-Match wins: a mismatching tag means 200 whatever the date says.
    both = {"If-Modified-Since": later, "If-None-Match": '"other"'}
    assert fetch(site, "/file.txt", headers=both)[0] == 200


def test_if_match_and_if_unmodified_since_give_412(site) -> None:
    _, headers, _ = fetch(site, "/file.txt")
    etag = headers["etag"]
    assert fetch(site, "/file.txt", headers={"If-Match": etag})[0] == 200
    assert fetch(site, "/file.txt", headers={"If-Match": f'"x", {etag}'})[0] == 200
    assert fetch(site, "/file.txt", headers={"If-Match": "*"})[0] == 200
    status, _, body = fetch(site, "/file.txt", headers={"If-Match": '"other"'})
    assert status == 412
    assert b"412" in body and b"file" not in body
    # If-Match uses the strong comparison: a weak tag never matches.
    assert fetch(site, "/file.txt", headers={"If-Match": f"W/{etag}"})[0] == 412
    earlier = format_http_date(OLD - 100)
    assert fetch(site, "/file.txt", headers={"If-Unmodified-Since": earlier})[0] == 412
    later = format_http_date(OLD + 100)
    assert fetch(site, "/file.txt", headers={"If-Unmodified-Since": later})[0] == 200
    # If-Match present: If-Unmodified-Since is not looked at.
    both = {"If-Match": etag, "If-Unmodified-Since": earlier}
    assert fetch(site, "/file.txt", headers=both)[0] == 200
    # 412 before 304.
    both = {"If-Match": '"other"', "If-None-Match": etag}
    assert fetch(site, "/file.txt", headers=both)[0] == 412


def test_a_changed_file_gets_a_new_etag_and_new_bytes(site, root: Path) -> None:
    _, first, body = fetch(site, "/file.txt")
    path = root / "file.txt"
    path.write_bytes(body.upper())  # same size: only mtime changes
    os.utime(path, (OLD + 10, OLD + 10))
    status, second, body2 = fetch(site, "/file.txt", headers={"If-None-Match": first["etag"]})
    assert status == 200
    assert body2 == body.upper()
    assert second["etag"] != first["etag"]


def test_racy_small_file_is_not_cached(tmp_path: Path) -> None:
    """A file rewritten within one timestamp tick (same size, same mtime) is never stale."""
    path = tmp_path / "fresh.txt"
    path.write_bytes(b"version 1")
    mtime_ns = path.stat().st_mtime_ns
    with serve(StaticFiles(tmp_path)) as server:
        assert fetch(server, "/fresh.txt")[2] == b"version 1"
        path.write_bytes(b"version 2")
        os.utime(path, ns=(mtime_ns, mtime_ns))
        assert fetch(server, "/fresh.txt")[2] == b"version 2"


# Ranges.


def test_single_ranges(site, root: Path) -> None:
    data = (root / "file.txt").read_bytes()
    cases = {
        "bytes=0-9": (0, 10),
        "bytes=100-": (100, len(data)),
        "bytes=-50": (len(data) - 50, len(data)),
        "bytes=3000-999999": (3000, len(data)),
        "bytes=-99999": (0, len(data)),
        "bytes=5-9, 0-4": (0, 10),  # touching ranges merge into one
    }
    for value, (start, end) in cases.items():
        status, headers, body = fetch(site, "/file.txt", headers={"Range": value})
        assert status == 206, value
        assert body == data[start:end], value
        assert headers["content-range"] == f"bytes {start}-{end - 1}/{len(data)}"
        assert headers["content-length"] == str(end - start)
        assert headers["content-type"] == "text/plain; charset=utf-8"
        assert "etag" in headers


def test_multiple_ranges_are_multipart(site, root: Path) -> None:
    data = (root / "file.txt").read_bytes()
    status, headers, body = fetch(site, "/file.txt", headers={"Range": "bytes=0-4,10-19,-5"})
    assert status == 206
    assert headers["content-type"].startswith("multipart/byteranges; boundary=")
    assert headers["content-length"] == str(len(body))
    parts = parse_multipart(body, headers["content-type"])
    size = len(data)
    assert [(p["content-range"], d) for p, d in parts] == [
        (f"bytes 0-4/{size}", data[0:5]),
        (f"bytes 10-19/{size}", data[10:20]),
        (f"bytes {size - 5}-{size - 1}/{size}", data[-5:]),
    ]
    assert all(p["content-type"] == "text/plain; charset=utf-8" for p, _ in parts)


def test_unsatisfiable_range_is_416(site) -> None:
    status, headers, body = fetch(site, "/file.txt", headers={"Range": "bytes=5000-6000"})
    assert status == 416
    assert headers["content-range"] == "bytes */3040"
    assert b"416" in body


@pytest.mark.parametrize("value", ["bytes=abc", "bytes=9-5", "items=0-1", "bytes=", "0-5"])
def test_invalid_range_is_ignored(site, value: str) -> None:
    status, _, body = fetch(site, "/file.txt", headers={"Range": value})
    assert (status, len(body)) == (200, 3040)


def test_if_range(site, root: Path) -> None:
    data = (root / "file.txt").read_bytes()
    _, headers, _ = fetch(site, "/file.txt")
    etag, last_modified = headers["etag"], headers["last-modified"]
    ok = [etag, last_modified]
    stale = ['"other"', f"W/{etag}", format_http_date(OLD - 100), format_http_date(OLD + 100), "x"]
    for value in ok:
        got = fetch(site, "/file.txt", headers={"Range": "bytes=0-9", "If-Range": value})
        assert (got[0], got[2]) == (206, data[:10]), value
    for value in stale:
        got = fetch(site, "/file.txt", headers={"Range": "bytes=0-9", "If-Range": value})
        assert (got[0], got[2]) == (200, data), value


def test_head_is_get_without_the_body(site, root: Path) -> None:
    for path in ("/file.txt", "/", "/text.txt", "/empty.txt"):
        get_status, get_headers, get_body = fetch(site, path)
        status, headers, body = fetch(site, path, method="HEAD")
        assert (status, body) == (get_status, b"")
        for name in ("content-type", "content-length", "etag", "last-modified", "vary"):
            assert headers.get(name) == get_headers.get(name), (path, name)
        assert int(headers["content-length"]) == len(get_body)


def test_head_ignores_range(site) -> None:
    # RFC 9110 §14.2: range handling is defined for GET only.
    status, headers, body = fetch(site, "/file.txt", method="HEAD", headers={"Range": "bytes=0-9"})
    assert (status, headers["content-length"], body) == (200, "3040", b"")
    assert "content-range" not in headers


# Precompressed siblings.


def raw_get(server, path: str, accept_encoding: str | None, **headers: str):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        if accept_encoding is not None:
            conn.putheader("Accept-Encoding", accept_encoding)
        for name, value in headers.items():
            conn.putheader(name.replace("_", "-"), value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("gzip", "gzip"),
        ("br", "br"),
        ("gzip, deflate, br, zstd", "br"),
        ("gzip, br", "br"),
        ("br;q=0.5, gzip", "gzip"),
        ("br;q=0, gzip;q=0.1", "gzip"),
        ("*", "br"),
        ("*;q=0.5, br;q=0", "gzip"),
        ("GZIP", "gzip"),
        ("x-gzip", "gzip"),
        ("identity", None),
        ("br;q=0, gzip;q=0", None),
        ("deflate", None),
        (None, None),
    ],
)
def test_precompressed_negotiation(site, root: Path, accept: str | None, expected) -> None:
    status, headers, body = raw_get(site, "/text.txt", accept)
    assert status == 200
    assert headers["vary"] == "accept-encoding"  # also on the uncompressed answer
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers.get("content-encoding") == expected
    sibling = {"gzip": "text.txt.gz", "br": "text.txt.br", None: "text.txt"}[expected]
    assert body == (root / sibling).read_bytes()
    assert headers["content-length"] == str(len(body))


def test_precompressed_variants_have_distinct_etags(site) -> None:
    tags = {raw_get(site, "/text.txt", ae)[1]["etag"] for ae in ("gzip", "br", "identity")}
    assert len(tags) == 3
    _, headers, _ = raw_get(site, "/text.txt", "gzip")
    status, got, _ = raw_get(site, "/text.txt", "gzip", If_None_Match=headers["etag"])
    assert status == 304
    assert got["vary"] == "accept-encoding"
    # The gzip tag does not validate the identity representation.
    assert raw_get(site, "/text.txt", None, If_None_Match=headers["etag"])[0] == 200


def test_ranges_apply_to_the_encoded_representation(site, root: Path) -> None:
    encoded = (root / "text.txt.gz").read_bytes()
    status, headers, body = raw_get(site, "/text.txt", "gzip", Range="bytes=0-99")
    assert status == 206
    assert headers["content-encoding"] == "gzip"
    assert headers["content-range"] == f"bytes 0-99/{len(encoded)}"
    assert body == encoded[:100]


def test_httpx_decodes_the_gzip_sibling(site) -> None:
    response = httpx.get(site.url + "/text.txt", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.content == TEXT


def test_head_of_a_precompressed_file(site, root: Path) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=10)
    conn.request("HEAD", "/only-gz.css", headers={"Accept-Encoding": "gzip"})
    response = conn.getresponse()
    assert response.read() == b""
    conn.close()
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert response.headers["content-length"] == str((root / "only-gz.css.gz").stat().st_size)


def test_the_sibling_itself_is_served_as_bytes(site, root: Path) -> None:
    status, headers, body = raw_get(site, "/text.txt.gz", "gzip")
    assert status == 200
    assert headers["content-type"] == "application/gzip"
    assert "content-encoding" not in headers
    assert body == (root / "text.txt.gz").read_bytes()


def test_siblings_appearing_and_vanishing_are_seen(tmp_path: Path, monkeypatch) -> None:
    from porch.server import static

    monkeypatch.setattr(static, "FOLDER_RECHECK_NS", 0)
    (tmp_path / "app.js").write_bytes(b"console.log(1)\n" * 100)
    with serve(StaticFiles(tmp_path)) as server:
        _, headers, _ = raw_get(server, "/app.js", "gzip")
        assert "vary" not in headers and "content-encoding" not in headers
        (tmp_path / "app.js.gz").write_bytes(gzip.compress(b"console.log(1)\n" * 100))
        _, headers, body = raw_get(server, "/app.js", "gzip")
        assert headers["content-encoding"] == "gzip"
        assert gzip.decompress(body) == b"console.log(1)\n" * 100
        (tmp_path / "app.js.gz").unlink()
        status, headers, body = raw_get(server, "/app.js", "gzip")
        assert status == 200 and "content-encoding" not in headers
        assert body == b"console.log(1)\n" * 100


def test_siblings_are_seen_through_the_remembered_folder_listing(
    tmp_path: Path, monkeypatch
) -> None:
    """Past the racy window the folder's names are remembered until its ctime moves."""
    from porch.server import static

    monkeypatch.setattr(static, "RACY_NS", 0)
    monkeypatch.setattr(static, "FOLDER_RECHECK_NS", 0)
    plain = b"console.log(2)\n" * 100
    (tmp_path / "app.js").write_bytes(plain)
    app = StaticFiles(tmp_path)
    with serve(app) as server:
        time.sleep(0.05)  # past one timestamp tick of the file system
        _, headers, _ = raw_get(server, "/app.js", "gzip")
        assert "vary" not in headers
        assert str(tmp_path.resolve()) in app._folders  # the listing is remembered
        (tmp_path / "app.js.gz").write_bytes(gzip.compress(plain))
        time.sleep(0.05)
        _, headers, body = raw_get(server, "/app.js", "gzip")
        assert headers["content-encoding"] == "gzip" and gzip.decompress(body) == plain
        _, headers, body = raw_get(server, "/app.js", None)
        assert headers["vary"] == "accept-encoding" and body == plain
        (tmp_path / "app.js.gz").unlink()
        time.sleep(0.05)
        _, headers, body = raw_get(server, "/app.js", "gzip")
        assert "content-encoding" not in headers and "vary" not in headers
        assert body == plain


def test_a_settled_folder_is_not_stat_ed_on_every_request(tmp_path: Path, monkeypatch) -> None:
    from porch.server import static

    monkeypatch.setattr(static, "RACY_NS", 0)
    (tmp_path / "app.css").write_bytes(b"a {}\n" * 100)
    time.sleep(0.05)
    app = StaticFiles(tmp_path)
    folder = str(tmp_path.resolve())
    stats: list[str] = []
    real_stat = os.stat

    def counting_stat(path, *args, **kwargs):
        stats.append(os.fspath(path))
        return real_stat(path, *args, **kwargs)

    with serve(app) as server:
        raw_get(server, "/app.css", "gzip")
        monkeypatch.setattr(static.os, "stat", counting_stat)
        for _ in range(5):
            assert raw_get(server, "/app.css", "gzip")[0] == 200
        monkeypatch.setattr(static.os, "stat", real_stat)
        assert folder not in stats  # the folder's names were remembered
        assert stats.count(folder + "/app.css") == 5  # the file itself: every time
        # A sibling that appears is noticed once the folder is looked at again.
        (tmp_path / "app.css.gz").write_bytes(gzip.compress(b"a {}\n" * 100))
        time.sleep(0.05)
        monkeypatch.setattr(static, "FOLDER_RECHECK_NS", 0)
        assert raw_get(server, "/app.css", "gzip")[1]["content-encoding"] == "gzip"


def test_precompressed_can_be_turned_off(root: Path) -> None:
    with serve(StaticFiles(root, precompressed=False)) as server:
        _, headers, body = raw_get(server, "/text.txt", "gzip, br")
    assert "content-encoding" not in headers and "vary" not in headers
    assert body == TEXT


# Large files: zero-copy.


@pytest.fixture
def big(root: Path) -> bytes:
    data = os.urandom(5 * 1024 * 1024 + 123)
    (root / "big.bin").write_bytes(data)
    return data


def test_large_file_downloads_intact(site, big: bytes) -> None:
    with httpx.stream("GET", site.url + "/big.bin") as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == str(len(big))
        assert response.headers["content-type"] == "application/octet-stream"
        digest = hashlib.sha256()
        for chunk in response.iter_raw():
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(big).hexdigest()
    # Twice on one connection: the first left the connection in a clean state.
    with httpx.Client() as client:
        for _ in range(2):
            assert client.get(site.url + "/big.bin").content == big


def test_large_file_goes_out_through_sendfile(site, big: bytes, monkeypatch) -> None:
    from porch.server import cycle

    sent: list[int] = []
    real_sendfile = os.sendfile

    def counting_sendfile(out_fd, in_fd, offset, count):
        done = real_sendfile(out_fd, in_fd, offset, count)
        sent.append(done)
        return done

    monkeypatch.setattr(cycle.os, "sendfile", counting_sendfile)
    assert httpx.get(site.url + "/big.bin").content == big
    # Zero-copy: nearly all of it (a piece may go through the transport when the socket's
    # buffer is full).
    assert sum(sent) > len(big) * 0.9


def test_large_file_is_a_file_region_small_file_is_cached_bytes(root: Path, big: bytes) -> None:
    app = StaticFiles(root, cache=FileCache(settle_ns=0))
    head = RequestHead("GET", b"/big.bin", b"/big.bin", b"", [(b"host", b"x")])
    response = app.__porch_http__(head, None)
    assert isinstance(response.body, FileRegion)
    assert (response.body.offset, response.body.count) == (0, len(big))
    response.body.close()
    head = RequestHead("GET", b"/file.txt", b"/file.txt", b"", [(b"host", b"x")])
    first = app.__porch_http__(head, None).body
    second = app.__porch_http__(head, None).body
    assert first is second  # the same cached bytes object, not read again
    assert app.cache.cached_bytes == len(first) == 3040


def test_ranges_of_a_large_file(site, big: bytes) -> None:
    with httpx.Client() as client:
        response = client.get(site.url + "/big.bin", headers={"Range": "bytes=1000000-3999999"})
        assert response.status_code == 206
        assert response.content == big[1000000:4000000]
        response = client.get(site.url + "/big.bin", headers={"Range": "bytes=-100"})
        assert response.content == big[-100:]
        ranges = "bytes=0-99,2000000-2999999,5000000-"
        response = client.get(site.url + "/big.bin", headers={"Range": ranges})
        assert response.status_code == 206
        parts = parse_multipart(response.content, response.headers["content-type"])
        assert [data for _, data in parts] == [big[:100], big[2000000:3000000], big[5000000:]]
        assert int(response.headers["content-length"]) == len(response.content)
        # The connection is still good after a multipart body.
        assert client.get(site.url + "/file.txt").status_code == 200


def test_head_of_a_large_file(site, big: bytes) -> None:
    status, headers, body = fetch(site, "/big.bin", method="HEAD")
    assert (status, headers["content-length"], body) == (200, str(len(big)), b"")


def test_large_file_unlinked_mid_download_still_arrives_whole(site, root: Path) -> None:
    data = os.urandom(20 * 1024 * 1024)
    (root / "huge.bin").write_bytes(data)
    with httpx.stream("GET", site.url + "/huge.bin") as response:
        stream = response.iter_raw(65536)
        received = [next(stream)]
        (root / "huge.bin").unlink()  # the open descriptor keeps the bytes
        received.extend(stream)
    assert b"".join(received) == data
    assert fetch(site, "/huge.bin")[0] == 404


def test_large_file_truncated_mid_download_closes_the_connection(site, root: Path) -> None:
    data = os.urandom(20 * 1024 * 1024)
    path = root / "shrinks.bin"
    path.write_bytes(data)
    with RawClient(site.port, timeout=10) as client:
        client.send(b"GET /shrinks.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        first = client.sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        with open(path, "r+b") as handle:
            handle.truncate(1024 * 1024)
        rest = client.read_until_close(timeout=10)
    assert len(first) + len(rest) < len(data)  # cut short, not padded, and closed
    assert fetch(site, "/file.txt")[0] == 200  # the server goes on


def test_file_vanishing_between_stat_and_open_is_404(site, root: Path, monkeypatch) -> None:
    real_open = os.open

    def vanish_then_open(path, flags, *args, **kwargs):
        if str(path).endswith("text.txt"):
            os.unlink(path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(files_module.os, "open", vanish_then_open)
    status, _, body = fetch(site, "/text.txt")
    assert status == 404
    assert b"404" in body


def test_unreadable_file_is_403_not_500(site, monkeypatch) -> None:
    real_open = os.open

    def refuse(path, flags, *args, **kwargs):
        if str(path).endswith("text.txt"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(files_module.os, "open", refuse)
    assert fetch(site, "/text.txt")[0] == 403
    assert fetch(site, "/file.txt")[0] == 200


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file whatever its mode")
def test_unreadable_file_mode_is_403(site, root: Path) -> None:
    (root / "text.txt").chmod(0)
    assert fetch(site, "/text.txt")[0] == 403


# Methods.


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"])
def test_other_methods_are_405_with_allow(site, method: str) -> None:
    status, headers, body = fetch(site, "/file.txt", method=method, body=b"x" * 10)
    assert status == 405
    assert headers["allow"] == "GET, HEAD"
    assert b"405" in body


def test_connection_stays_open_across_answers(site) -> None:
    with RawClient(site.port) as client:
        for target in (b"/file.txt", b"/nope", b"/sub", b"/../x"):
            client.send(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            status, headers, _ = client.read_response()
            assert status in (200, 301, 404)
            assert headers.get("connection") != "close"


def test_http_10_client(site, root: Path) -> None:
    with RawClient(site.port) as client:
        client.send(b"GET /file.txt HTTP/1.0\r\n\r\n")
        data = client.read_until_close()
    assert data.startswith(b"HTTP/1.0 200 ")
    assert data.endswith((root / "file.txt").read_bytes())


# file_response: one file, outside any StaticFiles tree.


class OneFile:
    """A native app serving one file through file_response."""

    def __init__(self, path: Path, **options) -> None:
        self.path = path
        self.options = options

    def __porch_http__(self, head, body):
        return file_response(self.path, head, **self.options)


def test_file_response_serves_one_file_with_the_same_machinery(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    path.write_bytes(b"a,b\n1,2\n" * 10)
    app = OneFile(
        path,
        filename="rapport été.csv",
        headers=[(b"cache-control", b"max-age=60")],
    )
    with serve(app) as server:
        status, headers, body = fetch(server, "/anything")
        assert status == 200
        assert body == path.read_bytes()
        assert headers["content-type"] == "text/csv; charset=utf-8"
        assert headers["cache-control"] == "max-age=60"
        assert headers["content-disposition"] == (
            "attachment; filename=\"rapport _t_.csv\"; filename*=UTF-8''rapport%20%C3%A9t%C3%A9.csv"
        )
        status, got, _ = fetch(server, "/", headers={"If-None-Match": headers["etag"]})
        assert status == 304
        assert got["cache-control"] == "max-age=60"  # RFC 9110 §15.4.5: 304 keeps it
        status, got, body = fetch(server, "/", headers={"Range": "bytes=2-5"})
        assert (status, body) == (206, path.read_bytes()[2:6])


def test_file_response_content_type_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"\x00\x01")
    with serve(OneFile(path, content_type="image/x-custom")) as server:
        assert fetch(server, "/")[1]["content-type"] == "image/x-custom"
    with serve(OneFile(tmp_path / "missing.txt")) as server:
        status, _, body = fetch(server, "/")
        assert status == 404
        assert b"missing" not in body
    with serve(OneFile(tmp_path)) as server:  # a folder is not a file
        assert fetch(server, "/")[0] == 404


# Through the real command line and real curl.


def test_porch_serve_subprocess(root: Path, big: bytes) -> None:
    with PorchProcess(["serve", str(root), "--list"]) as proc:
        proc.wait_ready()
        with httpx.Client() as client:
            response = client.get(proc.url + "/file.txt")
            assert response.status_code == 200
            assert response.content == (root / "file.txt").read_bytes()
            assert client.get(proc.url + "/docs/").text.count('href="a.txt"') == 1
            assert client.get(proc.url + "/big.bin").content == big
            assert client.get(proc.url + "/.hidden").status_code == 404
        traversal = fetch(proc, "/..%2fsecret.txt")
        assert traversal[0] == 404 and b"SECRET" not in traversal[2]


@needs_tool("curl")
def test_curl_range_request(site, big: bytes) -> None:
    result = subprocess.run(
        ["curl", "-s", "-S", "-r", "1000-1999", "-D", "-", "-o", "-", site.url + "/big.bin"],
        capture_output=True,
        timeout=30,
        check=True,
    )
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 206 ")
    assert f"content-range: bytes 1000-1999/{len(big)}".encode() in head
    assert body == big[1000:2000]
    # curl asks for every coding it knows and decodes the gzip sibling.
    result = subprocess.run(
        ["curl", "-s", "-S", "-o", "-", "--compressed", site.url + "/only-gz.css"],
        capture_output=True,
        timeout=30,
        check=True,
    )
    assert result.stdout == b"body { color: red }\n" * 50


def test_many_concurrent_clients(site, root: Path) -> None:
    expected = (root / "file.txt").read_bytes()
    failures: list[object] = []

    def worker() -> None:
        try:
            with httpx.Client() as client:
                for _ in range(20):
                    response = client.get(site.url + "/file.txt")
                    if response.content != expected:
                        failures.append(response.status_code)
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []


class RegionApp:
    """A native app that answers every request, HEAD included, with a FileRegion."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __porch_http__(self, head, body):
        handle = open(self.path, "rb")  # noqa: SIM115 - the server closes the region
        return Response(200, [], FileRegion(handle, 0, self.path.stat().st_size))


def test_server_does_not_read_a_file_region_for_head(tmp_path: Path, monkeypatch) -> None:
    """A HEAD answered with a FileRegion sends the head alone and reads nothing of the file."""
    from porch.server import cycle

    path = tmp_path / "large.bin"
    path.write_bytes(b"\0" * (8 * 1024 * 1024))
    reads: list[int] = []
    real_read = cycle._read_exactly

    def counting_read(fd, offset, count):
        reads.append(count)
        return real_read(fd, offset, count)

    monkeypatch.setattr(cycle, "_read_exactly", counting_read)
    with serve(RegionApp(path)) as server:
        status, headers, body = fetch(server, "/", method="HEAD")
        assert (status, headers["content-length"], body) == (200, str(8 * 1024 * 1024), b"")
        assert sum(reads) == 0, f"read {sum(reads)} bytes to answer a HEAD"
        assert len(fetch(server, "/")[2]) == 8 * 1024 * 1024


def test_large_files_leave_no_descriptor_open(tmp_path: Path) -> None:
    # Every FileRegion owns one descriptor and the server closes it: after many large
    # downloads, whole or ranged, the process holds no more descriptors than before.
    (tmp_path / "big.bin").write_bytes(os.urandom(300_000))
    before = len(os.listdir("/proc/self/fd"))
    with serve(StaticFiles(str(tmp_path))) as server, httpx.Client() as client:
        for _ in range(40):
            assert len(client.get(server.url + "/big.bin").content) == 300_000
            ranged = client.get(server.url + "/big.bin", headers={"Range": "bytes=1000-200000"})
            assert ranged.status_code == 206
            assert client.head(server.url + "/big.bin").status_code == 200
    assert len(os.listdir("/proc/self/fd")) <= before + 2

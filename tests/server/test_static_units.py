"""The parts of the static file machinery that need no socket: types, validators, cache, listing."""

import mimetypes
import os
import time
from pathlib import Path

import pytest

from porch.http.native import FileRegion, RequestHead
from porch.server import mediatypes
from porch.server.files import (
    FileCache,
    FileEntry,
    content_disposition,
    evaluate_preconditions,
)
from porch.server.listing import ListingEntry, list_directory, render_listing
from porch.server.mediatypes import content_type_for
from porch.server.static import StaticFiles

OLD = time.time() - 3600


def test_table_wins_over_the_machines_mime_types(monkeypatch) -> None:
    monkeypatch.setattr(mediatypes, "_cache", {})
    monkeypatch.setattr(mimetypes, "guess_type", lambda *a, **k: ("text/plain", None))
    assert content_type_for("app.js") == b"text/javascript; charset=utf-8"
    assert content_type_for("mod.wasm") == b"application/wasm"
    assert content_type_for("x.zzz") == b"text/plain; charset=utf-8"  # fallback, with charset


def test_fallback_and_default(monkeypatch) -> None:
    monkeypatch.setattr(mediatypes, "_cache", {})
    monkeypatch.setattr(
        mimetypes, "guess_type", lambda name, strict=True: ("application/x-thing", None)
    )
    assert content_type_for("a.thing") == b"application/x-thing"
    monkeypatch.setattr(mimetypes, "guess_type", lambda name, strict=True: (None, None))
    assert content_type_for("a.nothing") == b"application/octet-stream"
    assert content_type_for("noextension") == b"application/octet-stream"
    assert content_type_for("trailingdot.") == b"application/octet-stream"
    assert content_type_for("UPPER.HTML") == b"text/html; charset=utf-8"


def test_extension_memo_is_bounded(monkeypatch) -> None:
    monkeypatch.setattr(mediatypes, "_cache", {})
    for i in range(5000):
        content_type_for(f"f.x{i}")
    assert len(mediatypes._cache) <= 4096


def stat_of(tmp_path: Path, data: bytes = b"x" * 100, mtime: float = OLD) -> os.stat_result:
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path.stat()


def entry_for(tmp_path: Path) -> FileEntry:
    return FileEntry(stat_of(tmp_path), b"text/plain", None, False)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({b"if-none-match": b"TAG"}, 304),
        ({b"if-none-match": b"W/TAG"}, 304),
        ({b"if-none-match": b'"x,y", TAG'}, 304),
        ({b"if-none-match": b'"TAG-not"'}, None),
        ({b"if-none-match": b"*"}, 304),
        ({b"if-none-match": b"garbage"}, None),
        ({b"if-match": b"TAG"}, None),
        ({b"if-match": b"W/TAG"}, 412),
        ({b"if-match": b'"a", "b"'}, 412),
        ({b"if-match": b"*"}, None),
        ({b"if-match": b'"a"', b"if-none-match": b"TAG"}, 412),
        ({b"if-modified-since": b"LM"}, 304),
        ({b"if-modified-since": b"EARLIER"}, None),
        ({b"if-modified-since": b"LATER"}, 304),
        ({b"if-modified-since": b"not a date"}, None),
        ({b"if-modified-since": b"LM", b"if-none-match": b'"other"'}, None),
        ({b"if-unmodified-since": b"EARLIER"}, 412),
        ({b"if-unmodified-since": b"LM"}, None),
        ({b"if-unmodified-since": b"EARLIER", b"if-match": b"TAG"}, None),
        ({b"if-unmodified-since": b"bogus"}, None),
    ],
)
def test_preconditions(tmp_path: Path, headers: dict[bytes, bytes], expected) -> None:
    from porch.http.dates import format_http_date

    entry = entry_for(tmp_path)
    lm = entry.last_modified
    words = {
        b"TAG": entry.etag,
        b"LM": format_http_date(lm).encode(),
        b"EARLIER": format_http_date(lm - 60).encode(),
        b"LATER": format_http_date(lm + 60).encode(),
    }
    wanted = {}
    for name, value in headers.items():
        for word, real in words.items():
            value = value.replace(word, real)
        wanted[name] = value
    assert evaluate_preconditions(entry, wanted) == expected


def test_etag_changes_with_mtime_size_and_encoding(tmp_path: Path) -> None:
    first = FileEntry(stat_of(tmp_path, b"a" * 10, OLD), b"t", None, False)
    assert first.etag.startswith(b'"') and first.etag.endswith(b'"')
    assert FileEntry(stat_of(tmp_path, b"a" * 11, OLD), b"t", None, False).etag != first.etag
    assert FileEntry(stat_of(tmp_path, b"a" * 10, OLD + 1), b"t", None, False).etag != first.etag
    gz = FileEntry(stat_of(tmp_path, b"a" * 10, OLD), b"t", b"gzip", False)
    assert gz.etag != first.etag


def test_last_modified_is_never_in_the_future(tmp_path: Path) -> None:
    entry = FileEntry(stat_of(tmp_path, mtime=time.time() + 86400), b"t", None, False)
    assert entry.last_modified <= time.time()


def head_for(path: bytes = b"/", method: str = "GET", headers=None) -> RequestHead:
    return RequestHead(method, path, path, b"", [(b"host", b"x"), *(headers or [])])


def test_cache_is_a_bounded_lru(tmp_path: Path) -> None:
    cache = FileCache(max_bytes=10_000, max_entries=100, settle_ns=0)
    paths = []
    for i in range(6):
        path = tmp_path / f"f{i}.txt"
        path.write_bytes(bytes([65 + i]) * 3000)
        os.utime(path, (OLD, OLD))
        paths.append(path)
    for path in paths:
        response = cache.respond(str(path), path.stat(), head_for(), content_type=b"t")
        assert response.body == path.read_bytes()
        assert cache.cached_bytes <= 10_000
    assert cache.cached_bytes == 9000  # the last three
    # f3 was least recently used; touching it keeps it over f4.
    cache.respond(str(paths[3]), paths[3].stat(), head_for(), content_type=b"t")
    path = tmp_path / "new.txt"
    path.write_bytes(b"n" * 3000)
    os.utime(path, (OLD, OLD))
    cache.respond(str(path), path.stat(), head_for(), content_type=b"t")
    kept = {p for p, e in cache._entries.items() if e.data is not None}
    assert kept == {str(paths[3]), str(paths[5]), str(path)}


def test_cache_entry_count_is_bounded(tmp_path: Path) -> None:
    cache = FileCache(max_entries=3)
    for i in range(10):
        path = tmp_path / f"f{i}.txt"
        path.write_bytes(b"x")
        cache.respond(str(path), path.stat(), head_for(), content_type=b"t")
    assert len(cache) == 3


def test_large_files_are_regions_and_not_cached(tmp_path: Path) -> None:
    cache = FileCache(small_file=1000)
    path = tmp_path / "big.bin"
    path.write_bytes(b"z" * 5000)
    os.utime(path, (OLD, OLD))
    response = cache.respond(str(path), path.stat(), head_for(), content_type=b"t")
    assert isinstance(response.body, FileRegion)
    assert (response.body.offset, response.body.count) == (0, 5000)
    response.body.close()
    assert cache.cached_bytes == 0
    head = cache.respond(str(path), path.stat(), head_for(method="HEAD"), content_type=b"t")
    assert head.body == b""
    assert (b"content-length", b"5000") in head.headers


def test_multipart_of_a_large_file_streams_and_closes(tmp_path: Path) -> None:
    cache = FileCache(small_file=1000)
    path = tmp_path / "big.bin"
    data = os.urandom(600_000)
    path.write_bytes(data)
    ranges = [(b"range", b"bytes=0-9,300000-599999")]
    response = cache.respond(str(path), path.stat(), head_for(headers=ranges), content_type=b"t")
    assert response.status == 206
    body = b"".join(response.body)  # an iterator: read as it is sent
    declared = dict(response.headers)[b"content-length"]
    assert int(declared) == len(body)
    assert data[300000:] in body and data[:10] in body


def test_file_with_a_changed_stat_is_read_again(tmp_path: Path) -> None:
    cache = FileCache()
    path = tmp_path / "f.txt"
    path.write_bytes(b"one")
    os.utime(path, (OLD, OLD))
    first = cache.respond(str(path), path.stat(), head_for(), content_type=b"t")
    path.write_bytes(b"two")
    os.utime(path, (OLD + 5, OLD + 5))
    second = cache.respond(str(path), path.stat(), head_for(), content_type=b"t")
    assert (first.body, second.body) == (b"one", b"two")
    assert len(cache) == 1  # the old version was dropped


def test_content_disposition() -> None:
    assert content_disposition("report.pdf") == b'attachment; filename="report.pdf"'
    assert content_disposition("a b.txt", "inline") == b'inline; filename="a b.txt"'
    value = content_disposition('naïve "q"\\.txt').decode()
    assert value.startswith("attachment; filename=\"na_ve _q__.txt\"; filename*=UTF-8''")
    assert value.endswith("na%C3%AFve%20%22q%22%5C.txt")
    assert "\r" not in content_disposition("x\r\nSet-Cookie: a=b").decode()


def test_render_listing_escapes_and_quotes() -> None:
    entries = [
        ListingEntry("d<i>r", True, 0, OLD),
        ListingEntry('"><script>x</script', False, 10, OLD),
        ListingEntry(os.fsdecode(b"\xff"), False, 2048, OLD),
    ]
    page = render_listing("/a&b/", entries).decode()
    assert "<title>Index of /a&amp;b/</title>" in page
    assert '<a href="d%3Ci%3Er/">d&lt;i&gt;r/</a>' in page
    assert 'href="%22%3E%3Cscript%3Ex%3C%2Fscript">&quot;&gt;&lt;script&gt;x&lt;/script<' in page
    assert 'href="%FF">\ufffd<' in page
    assert "2.0 KiB" in page and "10 B" in page
    assert 'href="../"' in page


def test_list_directory_sorts_and_filters(tmp_path: Path) -> None:
    for name in ("b.txt", "A.txt", "c.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "zdir").mkdir()
    os.mkfifo(tmp_path / "fifo")
    os.symlink("nowhere", tmp_path / "broken")
    names = [e.name for e in list_directory(str(tmp_path), lambda item: item.name != "c.txt")]
    assert names == ["zdir", "A.txt", "b.txt"]


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        (b"/", True),
        (b"/a/b.txt", True),
        (b"//a//b.txt", True),
        (b"/a%20b", True),
        (b"/..", False),
        (b"/a/../b", False),
        (b"/a/./b", False),
        (b"/%2e%2e", False),
        (b"/%2E", False),
        (b"/a%2fb", False),
        (b"/a%5cb", False),
        (b"/a\\b", False),
        (b"/a%00", False),
        (b"/.env", False),
        (b"/a/.git/x", False),
        (b"*", False),
        (b"", False),
    ],
)
def test_url_parsing(tmp_path: Path, raw: bytes, ok: bool) -> None:
    target = StaticFiles(tmp_path)._parse(raw)
    assert (target is not None) == ok
    if target is not None:
        assert target.candidate.startswith(str(tmp_path.resolve()))
        assert not target.location.startswith(b"//")


def test_bytes_of_a_file_changed_just_now_are_not_kept(tmp_path: Path) -> None:
    """Racy files: a write within the same timestamp tick could go unseen, so no caching yet."""
    cache = FileCache()
    path = tmp_path / "fresh.txt"
    path.write_bytes(b"fresh")
    assert cache.respond(str(path), path.stat(), head_for(), content_type=b"t").body == b"fresh"
    assert cache.cached_bytes == 0
    os.utime(path, (OLD, OLD))  # ctime is now, still racy
    cache.respond(str(path), path.stat(), head_for(), content_type=b"t")
    assert cache.cached_bytes == 0
    settled = FileCache(settle_ns=0)
    settled.respond(str(path), path.stat(), head_for(), content_type=b"t")
    assert settled.cached_bytes == 5


def test_cache_shared_between_threads_stays_consistent(tmp_path: Path) -> None:
    import threading

    cache = FileCache(max_bytes=20_000, max_entries=8, settle_ns=0)
    paths = []
    for i in range(20):
        path = tmp_path / f"t{i}.txt"
        path.write_bytes(bytes([65 + i]) * (1000 + i))
        paths.append(path)
    errors: list[BaseException] = []

    def hammer(offset: int) -> None:
        try:
            for n in range(150):
                path = paths[(n * 7 + offset) % len(paths)]
                body = cache.respond(str(path), path.stat(), head_for(), content_type=b"t").body
                assert body == path.read_bytes()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cache) <= 8
    held = sum(len(e.data) for e in cache._entries.values() if e.data is not None)
    assert cache.cached_bytes == held <= 20_000

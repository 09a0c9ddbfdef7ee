"""porch.server.static never serves a byte outside its folder, nor anything it should hide.

Traversal targets go out as raw bytes (RawClient): httpx and browsers would normalise them.
"""

import gzip
import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from porch.server import files as files_module
from porch.server.static import StaticFiles
from tests.server.test_static import OLD, fetch, make_site, raw_get
from tests.support import RawClient, serve

SECRETS = (b"TOP SECRET", b"root:x:0:0")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = make_site(tmp_path)
    (root / "sub" / ".hidden").write_bytes(b"hidden in sub")
    (root / ".env").write_bytes(b"PASSWORD=hunter2")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_bytes(b"[core]")
    (root / ".well-known").mkdir()
    (root / ".well-known" / "security.txt").write_bytes(b"Contact: x")
    os.symlink("file.txt", root / "link.txt")
    os.symlink(root / "file.txt", root / "absolute-in.txt")
    os.symlink("sub", root / "linkdir")
    os.symlink("../secret.txt", root / "out.txt")
    os.symlink("../outside", root / "outdir")
    os.symlink("/dev/null", root / "devnull")
    os.symlink("loop", root / "loop")
    os.symlink("nowhere.txt", root / "dangling.txt")
    return root


def get_raw(port: int, target: bytes) -> tuple[int, bytes]:
    """Send `target` exactly; the status and everything that came back."""
    with RawClient(port) as client:
        client.send(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = client.read_until_close()
    assert data.startswith(b"HTTP/1.1 "), data[:100]
    return int(data[9:12]), data


TRAVERSALS = [
    b"/../secret.txt",
    b"/../../../../../../../../etc/passwd",
    b"/sub/../../secret.txt",
    b"/./../secret.txt",
    b"/..%2fsecret.txt",
    b"/..%2Fsecret.txt",
    b"/%2e%2e/secret.txt",
    b"/%2E%2E/secret.txt",
    b"/%2e%2e%2fsecret.txt",
    b"/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    b"/sub/%2e%2e/%2e%2e/secret.txt",
    b"/sub%2f..%2f..%2fsecret.txt",
    b"/.%2e/secret.txt",
    b"/%2e./secret.txt",
    b"/%2e%2e/outside/inner.txt",
    b"/..\\secret.txt",
    b"/..\\..\\secret.txt",
    b"/%5c..%5csecret.txt",
    b"/..%5csecret.txt",
    b"/..%255csecret.txt",
    b"/%252e%252e/secret.txt",
    b"/%252e%252e%252fsecret.txt",
    b"/%c0%ae%c0%ae/secret.txt",
    b"/..%c0%afsecret.txt",
    b"/..%00/secret.txt",
    b"/..;/secret.txt",
    b"//etc/passwd",
    b"///etc/passwd",
    b"/%2fetc%2fpasswd",
    b"/%2Fetc/passwd",
    b"///../secret.txt",
    b"/etc/passwd",
    b"http://x/../secret.txt",
    b"http://x/%2e%2e/secret.txt",
    b"*",
]


@pytest.mark.parametrize("follow", [False, True], ids=["nofollow", "follow"])
def test_traversal_never_leaves_the_folder(root: Path, follow: bool) -> None:
    with serve(StaticFiles(root, follow_symlinks=follow)) as server:
        for target in TRAVERSALS:
            status, data = get_raw(server.port, target)
            assert status in (400, 404), (target, data[:200])
            assert not any(secret in data for secret in SECRETS), target
        # The server is still fine.
        assert fetch(server, "/file.txt")[0] == 200


@pytest.mark.parametrize(
    "target",
    [b"/file.txt%00", b"/file.txt%00.html", b"/file%00.txt", b"/sub%00/index.html"],
)
def test_nul_bytes_are_refused_not_truncated(root: Path, target: bytes) -> None:
    with serve(StaticFiles(root)) as server:
        status, data = get_raw(server.port, target)
    assert status == 404, data  # not the file named before the NUL


@pytest.mark.parametrize("target", [b"/file.txt\x00", b"/..\x00/secret.txt", b"/\\..\\secret"])
def test_raw_control_bytes_are_refused(root: Path, target: bytes) -> None:
    with serve(StaticFiles(root)) as server:
        status, data = get_raw(server.port, target)
    assert status in (400, 404)
    assert not any(secret in data for secret in SECRETS)


def test_error_pages_echo_nothing_of_the_path(root: Path) -> None:
    with serve(StaticFiles(root)) as server:
        status, headers, body = fetch(server, "/%3Cscript%3Ealert(1)%3C/script%3E")
        assert status == 404
        assert headers["content-type"] == "text/plain; charset=utf-8"
        assert body == b"404 Not Found\n"
        status, _, body = fetch(server, "/<img>", method="POST")
        assert body == b"405 Method Not Allowed\n"


def test_symlinks_inside_are_served(root: Path) -> None:
    expected = (root / "file.txt").read_bytes()
    for follow in (False, True):
        with serve(StaticFiles(root, follow_symlinks=follow)) as server:
            status, headers, body = fetch(server, "/link.txt")
            assert (status, body) == (200, expected)
            assert headers["content-type"] == "text/plain; charset=utf-8"
            assert fetch(server, "/absolute-in.txt")[2] == expected
            assert fetch(server, "/linkdir/")[2] == b"<p>sub index</p>\n"


def test_a_link_pointed_elsewhere_is_followed_to_its_new_target(root: Path) -> None:
    (root / "one.txt").write_bytes(b"one")
    (root / "two.txt").write_bytes(b"two")
    os.symlink("one.txt", root / "current.txt")
    for follow in (False, True):
        with serve(StaticFiles(root, follow_symlinks=follow)) as server:
            assert fetch(server, "/current.txt")[2] == b"one"
            os.symlink("two.txt", root / "next.txt")
            os.replace(root / "next.txt", root / "current.txt")
            assert fetch(server, "/current.txt")[2] == b"two"
            os.symlink("../secret.txt", root / "next.txt")
            os.replace(root / "next.txt", root / "current.txt")
            status, _, body = fetch(server, "/current.txt")
            assert follow or (status, body) == (404, b"404 Not Found\n")
            os.symlink("one.txt", root / "next.txt")
            os.replace(root / "next.txt", root / "current.txt")


def test_symlinks_out_are_404_unless_followed(root: Path) -> None:
    with serve(StaticFiles(root)) as server:
        for path in ("/out.txt", "/outdir/inner.txt", "/outdir/", "/outdir"):
            status, _, body = fetch(server, path)
            assert status == 404, path
            assert b"SECRET" not in body
    with serve(StaticFiles(root, follow_symlinks=True)) as server:
        assert fetch(server, "/out.txt")[2] == b"TOP SECRET outside the root\n"
        assert fetch(server, "/outdir/inner.txt")[2] == b"TOP SECRET inner\n"


@pytest.mark.parametrize("follow", [False, True], ids=["nofollow", "follow"])
def test_links_to_devices_loops_and_nowhere_are_404(root: Path, follow: bool) -> None:
    with serve(StaticFiles(root, follow_symlinks=follow)) as server:
        for path in ("/devnull", "/loop", "/dangling.txt", "/loop/x"):
            start = time.monotonic()
            assert fetch(server, path)[0] == 404, path
            assert time.monotonic() - start < 3


def test_a_file_swapped_for_a_link_out_is_not_served(root: Path) -> None:
    with serve(StaticFiles(root)) as server:
        assert fetch(server, "/file.txt")[0] == 200  # remembered as checked
        (root / "file.txt").rename(root / "file-old.txt")
        os.symlink("../secret.txt", root / "file.txt")
        status, _, body = fetch(server, "/file.txt")
        assert status == 404 and b"SECRET" not in body


def test_a_folder_swapped_for_a_link_out_is_not_served(root: Path) -> None:
    (root / "d").mkdir()
    (root / "d" / "x.txt").write_bytes(b"inside x")
    (root.parent / "outside" / "x.txt").write_bytes(b"TOP SECRET x")
    with serve(StaticFiles(root)) as server:
        assert fetch(server, "/d/x.txt")[2] == b"inside x"
        (root / "d").rename(root / "d-old")
        os.symlink("../outside", root / "d")
        status, _, body = fetch(server, "/d/x.txt")
        assert status == 404 and b"SECRET" not in body


def test_precompressed_sibling_linking_out_is_not_served(root: Path) -> None:
    (root.parent / "secret.txt.gz").write_bytes(gzip.compress(b"TOP SECRET gz"))
    (root / "page.txt").write_bytes(b"plain page")
    os.symlink("../secret.txt.gz", root / "page.txt.gz")
    for path in (root / "page.txt", root / "page.txt.gz"):
        os.utime(path, (OLD, OLD), follow_symlinks=False)
    os.utime(root, (OLD, OLD))
    with serve(StaticFiles(root)) as server:
        status, headers, body = raw_get(server, "/page.txt", "gzip")
    assert (status, body) == (200, b"plain page")
    assert "content-encoding" not in headers


def test_index_html_linking_out_is_not_served(root: Path) -> None:
    (root / "leak").mkdir()
    os.symlink("../../secret.txt", root / "leak" / "index.html")
    with serve(StaticFiles(root)) as server:
        status, _, body = fetch(server, "/leak/")
    assert status == 404 and b"SECRET" not in body


HIDDEN = ["/.env", "/.git/config", "/sub/.hidden", "/%2eenv", "/.well-known/security.txt"]


def test_dotfiles_are_hidden(root: Path) -> None:
    with serve(StaticFiles(root, list_directories=True)) as server:
        for path in HIDDEN:
            status, _, body = fetch(server, path)
            assert status == 404, path
            assert b"hunter2" not in body
        assert fetch(server, "/.git/")[0] == 404
        assert fetch(server, "/.git")[0] == 404  # no redirect either
        assert b".env" not in fetch(server, "/sub/")[2]


@pytest.mark.parametrize("follow", [False, True], ids=["nofollow", "follow"])
def test_show_hidden_serves_dotfiles_but_never_dot_dot(root: Path, follow: bool) -> None:
    with serve(StaticFiles(root, show_hidden=True, follow_symlinks=follow)) as server:
        assert fetch(server, "/.env")[2] == b"PASSWORD=hunter2"
        assert fetch(server, "/.git/config")[2] == b"[core]"
        assert fetch(server, "/.well-known/security.txt")[0] == 200
        for target in TRAVERSALS:
            status, data = get_raw(server.port, target)
            assert status in (400, 404) and b"SECRET" not in data


def test_fifo_is_never_opened(root: Path) -> None:
    os.mkfifo(root / "pipe")
    os.mkfifo(root / "pipe.txt")
    (root / "pipedir").mkdir()
    os.mkfifo(root / "pipedir" / "index.html")
    (root / "plain.txt").write_bytes(b"plain")
    os.mkfifo(root / "plain.txt.gz")
    for follow in (False, True):
        with serve(StaticFiles(root, follow_symlinks=follow, list_directories=True)) as server:
            start = time.monotonic()
            assert fetch(server, "/pipe")[0] == 404
            assert fetch(server, "/pipe.txt", method="HEAD")[0] == 404
            status, _, body = fetch(server, "/pipedir/")
            assert status == 200 and b"index.html" not in body  # a listing, no FIFO
            status, headers, body = raw_get(server, "/plain.txt", "gzip")
            assert (status, body) == (200, b"plain")
            assert "content-encoding" not in headers
            assert time.monotonic() - start < 5


def test_socket_file_is_404(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(folder / "sock"))
        listener.listen(1)
        with serve(StaticFiles(folder)) as server:
            assert fetch(server, "/sock")[0] == 404
    finally:
        listener.close()


def test_fifo_swapped_in_after_the_stat_does_not_hang(root: Path, monkeypatch) -> None:
    """Between the stat and the open a FIFO replaces the file: O_NONBLOCK, then 404."""
    real_open = os.open

    def swap_then_open(path, flags, *args, **kwargs):
        if str(path).endswith("text.txt"):
            os.unlink(path)
            os.mkfifo(path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(files_module.os, "open", swap_then_open)
    with serve(StaticFiles(root)) as server:
        start = time.monotonic()
        status, _, _ = fetch(server, "/text.txt")
        assert status == 404
        assert time.monotonic() - start < 3


def test_unreadable_folder_listing_is_403_not_500(root: Path, monkeypatch) -> None:
    from porch.server import listing

    def refuse(path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(listing.os, "scandir", refuse)
    with serve(StaticFiles(root, list_directories=True)) as server:
        assert fetch(server, "/docs/")[0] == 403


def test_a_folder_deleted_while_served(root: Path) -> None:
    with serve(StaticFiles(root, list_directories=True)) as server:
        assert fetch(server, "/docs/")[0] == 200
        shutil.rmtree(root / "docs")
        assert fetch(server, "/docs/")[0] == 404
        assert fetch(server, "/docs/a.txt")[0] == 404


def test_long_and_odd_names_are_404_not_500(root: Path) -> None:
    with serve(StaticFiles(root)) as server:
        assert fetch(server, "/" + "a" * 300)[0] == 404  # ENAMETOOLONG
        assert fetch(server, "/" + "/".join(["d"] * 500))[0] == 404
        assert fetch(server, "/%ff%fe%fd")[0] == 404
        assert fetch(server, "/%")[0] == 404
        assert fetch(server, "/file.txt/x")[0] == 404  # ENOTDIR


def test_the_served_folder_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a directory"):
        StaticFiles(tmp_path / "missing")

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from porch.http.ranges import MAX_RANGES, RangeNotSatisfiable, content_range, parse_range
from porch.web import App, FileResponse
from tests.support import PorchProcess, RawClient, serve


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes=0-499", [(0, 500)]),
        ("bytes=500-999", [(500, 1000)]),
        ("bytes=500-", [(500, 1000)]),
        ("bytes=-200", [(800, 1000)]),
        ("bytes=-5000", [(0, 1000)]),  # a suffix longer than the body is the whole body
        ("bytes=900-5000", [(900, 1000)]),  # an end past the body is clipped
        ("bytes=0-0,-1", [(0, 1), (999, 1000)]),
        ("bytes=0-10,5-20", [(0, 21)]),  # overlapping ranges merge
        ("bytes=10-19,0-9", [(0, 20)]),  # adjacent ranges merge, in order
        ("Bytes = 0-1", [(0, 2)]),
        (b"bytes=1-2", [(1, 3)]),
        ("bytes=0-1, 5000-6000", [(0, 2)]),  # unsatisfiable members are dropped
    ],
)
def test_satisfiable_ranges(value, expected):
    assert parse_range(value, 1000) == expected


@pytest.mark.parametrize(
    "value",
    [
        "items=0-1",  # another unit
        "bytes",  # no '='
        "bytes=",  # no range at all
        "bytes=,",
        "bytes=abc",
        "bytes=5-1",  # last before first: the whole field is invalid
        "bytes=-",
        "bytes=1-2-3",
        "bytes=0x1-2",
        "bytes=+1-2",
        "bytes=" + ",".join(["0-1"] * (MAX_RANGES + 1)),  # too many ranges: ignored
    ],
)
def test_invalid_ranges_are_ignored(value):
    assert parse_range(value, 1000) is None


@pytest.mark.parametrize("value", ["bytes=1000-", "bytes=5000-6000", "bytes=-0", "bytes=1000-1000"])
def test_unsatisfiable_ranges(value):
    with pytest.raises(RangeNotSatisfiable):
        parse_range(value, 1000)


def test_empty_representation_has_no_satisfiable_range():
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=0-", 0)


def test_content_range():
    assert content_range(0, 500, 1234) == b"bytes 0-499/1234"


HUGE = "9" * 60_000  # longer than int() reads (4,300 digits)


@pytest.mark.parametrize(
    "value",
    [
        "bytes=\u00b2-",  # superscript two: str.isdigit() says yes, int() says no
        "bytes=0-\u00b9",
        "bytes=-\u00b3",
        "bytes=\u0663-5",  # Arabic-Indic three
        "bytes=\uff11-5",  # fullwidth one
        b"bytes=\xb2-",  # as latin-1 bytes on the wire
        b"bytes=0-\xb9",
        b"bytes=-\xb3",
        "bytes=1_0-20",  # int() reads underscores too
        "bytes=\u00a00-5",  # no-break space is no OWS
        f"bytes=5-{HUGE[:30]}0,{HUGE}-{HUGE[:40]}",  # last before first, however long
    ],
)
def test_only_ascii_digits_count(value):
    assert parse_range(value, 1000) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"bytes=0-{HUGE}", [(0, 1000)]),  # a last-pos past the end is clamped
        (f"bytes=10-{HUGE}", [(10, 1000)]),
        (f"bytes=-{HUGE}", [(0, 1000)]),  # a suffix longer than the file is the whole file
        (f"bytes=0-{'0' * 60_000}9", [(0, 10)]),  # leading zeros are only zeros
        (f"bytes={'0' * 5000}1-2", [(1, 3)]),
        (f"bytes=0-1,{HUGE}-", [(0, 2)]),  # a first-pos past the end is dropped
        ("bytes=0-18446744073709551616", [(0, 1000)]),  # past 2**64
    ],
)
def test_overlong_positions(value, expected):
    assert parse_range(value, 1000) == expected


@pytest.mark.parametrize(
    "value", [f"bytes={HUGE}-", f"bytes={HUGE}-{HUGE}1", f"bytes={HUGE}-{HUGE}"]
)
def test_overlong_first_position_is_unsatisfiable(value):
    with pytest.raises(RangeNotSatisfiable):
        parse_range(value, 1000)


# Through real sockets: `porch serve`, an App's static folder and FileResponse, on the native
# path and the ASGI one. Hostile Range values get 200, 206 or 416: never a 500, nothing logged.

SIZE = 100_000  # past the small-file cache: sent as a file region
HOSTILE = [
    (b"bytes=\xb2-", 200),
    (b"bytes=0-\xb9", 200),
    (b"bytes=-\xb3", 200),
    (b"bytes=\xef\xbc\x91-5", 200),  # fullwidth one, in UTF-8
    (b"bytes=0-" + HUGE.encode(), 206),
    (b"bytes=-" + HUGE.encode(), 206),
    (HUGE.encode() + b"=0-1", 200),  # a unit nobody knows
    (b"bytes=" + HUGE.encode() + b"-", 416),
    (b"bytes=0-9", 206),
    (b"bytes=200000-", 416),
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ranges")
    (folder / "big.bin").write_bytes(os.urandom(SIZE))
    (folder / "small.txt").write_bytes(b"0123456789" * 100)
    return folder


def get_range(port: int, target: bytes, value: bytes) -> int:
    with RawClient(port) as client:
        client.send(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nRange: " + value + b"\r\n\r\n")
        status, headers, _ = client.read_response()
    if status == 206:
        assert headers["content-range"].startswith("bytes ")
    return status


@pytest.fixture(scope="module")
def porch_serve(folder: Path) -> Iterator[PorchProcess]:
    with PorchProcess(["serve", str(folder)]) as process:
        process.wait_ready()
        yield process


@pytest.mark.parametrize(("value", "status"), HOSTILE)
@pytest.mark.parametrize("name", [b"big.bin", b"small.txt"])
def test_porch_serve(porch_serve: PorchProcess, name: bytes, value: bytes, status: int) -> None:
    assert porch_serve.port is not None
    assert get_range(porch_serve.port, b"/" + name, value) == status
    output = porch_serve.output
    assert "Traceback" not in output and "ERROR" not in output, output


@pytest.fixture(scope="module", params=["native", "asgi"])
def app_server(request: pytest.FixtureRequest, folder: Path) -> Iterator[int]:
    app = App("tests.http.test_ranges", static_folder=None)
    app.static("/static", str(folder))

    @app.get("/file/<name>")
    def file(name: str) -> FileResponse:
        return FileResponse(folder / name)

    with serve(app, interface=request.param) as server:
        yield server.port


@pytest.mark.parametrize(("value", "status"), HOSTILE)
@pytest.mark.parametrize("target", [b"/static/big.bin", b"/static/small.txt", b"/file/big.bin"])
def test_app(app_server: int, caplog, target: bytes, value: bytes, status: int) -> None:
    with caplog.at_level(logging.ERROR):
        assert get_range(app_server, target, value) == status
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]

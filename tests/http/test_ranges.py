import pytest

from porch.http.ranges import MAX_RANGES, RangeNotSatisfiable, content_range, parse_range


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

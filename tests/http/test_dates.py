import pytest

from porch.http.dates import DateHeader, format_http_date, parse_http_date

EPOCH = 784111777  # Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example


def test_format_is_imf_fixdate():
    assert format_http_date(EPOCH) == "Sun, 06 Nov 1994 08:49:37 GMT"


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate
        "Sunday, 06-Nov-94 08:49:37 GMT",  # obsolete RFC 850
        "Sun Nov  6 08:49:37 1994",  # obsolete asctime()
        b"Sun, 06 Nov 1994 08:49:37 GMT",
    ],
)
def test_parse_all_three_forms(value):
    assert parse_http_date(value) == EPOCH


@pytest.mark.parametrize(
    "value", ["", "garbage", "Sun, 99 Nov 1994 08:49:37 GMT", b"\xff\xfe", "1994"]
)
def test_parse_rejects_garbage(value):
    assert parse_http_date(value) is None


def test_date_header_is_cached_per_second():
    header = DateHeader()
    first = header.line(EPOCH + 0.1)
    assert first == b"date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
    assert header.line(EPOCH + 0.9) is first
    assert header.line(EPOCH + 1.0) == b"date: Sun, 06 Nov 1994 08:49:38 GMT\r\n"

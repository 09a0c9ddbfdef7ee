import pytest

from porch.http.headers import (
    find_header,
    is_field_value,
    is_token,
    parse_quality_list,
    split_comma_list,
)


@pytest.mark.parametrize("name", [b"content-type", b"X-Custom_1", b"a!#$%&'*+-.^_`|~z"])
def test_tokens(name):
    assert is_token(name)


@pytest.mark.parametrize("name", [b"", b"a b", b"a:b", b"a\r\nb", b"caf\xc3\xa9", b"(x)", b"a\x00"])
def test_not_tokens(name):
    assert not is_token(name)


def test_field_values():
    assert is_field_value(b"text/html; charset=utf-8")
    assert is_field_value(b"tab\tinside")
    assert is_field_value(b"\xe2\x82\xac latin-1 bytes are opaque")
    for bad in (b"a\r\nSet-Cookie: x", b"a\nb", b"a\rb", b"a\x00b", b"a\x7fb"):
        assert not is_field_value(bad)


def test_find_header_returns_first():
    headers = [(b"a", b"1"), (b"b", b"2"), (b"a", b"3")]
    assert find_header(headers, b"a") == b"1"
    assert find_header(headers, b"c") is None


def test_split_comma_list():
    assert split_comma_list(b" gzip , br,, deflate ") == ["gzip", "br", "deflate"]
    assert split_comma_list("") == []


def test_quality_list():
    assert parse_quality_list("gzip;q=0.5, br, identity;q=0") == {
        "gzip": 0.5,
        "br": 1.0,
        "identity": 0.0,
    }
    assert parse_quality_list(b"GZIP; Q=0.8") == {"gzip": 0.8}
    # Nonsense weights count as refusals; weights are clamped to [0, 1].
    assert parse_quality_list("br;q=abc, gzip;q=7") == {"br": 0.0, "gzip": 1.0}

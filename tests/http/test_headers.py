import pytest

from porch.http.headers import (
    find_header,
    is_field_value,
    is_host,
    is_token,
    parse_host,
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


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        (b"example.com", ("example.com", None)),
        (b"Example.COM:8443", ("example.com", 8443)),
        (b"example.com.", ("example.com.", None)),
        (b"example.com:", ("example.com", None)),  # an empty port is allowed (RFC 3986 §3.2.3)
        (b"", ("", None)),  # an empty Host is what a client sends for a URI with no authority
        (b"127.0.0.1:5000", ("127.0.0.1", 5000)),
        (b"[::1]", ("[::1]", None)),
        (b"[::1]:8000", ("[::1]", 8000)),
        (b"[2001:DB8::a:1]:443", ("[2001:db8::a:1]", 443)),
        (b"[::ffff:192.0.2.1]", ("[::ffff:192.0.2.1]", None)),
        (b"[v1.fe80::a+en1]", ("[v1.fe80::a+en1]", None)),  # IPvFuture
        (b"ex%61mple.com", ("ex%61mple.com", None)),  # percent-encoded, kept as written
        (b"a-b_c~d!$&'()*+,;=.test", ("a-b_c~d!$&'()*+,;=.test", None)),
        (b"h:00080", ("h", 80)),
        (b"h:65535", ("h", 65535)),
        (b"h:" + b"0" * 60_000 + b"1", ("h", 1)),  # *DIGIT: leading zeros are no error
    ],
)
def test_parse_host(value, parsed):
    assert parse_host(value) == parsed
    assert is_host(value)


@pytest.mark.parametrize(
    "value",
    [
        b"example.com:@evil.example",  # userinfo: the attack on allow-lists under uvicorn
        b"example.com:443@evil.example",
        b"user@example.com",
        b"example.com:80:80",
        b"example.com:8o",
        b"example.com:+80",
        b"example.com:65536",  # no TCP port is that large
        b"example.com:" + b"9" * 60_000,  # longer than int() reads: refused, not raised
        b"a b",
        b" example.com",
        b"a/b",
        b"a\\b",
        b"a?b",
        b"a#b",
        b"a\x00b",
        b"a\x7fb",
        b"caf\xc3\xa9.test",  # an international name is sent as xn--
        b"ex%6",  # an unfinished percent-encoding
        b"ex%zzample.com",
        b"[::1",
        b"::1",
        b"[::1]x",
        b"[::1]:x",
        b"[]",
        b"[1:2:3:4:5:6:7:8:9]",
        b"[::1%25eth0]",  # zone identifiers are not part of RFC 9110's uri-host
        b"[example.com]",
        b"[v1.]",
        b"[vz.a]",
    ],
)
def test_invalid_hosts(value):
    assert parse_host(value) is None
    assert not is_host(value)

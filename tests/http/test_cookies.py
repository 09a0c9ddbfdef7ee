"""Cookies (porch/http/cookies.py): reading Cookie headers and writing Set-Cookie values."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from porch.http.cookies import format_set_cookie, parse_cookies


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", {}),
        ("a=1", {"a": "1"}),
        ("a=1; b=2", {"a": "1", "b": "2"}),
        ("a=1;b=2", {"a": "1", "b": "2"}),
        ("  a = 1 ;  b=2  ", {"a": "1", "b": "2"}),
        ('a="quoted value"', {"a": "quoted value"}),
        ('a="', {"a": '"'}),
        ("a=1; a=2", {"a": "1"}),  # the first wins, as browsers send the most specific first
        ("junk; a=1; =x; b", {"a": "1"}),
        ("a=", {"a": ""}),
        ("a=x=y==", {"a": "x=y=="}),
        ("token=abc%20def", {"token": "abc def"}),
        ("token=%C3%A9t%C3%A9", {"token": "été"}),
        ("token=50%", {"token": "50%"}),  # not an escape: kept
        ("token=%zz", {"token": "%zz"}),
        ("token=%ff", {"token": "\ufffd"}),
        ("é=1", {"é": "1"}),
    ],
)
def test_parse_cookies(header: str, expected: dict[str, str]) -> None:
    assert parse_cookies(header) == expected


def test_format_defaults() -> None:
    assert format_set_cookie("a", "1") == "a=1; Path=/; HttpOnly; SameSite=Lax"


def test_format_every_attribute() -> None:
    line = format_set_cookie(
        "session",
        "abc",
        max_age=60,
        expires=datetime(2030, 6, 1, 12, 30, tzinfo=UTC),
        path="/app",
        domain="example.org",
        secure=True,
        httponly=False,
        samesite="strict",
        partitioned=True,
    )
    assert line == (
        "session=abc; Max-Age=60; Expires=Sat, 01 Jun 2030 12:30:00 GMT; Path=/app; "
        "Domain=example.org; Secure; SameSite=Strict; Partitioned"
    )


def test_format_expires_forms() -> None:
    assert "Expires=Thu, 01 Jan 1970 00:00:00 GMT" in format_set_cookie("a", expires=0)
    assert "Expires=Thu, 01 Jan 1970 00:00:10 GMT" in format_set_cookie("a", expires=10.5)
    # An aware datetime in another zone is the same moment.
    paris = datetime(2030, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    assert "Expires=Tue, 01 Jan 2030 00:00:00 GMT" in format_set_cookie("a", expires=paris)


def test_format_without_path_or_samesite() -> None:
    line = format_set_cookie("a", "1", path=None, samesite=None, httponly=False)
    assert line == "a=1"


@pytest.mark.parametrize("samesite", ["lax", "Lax", "LAX", "strict", "none", "None"])
def test_samesite_values(samesite: str) -> None:
    assert format_set_cookie("a", samesite=samesite).endswith(f"SameSite={samesite.capitalize()}")


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "with space",
        "semi;colon",
        'quote"d',
        "comma,separated",
        "back\\slash",
        "été ünïcödé",
        "50%",
        "%41 is not A",
        "",
        "tab\there",
        "new\nline",
    ],
)
def test_values_round_trip(value: str) -> None:
    line = format_set_cookie("c", value)
    pair = line.split(";")[0]
    # What goes out is only cookie-octets: nothing can end the value or the header early.
    assert all(0x21 <= ord(ch) <= 0x7E and ch not in '",;\\' for ch in pair[2:])
    assert parse_cookies(pair) == {"c": value}


@pytest.mark.parametrize("name", ["", "with space", "semi;", "eq=", "é", "tab\t", "a\r\nb"])
def test_bad_names_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not a token"):
        format_set_cookie(name, "x")


@pytest.mark.parametrize(
    ("attribute", "text"),
    [("path", "/a;b"), ("domain", "x.org\r\nSet-Cookie: y=1"), ("path", "\0")],
)
def test_bad_attributes_refused(attribute: str, text: str) -> None:
    with pytest.raises(ValueError, match="forbidden character"):
        format_set_cookie("a", "1", **{attribute: text})  # type: ignore[arg-type]


def test_bad_samesite_refused() -> None:
    with pytest.raises(ValueError, match="SameSite must be one of lax, strict, none"):
        format_set_cookie("a", "1", samesite="sometimes")

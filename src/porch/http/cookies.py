"""Cookies (RFC 6265): reading a Cookie header and writing Set-Cookie values."""

import re
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from porch.http.dates import format_http_date

# cookie-name is a token; cookie-octet excludes controls, whitespace, DQUOTE, comma, ';' and '\'.
_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_OCTETS = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")
# The cookie-octets but '%', which starts an escape: what a value may hold as it is.
_SAFE = "!#$&'()*+-./:<=>?@[]^_`{|}~"
SAMESITE = ("lax", "strict", "none")


def parse_cookies(header: str) -> dict[str, str]:
    """The cookies of a Cookie header: `a=1; b="2"` -> {"a": "1", "b": "2"}.

    Lenient as browsers are: pieces without '=' are skipped, the first of a repeated name
    wins, surrounding double quotes are removed. Percent-escapes are decoded, as
    `format_set_cookie` makes them: a value set is the value read back.
    """
    cookies: dict[str, str] = {}
    for piece in header.split(";"):
        name, sep, value = piece.partition("=")
        name = name.strip()
        if not sep or not name:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if "%" in value:
            value = unquote(value, errors="replace")
        cookies.setdefault(name, value)
    return cookies


def format_set_cookie(
    name: str,
    value: str = "",
    *,
    max_age: int | None = None,
    expires: datetime | float | None = None,
    path: str | None = "/",
    domain: str | None = None,
    secure: bool = False,
    httponly: bool = True,
    samesite: str | None = "lax",
    partitioned: bool = False,
) -> str:
    """A Set-Cookie header value; ValueError for a name or attribute that would not be safe.

    A value with characters a cookie cannot hold (or with '%') is percent-encoded, as UTF-8;
    `parse_cookies` decodes it.
    """
    if _NAME.fullmatch(name) is None:
        raise ValueError(f"cookie name {name!r} is not a token")
    if "%" in value or _OCTETS.fullmatch(value) is None:
        value = quote(value, safe=_SAFE)
    parts = [f"{name}={value}"]
    if max_age is not None:
        parts.append(f"Max-Age={int(max_age)}")
    if expires is not None:
        stamp = expires.timestamp() if isinstance(expires, datetime) else float(expires)
        parts.append(f"Expires={format_http_date(stamp)}")
    for attribute, text in (("Path", path), ("Domain", domain)):
        if text is not None:
            if any(char in text for char in ";\r\n\0"):
                raise ValueError(f"cookie {attribute} {text!r} holds a forbidden character")
            parts.append(f"{attribute}={text}")
    if secure:
        parts.append("Secure")
    if httponly:
        parts.append("HttpOnly")
    if samesite is not None:
        if samesite.lower() not in SAMESITE:
            raise ValueError(f"SameSite must be one of {', '.join(SAMESITE)}")
        parts.append(f"SameSite={samesite.capitalize()}")
    if partitioned:
        parts.append("Partitioned")
    return "; ".join(parts)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

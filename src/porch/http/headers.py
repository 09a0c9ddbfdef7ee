"""Header helpers on raw header lists: look-ups, tokens, Host, comma lists and quality values."""

import ipaddress
import re
from collections.abc import Iterable, Iterator

RawHeaders = list[tuple[bytes, bytes]]

# RFC 9110 §5.6.2: token = 1*tchar.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Field values may not hold CR, LF or NUL (RFC 9110 §5.5); other controls are refused too.
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def is_token(value: bytes) -> bool:
    """Whether `value` is an RFC 9110 token (a valid field name or method)."""
    return _TOKEN.fullmatch(value) is not None


def is_field_value(value: bytes) -> bool:
    """Whether `value` may stand as a field value in a message (no CR, LF, NUL or controls)."""
    return _BAD_VALUE.search(value) is None


# RFC 9110 §7.2: Host = uri-host [ ":" port ], with RFC 3986 §3.2.2's uri-host: an IP literal in
# brackets (an IPv6 address, checked below, or an IPvFuture), else a reg-name (which an IPv4
# address also is); then port = *DIGIT. Userinfo ("a@b") and anything else are refused.
_HOST = re.compile(
    rb"(\[(?:[0-9A-Fa-f:.]+|[vV][0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+)\]"
    rb"|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)"
    rb"(?::([0-9]*))?"
)
# Host values found valid. PERF: a server sees the same few again and again; a set lookup
# answers those. Bounded: the values come from clients.
KNOWN_HOSTS: set[bytes] = set()
MAX_KNOWN_HOSTS = 256


def parse_host(value: bytes) -> tuple[str, int | None] | None:
    """A Host value as (host, port): the host lower-cased as written, the port None when absent
    or empty; None when the value is not RFC 9110's `uri-host [":" port]`."""
    match = _HOST.fullmatch(value)
    if match is None:
        return None
    host, digits = match.groups()
    if host[:1] == b"[" and host[1:2] not in (b"v", b"V"):
        try:
            ipaddress.IPv6Address(host[1:-1].decode("ascii"))
        except ValueError:
            return None
    port = None
    if digits:
        # Leading zeros aside, a TCP port has at most five digits (and int() refuses to read
        # over 4,300 of them: a number that long must not raise).
        significant = digits.lstrip(b"0")
        port = int(significant or b"0") if len(significant) <= 5 else 65536
        if port > 65535:
            return None
    return host.decode("ascii").lower(), port


def is_host(value: bytes) -> bool:
    """Whether `value` is a valid Host field value (see `parse_host`); remembered if it is."""
    if value in KNOWN_HOSTS:
        return True
    if parse_host(value) is None:
        return False
    if len(KNOWN_HOSTS) < MAX_KNOWN_HOSTS:
        KNOWN_HOSTS.add(value)
    return True


def find_header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of the header `name` (lower case) in a raw header list, or None."""
    for key, value in headers:
        if key == name:
            return value
    return None


def split_comma_list(value: bytes | str) -> list[str]:
    """The members of a comma-separated field value, stripped, empties dropped."""
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    return [item for item in (part.strip() for part in text.split(",")) if item]


def parse_quality_list(value: bytes | str) -> dict[str, float]:
    """`gzip;q=0.5, br` -> {"gzip": 0.5, "br": 1.0}: lower-cased members and their weights."""
    weights: dict[str, float] = {}
    for member in split_comma_list(value):
        name, _, params = member.partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, raw = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = min(max(float(raw.strip()), 0.0), 1.0)
                except ValueError:
                    quality = 0.0
        weights[name.strip().lower()] = quality
    return weights


# Fields the server derives for each response itself; a HeaderBlock may not hold them.
FRAMING_FIELDS = frozenset(
    (b"content-length", b"transfer-encoding", b"connection", b"date", b"server")
)


class HeaderBlock:
    """Response header fields checked and encoded once, to be sent with many responses.

    It iterates as (name, value) pairs like any raw header list; the server copies its
    encoded bytes into a response head as they are. Framing fields (Content-Length,
    Transfer-Encoding, Connection) and Date/Server are the server's and cannot be in it.
    """

    __slots__ = ("encoded", "fields")

    def __init__(self, fields: Iterable[tuple[bytes, bytes]]) -> None:
        checked: list[tuple[bytes, bytes]] = []
        for name, value in fields:
            lowered = name.lower()
            if not is_token(name):
                raise ValueError(f"header name {name!r} is not a token")
            if not is_field_value(value):
                raise ValueError(f"header {name!r} has a control character in its value")
            if lowered in FRAMING_FIELDS:
                raise ValueError(f"header {name!r} belongs to the server, not to a HeaderBlock")
            checked.append((lowered, value))
        self.fields = tuple(checked)
        self.encoded = b"".join(name + b": " + value + b"\r\n" for name, value in checked)

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __add__(self, other: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        return [*self.fields, *other]

    def __repr__(self) -> str:
        return f"HeaderBlock({list(self.fields)!r})"


def is_json(content_type: bytes) -> bool:
    """Whether a Content-Type value is JSON: application/json, or any `+json` type."""
    kind = content_type.split(b";", 1)[0].strip().lower()
    return kind == b"application/json" or kind.endswith(b"+json")

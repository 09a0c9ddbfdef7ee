"""Header helpers on raw header lists: look-ups, tokens, comma lists and quality values."""

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

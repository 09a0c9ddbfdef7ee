"""Byte ranges (RFC 9110 §14): parsing `Range` against a representation's length."""

import re

# More ranges than this in one request is abuse (or a scan); the whole representation is sent.
MAX_RANGES = 16
# ASCII digits only: str.isdigit() also takes '²' or '٣', which int() then refuses (a 500).
_DIGITS = re.compile(r"[0-9]+")
# A position with more significant digits than this lies past the end of any file; it is not
# read at all (int() refuses numbers of over 4,300 digits, and there is no need).
_MAX_DIGITS = 19
BEYOND = 1 << 64


class RangeNotSatisfiable(Exception):
    """No requested range overlaps the representation: answer 416."""


def parse_range(value: bytes | str, length: int) -> list[tuple[int, int]] | None:
    """The byte ranges requested, as sorted, merged (start, end-exclusive) pairs.

    None means "ignore the header and send the whole representation": a unit other than bytes,
    a malformed value, or too many ranges (RFC 9110 §14.2 allows a server to ignore Range).
    Raises RangeNotSatisfiable when the value is valid but no range overlaps `length` bytes.
    """
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    unit, sep, spec = text.partition("=")
    if not sep or unit.strip(" \t").lower() != "bytes":
        return None
    ranges: list[tuple[int, int]] = []
    members = spec.split(",")
    if len(members) > MAX_RANGES:
        return None
    seen = False
    for member in members:
        member = member.strip(" \t")
        if not member:
            continue
        seen = True
        first, dash, last = member.partition("-")
        first, last = first.strip(" \t"), last.strip(" \t")
        if (
            not dash
            or (first and _DIGITS.fullmatch(first) is None)
            or (last and _DIGITS.fullmatch(last) is None)
        ):
            return None
        if not first:
            if not last:
                return None
            suffix = _position(last)  # bytes=-500: the last 500 bytes
            if suffix == 0:
                continue
            ranges.append((max(length - suffix, 0), length))
            continue
        start = _position(first)
        if last:
            if _less(last, first):
                return None  # an invalid range-spec makes the whole field invalid (§14.1.1)
            end = min(_position(last) + 1, length)
        else:
            end = length
        if start >= length:
            continue
        ranges.append((start, end))
    if not seen:
        return None
    if not ranges:
        raise RangeNotSatisfiable(text)
    return _merge(ranges)


def _position(digits: str) -> int:
    """The value of a position's ASCII digits; BEYOND (past any file) when it is that long."""
    significant = digits.lstrip("0")
    return int(significant or "0") if len(significant) <= _MAX_DIGITS else BEYOND


def _less(a: str, b: str) -> bool:
    """Whether the number written `a` is less than the one written `b`, however long."""
    a, b = a.lstrip("0"), b.lstrip("0")
    return (len(a), a) < (len(b), b)


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sort ranges and merge those that overlap or touch."""
    ranges.sort()
    merged = [ranges[0]]
    for start, end in ranges[1:]:
        last_start, last_end = merged[-1]
        if start <= last_end:
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    return merged


def content_range(start: int, end: int, length: int) -> bytes:
    """`bytes 0-499/1234` for the (start, end-exclusive) range of a `length`-byte body."""
    return b"bytes %d-%d/%d" % (start, end - 1, length)

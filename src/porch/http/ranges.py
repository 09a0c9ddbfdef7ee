"""Byte ranges (RFC 9110 §14): parsing `Range` against a representation's length."""

# More ranges than this in one request is abuse (or a scan); the whole representation is sent.
MAX_RANGES = 16


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
    if not sep or unit.strip().lower() != "bytes":
        return None
    ranges: list[tuple[int, int]] = []
    members = spec.split(",")
    if len(members) > MAX_RANGES:
        return None
    seen = False
    for member in members:
        member = member.strip()
        if not member:
            continue
        seen = True
        first, dash, last = member.partition("-")
        first, last = first.strip(), last.strip()
        if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
            return None
        if first == "":
            if last == "":
                return None
            suffix = int(last)  # bytes=-500: the last 500 bytes
            if suffix == 0:
                continue
            ranges.append((max(length - suffix, 0), length))
            continue
        start = int(first)
        end = length if last == "" else min(int(last) + 1, length)
        if last != "" and int(last) < start:
            return None  # an invalid range-spec makes the whole field invalid (§14.1.1)
        if start >= length:
            continue
        ranges.append((start, end))
    if not seen:
        return None
    if not ranges:
        raise RangeNotSatisfiable(text)
    return _merge(ranges)


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

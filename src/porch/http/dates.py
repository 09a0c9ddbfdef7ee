"""HTTP dates (IMF-fixdate, RFC 9110 §5.6.7): formatting, lenient parsing, a per-second cache."""

import time
from email.utils import formatdate, mktime_tz, parsedate_tz


def format_http_date(timestamp: float) -> str:
    """`Sun, 06 Nov 1994 08:49:37 GMT` for a POSIX timestamp."""
    return formatdate(timestamp, usegmt=True)


def parse_http_date(value: str | bytes) -> float | None:
    """The timestamp of an HTTP date in any of the three RFC 9110 forms, or None if invalid."""
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    try:
        parts = parsedate_tz(value)
        # parsedate_tz also reads RFC 850 two-digit years and asctime() dates, but lets
        # impossible fields through (mktime would roll "99 Nov" into February).
        if parts is None or not (1 <= parts[2] <= 31 and parts[3] <= 23 and parts[4] <= 59):
            return None
        if not 0 <= parts[5] <= 60:
            return None
        return float(mktime_tz(parts))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


class DateHeader:
    """The `date: ...\\r\\n` header line, encoded once per second."""

    __slots__ = ("_line", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._line = b""

    def line(self, now: float | None = None) -> bytes:
        """The encoded header line for `now` (defaults to the current time)."""
        second = int(time.time() if now is None else now)
        # PERF: formatting a date costs microseconds; responses within one second share it.
        if second != self._second:
            self._second = second
            self._line = b"date: " + format_http_date(second).encode("ascii") + b"\r\n"
        return self._line

"""Status codes: reason phrases and pre-encoded status lines."""

from http import HTTPStatus

REASON_PHRASES: dict[int, str] = {status.value: status.phrase for status in HTTPStatus}
# Codes HTTPStatus lacks in some Python versions, or spells differently from RFC 9110.
REASON_PHRASES.update({413: "Content Too Large", 422: "Unprocessable Content"})


def reason_phrase(status: int) -> str:
    """The reason phrase for a status code ('' for an unknown one)."""
    return REASON_PHRASES.get(status, "")


def _status_line(version: bytes, status: int) -> bytes:
    return b"HTTP/%s %d %s\r\n" % (version, status, reason_phrase(status).encode("ascii"))


# PERF: the status line of every known code is encoded once, not per response.
STATUS_LINES_11: dict[int, bytes] = {code: _status_line(b"1.1", code) for code in REASON_PHRASES}
STATUS_LINES_10: dict[int, bytes] = {code: _status_line(b"1.0", code) for code in REASON_PHRASES}


def status_line(status: int, http_version: str = "1.1") -> bytes:
    """`HTTP/1.1 200 OK\\r\\n`: the encoded status line of a response."""
    lines = STATUS_LINES_10 if http_version == "1.0" else STATUS_LINES_11
    line = lines.get(status)
    if line is None:
        line = _status_line(b"1.0" if http_version == "1.0" else b"1.1", status)
    return line


def has_body(status: int) -> bool:
    """Whether a response with this status may carry content (RFC 9110 §6.4.1)."""
    return status >= 200 and status != 204 and status != 304

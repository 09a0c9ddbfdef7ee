"""Request-derived text made safe for a log line: control characters escaped.

A percent-decoded path (or a header, a method under another server) may hold CR LF: written
as it is, it starts a new line that looks like one of the log's own. Every value from a
request goes through `log_safe` before it is logged; the access log writes the raw target,
which the parser already keeps free of them.
"""

import re

# C0, DEL, C1, the Unicode line and paragraph separators (which some viewers break lines on),
# and lone surrogates (which a UTF-8 log stream cannot write at all).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def log_safe(text: str) -> str:
    """`text` with control characters escaped (`\\r`, `\\x1b`, `\\u2028`), for a log line."""
    # PERF: nearly every value is printable; str.isprintable() says so in C, and none of the
    # characters escaped here is printable.
    if text.isprintable():
        return text
    return _UNSAFE.sub(_escape, text)

"""The debug page: an exception's traceback with source and locals (debug mode, local clients).

`App(debug=True)` (or `porch run --debug`) answers an unhandled exception with this page when
the client is on the same machine. It shows every exception of the chain (`raise ... from`,
and an exception raised while handling another) oldest first, as Python prints them, and for
each frame the source around its line and its local variables. Everything it echoes is
HTML-escaped, every repr is bounded in size and time, and values whose names look secret
(passwords, tokens, keys, cookies) are masked. A client that prefers JSON gets the traceback as
text in a JSON error object instead.
"""

import html
import ipaddress
import linecache
import os
import re
import reprlib
import sysconfig
import traceback
from collections.abc import Iterator
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from porch.http.headers import HeaderBlock
from porch.http.native import Response as NativeResponse
from porch.web.errors import utf8_safe, wants_json
from porch.web.responses import encode_json

if TYPE_CHECKING:
    from porch.web.request import Request

CONTEXT_LINES = 5
# A deep recursion shows its first and last frames, not a thousand of them.
HEAD_FRAMES = 10
TAIL_FRAMES = 40
MAX_CHAIN = 20
MASK = "********"
# Local names and request headers whose values are not shown, even to the developer: the page
# ends up in screenshots, bug reports and shared screens.
SECRET_NAME = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api_?key|private_?key|signature|credential|"
    r"authorization|cookie|csrf",
    re.IGNORECASE,
)

_HTML = HeaderBlock(
    [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
        # Should anything slip through the escaping, no script of it runs.
        (b"content-security-policy", b"default-src 'none'; style-src 'unsafe-inline'"),
    ]
)
_JSON = HeaderBlock([(b"content-type", b"application/json"), (b"cache-control", b"no-store")])

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
h1{color:#a11;font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}
.frame{border:1px solid #ddd;margin:.6rem 0;border-radius:4px}
summary{background:#f4f4f4;padding:.4rem .6rem;font-family:monospace;cursor:pointer}
.library summary{color:#777}
pre{margin:0;padding:.4rem .6rem;overflow-x:auto}.line{color:#999}.current{background:#fde8e8}
table{border-collapse:collapse;margin:.4rem .6rem}td{font-family:monospace;padding:0 .6rem;
vertical-align:top;white-space:pre-wrap;word-break:break-all}td:first-child{color:#555}
.link{font-style:italic;margin:1.5rem 0}.omitted{color:#777;font-style:italic}
"""

_CAUSE = "The above exception was the direct cause of the following exception:"
_CONTEXT = "During handling of the above exception, another exception occurred:"


def _make_repr() -> reprlib.Repr:
    bounded = reprlib.Repr()
    bounded.maxstring = 300
    bounded.maxother = 300
    bounded.maxlong = 100
    bounded.maxlevel = 3
    for name in ("maxlist", "maxtuple", "maxdict", "maxset", "maxfrozenset", "maxdeque"):
        setattr(bounded, name, 20)
    return bounded


_REPR = _make_repr()


def is_local_client(client: tuple[str, int] | None) -> bool:
    """Whether a client address is this machine's loopback (127.0.0.0/8, ::1, mapped ::1).

    An unknown address (None: a Unix socket, which a proxy in front may share with the
    whole Internet) is not local.
    """
    if client is None:
        return False
    try:
        address = ipaddress.ip_address(client[0].split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def debug_page(request: "Request", exc: BaseException) -> NativeResponse:
    """A 500 showing `exc`'s traceback: HTML with source and locals, or JSON when preferred."""
    text = _traceback_text(exc)
    if wants_json(request.head):
        error = {"status": 500, "detail": utf8_safe(_describe(exc)), "traceback": utf8_safe(text)}
        return NativeResponse(500, _JSON, encode_json({"error": error}))
    try:
        page = _page(request, exc, text)
    except Exception as failure:  # the page must not fail: fall back to the text alone
        page = (
            f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>500</title></head><body><h1>{html.escape(_describe(exc))}</h1>"
            f"<pre>{html.escape(text)}</pre><p>(The full debug page failed: "
            f"{html.escape(_describe(failure))})</p></body></html>\n"
        )
    return NativeResponse(500, _HTML, page.encode("utf-8", "replace"))


def _page(request: "Request", exc: BaseException, text: str) -> str:
    title = html.escape(_describe(exc))
    sections = []
    for error, link in _chain(exc):
        sections.append(_exception_section(error))
        if link:
            sections.append(f'<p class="link">{html.escape(link)}</p>')
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_STYLE}</style></head><body>\n"
        f"<h1>{title}</h1>\n<p>{html.escape(request.method)} "
        f"{html.escape(_safe(lambda: request.url))}</p>\n"
        + "\n".join(sections)
        + f"\n<h2>Request headers</h2>{_request_headers(request)}"
        + f"\n<h2>Traceback</h2><pre>{html.escape(text)}</pre>\n</body></html>\n"
    )


def _chain(exc: BaseException) -> list[tuple[BaseException, str]]:
    """The exceptions that led to `exc`, oldest first, each with the line linking it onward."""
    chain: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    link = ""
    while current is not None and id(current) not in seen and len(chain) < MAX_CHAIN:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, _CAUSE
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, _CONTEXT
        else:
            current = None
    # Oldest first; each one's link line goes between it and the newer one it led to.
    chain.reverse()
    return chain


def _exception_section(exc: BaseException) -> str:
    frames = list(_frames(exc.__traceback__))
    shown: list[str] = []
    if len(frames) > HEAD_FRAMES + TAIL_FRAMES:
        omitted = len(frames) - HEAD_FRAMES - TAIL_FRAMES
        shown = [_frame(*frame) for frame in frames[:HEAD_FRAMES]]
        shown.append(f'<p class="omitted">… {omitted} frames not shown …</p>')
        shown += [_frame(*frame) for frame in frames[-TAIL_FRAMES:]]
    else:
        shown = [_frame(*frame) for frame in frames]
    notes = getattr(exc, "__notes__", None)
    note_text = ""
    if isinstance(notes, list):
        note_text = "".join(f"<p>{html.escape(_safe(lambda n=n: str(n)))}</p>" for n in notes)
    return f"<h2>{html.escape(_describe(exc))}</h2>{note_text}\n" + "".join(shown)


def _frames(tb: TracebackType | None) -> Iterator[tuple[FrameType, int]]:
    while tb is not None:
        yield tb.tb_frame, tb.tb_lineno
        tb = tb.tb_next


def _frame(frame: FrameType, lineno: int) -> str:
    code = frame.f_code
    filename = code.co_filename
    linecache.checkcache(filename)  # a file edited since (--reload) is read again
    lines = []
    for number in range(max(1, lineno - CONTEXT_LINES), lineno + CONTEXT_LINES + 1):
        source = linecache.getline(filename, number, frame.f_globals)
        if not source:
            continue
        css = "current" if number == lineno else ""
        lines.append(
            f'<div class="{css}"><span class="line">{number:5d}</span> '
            f"{html.escape(source.rstrip())}</div>"
        )
    local_rows = "".join(
        f"<tr><td>{html.escape(str(name))}</td><td>{html.escape(_value(name, value))}</td></tr>"
        for name, value in frame.f_locals.items()
    )
    library = _is_library(filename)
    return (
        f'<details class="frame{" library" if library else ""}"{"" if library else " open"}>'
        f"<summary>{html.escape(filename)}, line {lineno}, in {html.escape(code.co_name)}"
        f"</summary><pre>{''.join(lines)}</pre><table>{local_rows}</table></details>\n"
    )


def _value(name: object, value: object) -> str:
    if isinstance(name, str) and SECRET_NAME.search(name):
        return MASK
    return _safe(lambda: _REPR.repr(value))


def _request_headers(request: "Request") -> str:
    rows = []
    for name, value in request.head.headers:
        key = name.decode("latin-1")
        shown = MASK if SECRET_NAME.search(key) else value.decode("latin-1")
        rows.append(f"<tr><td>{html.escape(key)}</td><td>{html.escape(shown)}</td></tr>")
    return f"<table>{''.join(rows)}</table>"


# Frames from the standard library, installed packages and porch itself are folded away.
_LIBRARY_PATHS = tuple(
    {
        os.path.join(os.path.realpath(path), "")
        for path in (
            sysconfig.get_paths().get("stdlib", ""),
            sysconfig.get_paths().get("purelib", ""),
            sysconfig.get_paths().get("platlib", ""),
            os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
        if path
    }
)


def _is_library(filename: str) -> bool:
    return filename.startswith("<") or os.path.realpath(filename).startswith(_LIBRARY_PATHS)


def _traceback_text(exc: BaseException) -> str:
    try:
        return "".join(traceback.format_exception(exc))
    except Exception:
        return _describe(exc)


def _describe(exc: BaseException) -> str:
    """`ValueError: message`, whatever the exception's __str__ does."""
    message = _safe(lambda: str(exc))
    name = type(exc).__qualname__
    module = type(exc).__module__
    if module not in ("builtins", "__main__"):
        name = f"{module}.{name}"
    return f"{name}: {message}" if message else name


def _safe(make: Any) -> str:
    """`make()`, or a note that it failed: a broken __repr__ must not break the page."""
    try:
        return str(make())
    except Exception as exc:
        return f"<unprintable: {type(exc).__name__}>"

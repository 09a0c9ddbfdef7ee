"""The debug page: an exception's traceback with source and locals (debug mode, local clients).

`App(debug=True)` (or `porch run --debug`) answers an unhandled exception with this page when
the client is on the same machine and holds the debug token. It shows every exception of the
chain (`raise ... from`, and an exception raised while handling another) oldest first, as
Python prints them, and for each frame the source around its line and its local variables.
Everything it echoes is HTML-escaped, every repr is bounded in size, and values whose names
look secret (passwords, tokens, keys, sessions, cookies) are masked. A client that prefers JSON
gets the traceback as text in a JSON error object instead.

The token, as Werkzeug's debugger PIN: behind a proxy that adds no forwarding header every
client looks local, so being local is not enough. `porch run --debug` makes one and prints it;
an App in debug mode without one (under another server) makes its own and logs it. A local
client without it gets a locked 500 page with a form to enter it, which sets a cookie; scripts
send it in the X-Porch-Debug-Token header.
"""

import hashlib
import hmac
import html
import ipaddress
import itertools
import linecache
import logging
import os
import re
import reprlib
import secrets
import sysconfig
import traceback
from collections.abc import Iterator, Mapping
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import unquote_plus

from porch.http.cookies import format_set_cookie
from porch.http.headers import HeaderBlock
from porch.http.native import RequestHead
from porch.http.native import Response as NativeResponse
from porch.web.errors import error_page, utf8_safe, wants_json
from porch.web.request import Request
from porch.web.responses import encode_json

logger = logging.getLogger("porch.error")

# Where a local client enters the token (under the application's root path); reserved in debug
# mode, before any route, so that no route of the application can shadow it.
UNLOCK_PATH = "/__porch__/debug"
TOKEN_HEADER = "X-Porch-Debug-Token"
# How `porch run --debug` hands its token to the application, in every worker and restart.
TOKEN_ENV = "PORCH_DEBUG_TOKEN"

CONTEXT_LINES = 5
# A deep recursion shows its first and last frames, not a thousand of them.
HEAD_FRAMES = 10
TAIL_FRAMES = 40
MAX_CHAIN = 20
MASK = "********"
MAX_FORM_ROWS = 100
# Names (locals, headers, form fields, query parameters, keys in a dict) whose values are not
# shown, even to the developer: the page ends up in screenshots, bug reports and shared
# screens. A name that merely contains one is masked too (X-API-Key, session_id, db_passwd):
# masking a harmless value costs less than showing a secret.
SECRET_NAME = re.compile(
    r"key|token|secret|pass|session|cookie|auth|csrf|credential|signature", re.IGNORECASE
)

_HTML = HeaderBlock(
    [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
        # Should anything slip through the escaping, no script of it runs; the token form
        # posts only here, and no other site frames the page to have it typed in.
        (
            b"content-security-policy",
            b"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
            b"frame-ancestors 'none'",
        ),
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
.refused{color:#a11;font-weight:bold}
"""

_CAUSE = "The above exception was the direct cause of the following exception:"
_CONTEXT = "During handling of the above exception, another exception occurred:"


def _is_secret(name: object) -> bool:
    if isinstance(name, bytes):
        name = name.decode("latin-1")
    return isinstance(name, str) and SECRET_NAME.search(name) is not None


class _MaskingRepr(reprlib.Repr):
    """reprlib's bounded repr, with the values of secret-looking keys masked."""

    def repr1(self, x: Any, level: int) -> str:
        if isinstance(x, Mapping):
            return self._mapping(x, level)
        if isinstance(x, tuple) and len(x) == 2 and _is_secret(x[0]):
            # A (name, value) pair: a raw header, a form item.
            return f"({self.repr1(x[0], level - 1)}, {MASK})"
        if isinstance(x, (Request, RequestHead)):
            # Their own reprs show the target, query string (?access_token=...) included.
            head = x.head if isinstance(x, Request) else x
            target = head.raw_path.decode("latin-1") + _masked_query(head.query)
            return f"<{type(x).__name__} {head.method} {target!r}>"
        return super().repr1(x, level)

    def _mapping(self, mapping: Mapping[Any, Any], level: int) -> str:
        if not mapping:
            text = ""
        elif level <= 0:
            text = self.fillvalue
        else:
            pieces = [
                f"{self.repr1(key, level - 1)}: "
                + (MASK if _is_secret(key) else self.repr1(value, level - 1))
                for key, value in itertools.islice(mapping.items(), self.maxdict)
            ]
            if len(mapping) > self.maxdict:
                pieces.append(self.fillvalue)
            text = ", ".join(pieces)
        if type(mapping) is dict:
            return "{" + text + "}"
        return f"{type(mapping).__name__}({{{text}}})"


def _make_repr() -> reprlib.Repr:
    bounded = _MaskingRepr()
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


# The headers a proxy adds when it passes a request on (for a client it names).
_FORWARDING = (b"forwarded", b"x-forwarded-for", b"x-real-ip")


def is_local_request(request: Request) -> bool:
    """Whether a request comes from this machine: a loopback peer, and no proxy says otherwise."""
    # Through a proxy on this machine every client looks local: a forwarded request never is.
    return is_local_client(request.client) and not any(
        name in _FORWARDING for name, _ in request.head.headers
    )


class DebugLock:
    """The token that opens the debug page, and the pages that ask for it."""

    def __init__(self, token: str | None = None) -> None:
        token = token or os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            token = secrets.token_urlsafe(16)
            logger.warning(
                "Debug mode: the debug page opens to local clients with the token %s "
                "(enter it on an error page, or send it in the %s header)",
                token,
                TOKEN_HEADER,
            )
        self._token = token.encode()
        # A cookie name per token keeps two applications on localhost apart (cookies are not
        # per port); its value proves the token without being it.
        name = hmac.new(self._token, b"porch debug cookie name", hashlib.sha256).hexdigest()
        self.cookie_name = "porch_debug_" + name[:8]
        self._cookie = hmac.new(self._token, b"porch debug cookie", hashlib.sha256).hexdigest()

    def opens(self, request: Request) -> bool:
        """Whether a request holds the token: in the header, or the cookie the form sets."""
        sent = request.head.header(TOKEN_HEADER.lower().encode())
        if sent is not None and hmac.compare_digest(sent, self._token):
            return True
        cookie = request.cookies.get(self.cookie_name)
        return cookie is not None and hmac.compare_digest(cookie.encode(), self._cookie.encode())

    def failure_page(self, request: Request, exc: BaseException) -> NativeResponse:
        """A local client's 500: the debug page with the token, a locked page without."""
        if self.opens(request):
            return debug_page(request, exc)
        if wants_json(request.head):
            error = {
                "status": 500,
                "detail": "Internal Server Error",
                "debug": f"The traceback is locked: send the debug token in the {TOKEN_HEADER} "
                "header (porch run --debug prints it; an App in debug mode under another "
                "server logs it at startup).",
            }
            return NativeResponse(500, _JSON, encode_json({"error": error}))
        return _token_page(request, 500, _failed_path(request), "")

    async def unlock(self, request: Request) -> NativeResponse:
        """The unlock path: GET shows the form; POST checks the token and sets the cookie."""
        root = request.root_path
        if request.method in ("GET", "HEAD"):
            return _token_page(request, 200, _local_path(request.query.get("next", ""), root), "")
        if request.method != "POST":
            return error_page(request.head, 405, headers=[(b"allow", b"GET, HEAD, POST")])
        form = await request.form()
        after = _local_path(form.get("next", ""), root)
        if not hmac.compare_digest(form.get("token", "").strip().encode(), self._token):
            return _token_page(request, 403, after, "That is not the debug token.")
        cookie = format_set_cookie(
            self.cookie_name,
            self._cookie,
            path=root or "/",
            secure=request.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        # 303: the browser GETs the page again; a form it had posted is not sent twice.
        headers = [
            (b"location", after.encode("ascii")),
            (b"set-cookie", cookie.encode("latin-1")),
            (b"cache-control", b"no-store"),
        ]
        return NativeResponse(303, headers, b"")


# A path of this site: no scheme or host, no `//` or `/\` (which browsers resolve off-site),
# nothing but the characters of a percent-encoded path and query.
_LOCAL_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*")


def _local_path(target: str, root: str) -> str:
    """`target` if it is a path of this site, else the application's root."""
    return target if _LOCAL_PATH.fullmatch(target) else root + "/"


def _failed_path(request: Request) -> str:
    """Where the failed request went, to come back to once unlocked (a GET, if it was not)."""
    head = request.head
    path = request.root_path + head.raw_path.decode("latin-1")
    if head.query:
        path += "?" + head.query.decode("latin-1")
    return _local_path(path, request.root_path)


def _token_page(request: Request, status: int, after: str, message: str) -> NativeResponse:
    """The page that asks for the debug token: no traceback, no source, no locals."""
    title = "500 Internal Server Error" if status == 500 else "Debug token"
    action = html.escape(request.root_path + UNLOCK_PATH)
    notice = f'<p class="refused">{html.escape(message)}</p>' if message else ""
    page = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_STYLE}</style></head><body>\n<h1>{title}</h1>\n"
        "<p>The debug page is locked. Enter the debug token to see the traceback: "
        "<code>porch run --debug</code> printed it when it started (an application in debug "
        "mode under another server logs it at startup). Scripts send it in the "
        f"<code>{TOKEN_HEADER}</code> header.</p>\n{notice}"
        f'<form method="post" action="{action}">'
        f'<input type="hidden" name="next" value="{html.escape(after)}">'
        '<label>Debug token <input name="token" type="password" autocomplete="off" '
        "required autofocus></label> <button>Unlock</button></form>\n</body></html>\n"
    )
    return NativeResponse(status, _HTML, page.encode())


def debug_page(request: Request, exc: BaseException) -> NativeResponse:
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


def _page(request: Request, exc: BaseException, text: str) -> str:
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
        f"{html.escape(_safe(lambda: _shown_url(request)))}</p>\n"
        + "\n".join(sections)
        + f"\n<h2>Request headers</h2>{_request_headers(request)}"
        + _form_section(request)
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
    if _is_secret(name):
        return MASK
    return _safe(lambda: _REPR.repr(value))


def _shown_url(request: Request) -> str:
    """The request's URL, with the values of secret-looking query parameters masked."""
    head = request.head
    url = f"{request.scheme}://{request.host}{request.root_path}{head.raw_path.decode('latin-1')}"
    return url + _masked_query(head.query)


def _masked_query(query: bytes) -> str:
    """`?` and the query string, with the values of secret-looking parameters masked."""
    if not query:
        return ""
    pieces = []
    for piece in query.decode("latin-1").split("&"):
        name, equals, _ = piece.partition("=")
        pieces.append(f"{name}={MASK}" if equals and _is_secret(unquote_plus(name)) else piece)
    return "?" + "&".join(pieces)


def _request_headers(request: Request) -> str:
    rows = []
    for name, value in request.head.headers:
        key = name.decode("latin-1")
        shown = MASK if _is_secret(key) else value.decode("latin-1")
        rows.append(f"<tr><td>{html.escape(key)}</td><td>{html.escape(shown)}</td></tr>")
    return f"<table>{''.join(rows)}</table>"


def _form_section(request: Request) -> str:
    """The form the request sent, if the application read it: fields masked as locals are."""
    form = request._form
    if form is None:
        return ""
    rows = [
        (name, MASK if _is_secret(name) else _safe(lambda v=value: _REPR.repr(v)))
        for name, value in form.multi_items()
    ]
    rows += [
        (name, f"{upload.filename!r} ({upload.content_type}, {upload.size} bytes)")
        for name, upload in form.files_list
    ]
    shown = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{html.escape(text)}</td></tr>"
        for name, text in rows[:MAX_FORM_ROWS]
    )
    more = len(rows) - MAX_FORM_ROWS
    omitted = f'<p class="omitted">… {more} more not shown …</p>' if more > 0 else ""
    return f"\n<h2>Form</h2><table>{shown}</table>{omitted}"


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

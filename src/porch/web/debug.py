"""The debug page: an exception's traceback with source and locals (debug mode, local clients)."""

import html
import linecache
import traceback
from types import FrameType, TracebackType
from typing import TYPE_CHECKING

from porch.http.headers import HeaderBlock
from porch.http.native import Response as NativeResponse

if TYPE_CHECKING:
    from porch.web.request import Request

CONTEXT_LINES = 5
MAX_REPR = 300
_HEADERS = HeaderBlock([(b"content-type", b"text/html; charset=utf-8")])

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
h1{color:#a11}.frame{border:1px solid #ddd;margin:1rem 0;border-radius:4px}
.where{background:#f4f4f4;padding:.4rem .6rem;font-family:monospace}
pre{margin:0;padding:.4rem .6rem;overflow-x:auto}.line{color:#999}.current{background:#fde8e8}
table{border-collapse:collapse;margin:.4rem .6rem}td{font-family:monospace;padding:0 .6rem;
vertical-align:top}td:first-child{color:#555}
"""


def debug_page(request: "Request", exc: BaseException) -> NativeResponse:
    """A 500 page showing `exc`'s traceback, the source around each frame, and its locals."""
    title = html.escape(f"{type(exc).__name__}: {exc}")
    frames = "".join(_frame(frame, lineno) for frame, lineno in _frames(exc.__traceback__))
    body = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_STYLE}</style></head><body>\n"
        f"<h1>{title}</h1>\n<p>{html.escape(request.method)} "
        f"{html.escape(request.path)}</p>\n{frames}\n"
        f"<h2>Traceback</h2><pre>{html.escape(''.join(traceback.format_exception(exc)))}</pre>"
        "\n</body></html>\n"
    )
    return NativeResponse(500, _HEADERS, body.encode("utf-8", "replace"))


def _frames(tb: TracebackType | None) -> list[tuple[FrameType, int]]:
    frames: list[tuple[FrameType, int]] = []
    while tb is not None:
        frames.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    return frames


def _frame(frame: FrameType, lineno: int) -> str:
    code = frame.f_code
    filename = code.co_filename
    lines = []
    for number in range(max(1, lineno - CONTEXT_LINES), lineno + CONTEXT_LINES + 1):
        text = linecache.getline(filename, number)
        if not text:
            continue
        css = "current" if number == lineno else ""
        lines.append(
            f'<div class="{css}"><span class="line">{number:5d}</span> '
            f"{html.escape(text.rstrip())}</div>"
        )
    local_rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{html.escape(_safe_repr(value))}</td></tr>"
        for name, value in frame.f_locals.items()
    )
    return (
        f'<div class="frame"><div class="where">{html.escape(filename)}, line {lineno}, '
        f"in {html.escape(code.co_name)}</div><pre>{''.join(lines)}</pre>"
        f"<table>{local_rows}</table></div>\n"
    )


def _safe_repr(value: object) -> str:
    try:
        text = repr(value)
    except Exception as exc:
        text = f"<repr failed: {type(exc).__name__}>"
    return text if len(text) <= MAX_REPR else text[:MAX_REPR] + "…"

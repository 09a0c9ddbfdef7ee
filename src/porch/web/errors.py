"""Errors: `abort`, and the default error pages (JSON or HTML, as the client prefers)."""

import html
from typing import NoReturn

from porch.http.errors import HTTPError
from porch.http.headers import HeaderBlock, parse_quality_list
from porch.http.native import RawHeaders, RequestHead
from porch.http.native import Response as NativeResponse
from porch.http.status import reason_phrase
from porch.web.responses import encode_json

_JSON = HeaderBlock([(b"content-type", b"application/json")])
_HTML = HeaderBlock([(b"content-type", b"text/html; charset=utf-8")])


def abort(status: int, detail: str | None = None, headers: RawHeaders | None = None) -> NoReturn:
    """Stop handling the request and answer `status` (with `detail` for the client)."""
    raise HTTPError(status, detail, headers)


def wants_json(head: RequestHead) -> bool:
    """Whether the client prefers JSON to HTML (its Accept header weighs more for JSON)."""
    accept = head.header(b"accept")
    if not accept or b"json" not in accept:
        return False
    weights = parse_quality_list(accept)
    json_weight = max(
        (q for kind, q in weights.items() if kind == "application/json" or kind.endswith("+json")),
        default=0.0,
    )
    html_weight = max(weights.get("text/html", 0.0), weights.get("*/*", 0.0) * 0.99)
    return json_weight > html_weight


def utf8_safe(text: str) -> str:
    """`text` without lone surrogates (an undecodable file name's, from os.listdir say),
    which UTF-8 cannot hold: each becomes '?'."""
    if text.isascii():
        return text
    return text.encode("utf-8", "replace").decode("utf-8")


def error_page(
    head: RequestHead, status: int, detail: str | None = None, headers: RawHeaders | None = None
) -> NativeResponse:
    """The default page for an error: a small JSON object or HTML page, escaping the detail."""
    phrase = reason_phrase(status) or "Error"
    detail = detail if detail is not None else phrase
    detail = utf8_safe(detail)
    if wants_json(head):
        body = encode_json({"error": {"status": status, "detail": detail}})
        base = _JSON
    else:
        title = html.escape(f"{status} {phrase}")
        text = html.escape(detail)
        body = (
            '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{title}</title></head>\n<body><h1>{title}</h1>\n"
            + (f"<p>{text}</p>\n" if detail != phrase else "")
            + "</body></html>\n"
        ).encode()
        base = _HTML
    if headers:
        return NativeResponse(status, base + headers, body)
    return NativeResponse(status, base, body)

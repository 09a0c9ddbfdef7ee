"""Errors: `abort`, the default error pages (JSON or HTML, as the client prefers), and the
dispatch that turns an exception raised while answering into a response."""

import html
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from porch.http.errors import ClientDisconnected, HTTPError
from porch.http.headers import HeaderBlock, parse_quality_list
from porch.http.logsafe import log_safe
from porch.http.native import RawHeaders, RequestHead
from porch.http.native import Response as NativeResponse
from porch.http.status import reason_phrase
from porch.web.responses import encode_json
from porch.web.validation import ProblemError, problem_response

if TYPE_CHECKING:
    from porch.web.app import App
    from porch.web.request import Request

logger = logging.getLogger("porch.error")

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


def prefers_html(head: RequestHead) -> bool:
    """Whether the client asks for HTML rather than JSON (a browser's Accept, not `*/*`)."""
    accept = head.header(b"accept")
    if not accept or b"html" not in accept:
        return False
    weights = parse_quality_list(accept)
    json_weight = max(
        (q for kind, q in weights.items() if kind == "application/json" or kind.endswith("+json")),
        default=0.0,
    )
    return weights.get("text/html", 0.0) > json_weight


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


# Error dispatch: an exception raised while answering becomes a response.


async def error_response(app: "App", request: "Request", exc: Exception) -> NativeResponse:
    """The answer to `exc`: the error handler the request's routers have for it (innermost
    first; by status, then by exception class), else the default page; never raises."""
    hooks = request.hooks if request.hooks is not None else app.table.hooks
    if isinstance(exc, HTTPError):
        handler = hooks.handler_for(exc, exc.status)
        if handler is None:
            return http_error_page(request, exc)
        return await _handled(app, handler, request, exc, exc.status, exc.headers)
    handler = hooks.handler_for(exc, None)
    if handler is not None:
        return await _handled(app, handler, request, exc, None, None)
    if isinstance(exc, ClientDisconnected):
        # Nobody is left to read an answer, and nothing went wrong here: no error logged.
        return error_page(request.head, 400, "Client disconnected")
    handler = hooks.handler_for(exc, 500)
    if handler is None:
        return failure(app, request, exc)
    log_exception(request, exc)
    return await _handled(app, handler, request, exc, 500, None)


async def _handled(
    app: "App",
    handler: Callable[..., Any],
    request: "Request",
    exc: Exception,
    status: int | None,
    headers: RawHeaders | None,
) -> NativeResponse:
    """An error handler's answer. A bare body it returns takes the status it handles (a 404
    page is a 404); a Response or (body, status) says its own."""
    from porch.web.handlers import call_hook, make_response, to_native
    from porch.web.responses import Response

    try:
        value = await call_hook(handler, request, exc)
        if status is None:
            return to_native(value, request)
        response = make_response(value, request)
        if not isinstance(value, (Response, NativeResponse, tuple)):
            response.status = status
        raw = response.headers.raw
        for name, text in headers or ():
            if not any(item == name for item, _ in raw):
                raw.append((name, text))  # Allow of a 405, WWW-Authenticate of a 401...
        return response.finish(request)
    except HTTPError as error:  # a handler may answer by raising one (a 409 for a violation)
        return http_error_page(request, error)
    except Exception as second:
        return failure(app, request, second)


def http_error_page(request: "Request", exc: HTTPError) -> NativeResponse:
    """The default answer to an HTTP error: problem details from a typed API's route, else the
    page the client prefers (JSON or HTML)."""
    if isinstance(exc, ProblemError):  # a typed API's own: always problem details
        return problem_response(exc)
    route = request.route
    if route is not None and not route.handler.plain and not prefers_html(request.head):
        # An API route's errors are problem details too, abort(404) as much as a 422 (a
        # browser asking for HTML still gets a page).
        problem = ProblemError(exc.status, exc.detail or reason_phrase(exc.status))
        problem.headers = exc.headers
        return problem_response(problem)
    return error_page(request.head, exc.status, exc.detail, exc.headers)


def failure(app: "App", request: "Request", exc: BaseException) -> NativeResponse:
    """The 500 of an unhandled exception: logged; a traceback page only in debug mode."""
    log_exception(request, exc)
    if app.debug:
        from porch.web.debug import is_local_request

        if is_local_request(request):
            return app.debug_lock.failure_page(request, exc)
    return error_page(request.head, 500)


def log_exception(request: "Request", exc: BaseException) -> None:
    """Log an exception raised while answering `request`, with its traceback."""
    logger.error(
        "Exception in %s %s", log_safe(request.method), log_safe(request.path), exc_info=exc
    )

"""Serving the OpenAPI document (`app.openapi_url`) and the docs page (`app.docs_url`).

The page is Swagger UI, vendored under assets/swagger-ui/ from npm's swagger-ui-dist (see its
NOTICE), served by the application itself: it works with no network. Its script and style
sheet are kept gzipped (a quarter of their size in the wheel and on the wire) and go out with
Content-Encoding: gzip to every client that takes it; one that does not gets them decompressed
(once per process, then kept). Its start-up script is a
file too (assets/docs.js), which reads the document's URL from the page, so that the page's
Content-Security-Policy allows scripts from 'self' alone.

These routes are served like the application's own (its hooks run around them) but are not in
`app.routes` nor in the document, and a route or mount of the application at the same path
takes precedence: an application with a `/docs` page of its own keeps it.
"""

import asyncio
import gzip
import html
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import msgspec

from porch.http.headers import HeaderBlock
from porch.http.native import Response as NativeResponse
from porch.web.handlers import Handler
from porch.web.middleware.gzip import accepts_gzip
from porch.web.openapi import openapi_document
from porch.web.request import Request
from porch.web.responses import FileResponse, Response
from porch.web.routing import Route, RouteTable

if TYPE_CHECKING:
    from porch.web.app import App

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")
# What the page loads, under the docs URL: name -> (file, content type). A file ending in .gz
# is sent as it is with Content-Encoding: gzip.
FILES = {
    "swagger-ui-bundle.js": (
        "swagger-ui/swagger-ui-bundle.js.gz",
        "text/javascript; charset=utf-8",
    ),
    "swagger-ui.css": ("swagger-ui/swagger-ui.css.gz", "text/css; charset=utf-8"),
    "favicon-32x32.png": ("swagger-ui/favicon-32x32.png", "image/png"),
    "docs.js": ("docs.js", "text/javascript; charset=utf-8"),
}
# Everything the page loads is its own site's. Swagger UI's style sheet draws its icons as
# data: images, and shows an image a tried operation answered as a blob: one; nothing else
# is needed (checked in Chromium by tests/web/test_docs_browser.py).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)
PAGE_HEADERS = HeaderBlock(
    [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode("ascii")),
        (b"x-content-type-options", b"nosniff"),
        (b"cache-control", b"no-cache"),
    ]
)
JSON_HEADERS = HeaderBlock([(b"content-type", b"application/json")])
# The page's files are revalidated (a 304 by their ETag) at each visit: a new porch release
# brings new ones at the same URLs.
ASSET_HEADERS = {"cache-control": "no-cache", "x-content-type-options": "nosniff"}
Endpoint = Callable[[Request], Awaitable[NativeResponse]]
AssetEndpoint = Callable[[Request], Awaitable[Response]]
_GET = frozenset({"GET"})
# Documents kept per root path (one, unless the application is served under several).
KEPT = 8

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - API docs</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/docs.js"></script>
</body>
</html>
"""


def serve_docs(app: "App", table: RouteTable) -> None:
    """Add the document's and the page's routes to the application's table (the page only
    with the document: it shows nothing else)."""
    openapi_url = app.openapi_url
    if openapi_url is None:
        return
    routes = [Route(openapi_url, _document_endpoint(app), _GET, "porch.openapi")]
    docs_url = app.docs_url
    if docs_url is not None:
        base = docs_url.rstrip("/")
        routes.append(Route(docs_url, _page_endpoint(app, base), _GET, "porch.docs"))
        for name, (file, media_type) in FILES.items():
            endpoint = _asset_endpoint(os.path.join(ASSETS, file), media_type)
            routes.append(Route(f"{base}/{name}", endpoint, _GET, f"porch.docs:{name}"))
    hooks = table.hooks
    for route in routes:
        if "GET" in table.static.get(route.path, {}) or any(
            mount.prefix and mount.matches(route.path) for mount in app.mounts
        ):
            continue  # the application's own answer at that path wins (a root mount is a
            # fallback for what no route answers: it does not count)
        route.include_in_schema = False
        route.handler = Handler(route.endpoint, {})
        route.hooks = hooks
        route.direct = not hooks.before and not hooks.after
        # Served, but not listed with the application's own routes (app.routes).
        table.add(route, app.converters, listed=False)


def _document_endpoint(app: "App") -> Endpoint:
    # Made on first request, kept with this table: a rebuilt table (a route added) makes
    # new routes, and so a new document.
    document: dict[str, Any] | None = None
    encoded: dict[str, bytes] = {}

    def encode(root_path: str) -> bytes:
        nonlocal document
        if document is None:
            document = openapi_document(app)
        served = dict(document)
        if root_path:
            # Behind a proxy, "Try it out" must go through the prefix the document came by.
            items = list(served.items())
            items.insert(2, ("servers", [{"url": quote(root_path)}]))
            served = dict(items)
        body = msgspec.json.encode(served)
        if len(encoded) < KEPT:
            encoded[root_path] = body
        return body

    async def openapi(request: Request) -> NativeResponse:
        root_path = request.root_path
        body = encoded.get(root_path)
        if body is None:
            # A large application's document takes a moment: not on the event loop.
            loop = asyncio.get_running_loop()
            body = await loop.run_in_executor(app.executor, encode, root_path)
        return NativeResponse(200, JSON_HEADERS, body)

    return openapi


def _page_endpoint(app: "App", base: str) -> Endpoint:
    async def docs(request: Request) -> NativeResponse:
        root_path = request.root_path
        page = PAGE.format(
            title=html.escape(app.title),
            assets=html.escape(quote(root_path + base)),
            openapi_url=html.escape(quote(root_path + (app.openapi_url or ""))),
        )
        return NativeResponse(200, PAGE_HEADERS, page.encode())

    return docs


def _asset_endpoint(path: str, media_type: str) -> AssetEndpoint:
    if path.endswith(".gz"):
        return _gzipped_asset_endpoint(path, media_type)

    async def asset(request: Request) -> FileResponse:
        return FileResponse(path, media_type=media_type, headers=ASSET_HEADERS)

    return asset


def _gzipped_asset_endpoint(path: str, media_type: str) -> AssetEndpoint:
    gzipped = {**ASSET_HEADERS, "content-encoding": "gzip", "vary": "accept-encoding"}
    plain_headers = {**ASSET_HEADERS, "vary": "accept-encoding"}
    plain: list[bytes] = []  # decompressed once, for the rare client that takes no gzip

    async def asset(request: Request) -> Response:
        if accepts_gzip(request.head.header(b"accept-encoding")):
            return FileResponse(path, media_type=media_type, headers=gzipped)
        if not plain:
            plain.append(await asyncio.to_thread(_decompress, path))
        return Response(plain[0], headers=plain_headers, media_type=media_type)

    return asset


def _decompress(path: str) -> bytes:
    with open(path, "rb") as file:
        return gzip.decompress(file.read())

"""The battery's Starlette application (ASGI), written the way Starlette apps are."""

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from tests.apps import (
    COOKIE_EXPIRES,
    COOKIE_MAX_AGE,
    DOWNLOAD_NAME,
    FILE_ENV,
    STREAM_CHUNKS,
    STREAM_DELAY,
    file_summary,
    large_body,
    stream_chunk,
)

LARGE = large_body()


async def query(request: Request) -> Response:
    params = request.query_params
    return JSONResponse(
        {"a": params.get("a"), "b": params.getlist("b"), "u": params.get("u"), "n": len(params)}
    )


async def item(request: Request) -> Response:
    return JSONResponse({"id": request.path_params["item_id"], "name": request.path_params["name"]})


async def json_echo(request: Request) -> Response:
    data = await request.json()
    return JSONResponse(
        {"received": data, "keys": sorted(data), "total": data["price"] * data["quantity"]}
    )


async def form(request: Request) -> Response:
    async with request.form() as fields:
        return JSONResponse(
            {
                "name": fields.get("name"),
                "multi": fields.getlist("multi"),
                "text": fields.get("text"),
            }
        )


async def upload(request: Request) -> Response:
    async with request.form(max_part_size=8 * 1024 * 1024) as fields:
        file = fields["file"]
        assert isinstance(file, UploadFile)
        digest = hashlib.sha256()
        size = 0
        while block := await file.read(65536):
            digest.update(block)
            size += len(block)
        summary = file_summary(file.filename, digest.hexdigest(), size)
        return JSONResponse(
            {**summary, "note": fields.get("note"), "content_type": file.content_type}
        )


async def cookie_set(request: Request) -> Response:
    response = PlainTextResponse("cookies set")
    response.set_cookie(
        "session",
        "abc123",
        max_age=COOKIE_MAX_AGE,
        expires=COOKIE_EXPIRES,
        path="/",
        httponly=True,
        samesite="lax",
    )
    response.set_cookie("theme", "dark", path="/cookie", secure=True, samesite="strict")
    return response


async def cookie_read(request: Request) -> Response:
    cookies = request.cookies
    return JSONResponse({"session": cookies.get("session"), "theme": cookies.get("theme")})


async def redirect_to(request: Request) -> Response:
    target = request.url_for("query").include_query_params(a="1")
    return RedirectResponse(str(target), status_code=request.path_params["code"])


async def stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for index in range(STREAM_CHUNKS):
            if index:
                await asyncio.sleep(STREAM_DELAY)
            yield stream_chunk(index)

    return StreamingResponse(chunks(), media_type="text/plain")


async def large(request: Request) -> Response:
    return Response(LARGE, media_type="application/octet-stream")


async def custom(request: Request) -> Response:
    response = PlainTextResponse("accepted", status_code=202, headers={"X-Custom": "custom value"})
    response.headers.append("X-Multi", "one")
    response.headers.append("X-Multi", "two")
    return response


async def reason(request: Request) -> Response:
    return PlainTextResponse("custom reason", status_code=299)


async def error(request: Request) -> Response:
    raise RuntimeError("boom")


async def forbidden(request: Request) -> Response:
    raise HTTPException(403)


async def headers(request: Request) -> Response:
    echoed = [
        [name, value]
        for name, value in request.headers.items()
        if name.startswith("x") or name in ("content-type", "content-length")
    ]
    return JSONResponse(echoed)


async def cafe(request: Request) -> Response:
    return PlainTextResponse("café")


async def path_segment(request: Request) -> Response:
    return JSONResponse({"name": request.path_params["name"]})


async def path_info(request: Request) -> Response:
    return JSONResponse(
        {
            "path": request.url.path,
            "rest": request.path_params["rest"],
            "raw": request.scope["raw_path"].decode("latin-1"),
        }
    )


async def urls(request: Request) -> Response:
    return JSONResponse(
        {
            "script_name": request.scope.get("root_path"),
            "path": request.url.path,
            "self": request.url_for("urls").path,
            "item": request.url_for("item", item_id=7, name="x y").path,
            "external": str(request.url_for("query").include_query_params(a="1")),
        }
    )


async def client(request: Request) -> Response:
    assert request.client is not None
    return JSONResponse({"host": request.client.host, "scheme": request.url.scheme})


async def download(request: Request) -> Response:
    return FileResponse(
        os.environ[FILE_ENV], media_type="application/octet-stream", filename=DOWNLOAD_NAME
    )


app = Starlette(
    debug=False,
    routes=[
        Route("/query", query, name="query"),
        Route("/items/{item_id:int}/{name}", item, name="item"),
        Route("/json", json_echo, methods=["POST"]),
        Route("/form", form, methods=["POST"]),
        Route("/upload", upload, methods=["POST"]),
        Route("/cookie/set", cookie_set),
        Route("/cookie/read", cookie_read),
        Route("/redirect/{code:int}", redirect_to),
        Route("/stream", stream),
        Route("/large", large),
        Route("/custom", custom),
        Route("/reason", reason),
        Route("/error", error),
        Route("/forbidden", forbidden),
        Route("/headers", headers),
        Route("/café", cafe),
        Route("/p/{name}", path_segment),
        Route("/pathinfo/{rest:path}", path_info),
        Route("/url", urls, name="urls"),
        Route("/client", client),
        Route("/file", download),
    ],
)

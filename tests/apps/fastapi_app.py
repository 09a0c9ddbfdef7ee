"""The battery's FastAPI application (ASGI), written the way FastAPI apps are: typed."""

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Cookie, FastAPI, File, Form, HTTPException, Path, Query, Request, UploadFile
from fastapi.responses import (
    FileResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from pydantic import BaseModel

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

app = FastAPI(debug=False)
LARGE = large_body()


class Order(BaseModel):
    name: str
    price: float
    quantity: int
    tags: list[str]
    note: str | None = None


@app.api_route("/query", methods=["GET", "HEAD"])
async def query(
    request: Request,
    a: str | None = None,
    b: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI copies defaults)
    u: str | None = None,
) -> dict[str, object]:
    return {"a": a, "b": b, "u": u, "n": len(request.query_params)}


@app.get("/items/{item_id}/{name}", name="item")
async def item(item_id: Annotated[int, Path()], name: str) -> dict[str, object]:
    return {"id": item_id, "name": name}


@app.post("/json")
async def json_echo(order: Order) -> dict[str, object]:
    data = order.model_dump(exclude_unset=True)
    return {"received": data, "keys": sorted(data), "total": order.price * order.quantity}


@app.post("/form")
async def form(
    name: Annotated[str, Form()],
    multi: Annotated[list[str], Form()],
    text: Annotated[str, Form()],
) -> dict[str, object]:
    return {"name": name, "multi": multi, "text": text}


@app.post("/upload")
async def upload(
    file: Annotated[UploadFile, File()], note: Annotated[str, Form()]
) -> dict[str, object]:
    digest = hashlib.sha256()
    size = 0
    while block := await file.read(65536):
        digest.update(block)
        size += len(block)
    summary = file_summary(file.filename, digest.hexdigest(), size)
    return {**summary, "note": note, "content_type": file.content_type}


@app.get("/cookie/set", response_class=PlainTextResponse)
async def cookie_set(response: Response) -> str:
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
    return "cookies set"


@app.get("/cookie/read")
async def cookie_read(
    session: Annotated[str | None, Cookie()] = None,
    theme: Annotated[str | None, Cookie()] = None,
) -> dict[str, object]:
    return {"session": session, "theme": theme}


@app.get("/redirect/{code}")
async def redirect_to(request: Request, code: int) -> RedirectResponse:
    target = request.url_for("query").include_query_params(a="1")
    return RedirectResponse(str(target), status_code=code)


@app.api_route("/stream", methods=["GET", "HEAD"])
async def stream() -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for index in range(STREAM_CHUNKS):
            if index:
                await asyncio.sleep(STREAM_DELAY)
            yield stream_chunk(index)

    return StreamingResponse(chunks(), media_type="text/plain")


@app.api_route("/large", methods=["GET", "HEAD"])
async def large() -> Response:
    return Response(LARGE, media_type="application/octet-stream")


@app.get("/custom", status_code=202, response_class=PlainTextResponse)
async def custom(response: Response) -> str:
    response.headers["X-Custom"] = "custom value"
    response.headers.append("X-Multi", "one")
    response.headers.append("X-Multi", "two")
    return "accepted"


@app.get("/reason", status_code=299, response_class=PlainTextResponse)
async def reason() -> str:
    return "custom reason"


@app.get("/error")
async def error() -> None:
    raise RuntimeError("boom")


@app.get("/forbidden")
async def forbidden() -> None:
    raise HTTPException(status_code=403, detail="Forbidden")


@app.get("/headers")
async def headers(request: Request) -> list[list[str]]:
    return [
        [name, value]
        for name, value in request.headers.items()
        if name.startswith("x") or name in ("content-type", "content-length")
    ]


@app.get("/café", response_class=PlainTextResponse)
async def cafe() -> str:
    return "café"


@app.get("/p/{name}")
async def path_segment(name: str) -> dict[str, str]:
    return {"name": name}


@app.get("/pathinfo/{rest:path}")
async def path_info(request: Request, rest: str) -> dict[str, str]:
    raw: bytes = request.scope["raw_path"]
    return {"path": request.url.path, "rest": rest, "raw": raw.decode("latin-1")}


@app.get("/url", name="urls")
async def urls(request: Request) -> dict[str, object]:
    return {
        "script_name": request.scope.get("root_path"),
        "path": request.url.path,
        "self": request.url_for("urls").path,
        "item": request.url_for("item", item_id=7, name="x y").path,
        "external": str(request.url_for("query").include_query_params(a="1")),
    }


@app.get("/client")
async def client(request: Request) -> dict[str, object]:
    assert request.client is not None
    return {"host": request.client.host, "scheme": request.url.scheme}


@app.api_route("/file", methods=["GET", "HEAD"])
async def download() -> FileResponse:
    return FileResponse(
        os.environ[FILE_ENV], media_type="application/octet-stream", filename=DOWNLOAD_NAME
    )

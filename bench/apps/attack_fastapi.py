"""bench/apps/attack.py's answers as FastAPI writes them, for uvicorn in bench/attacks.py."""

from typing import Annotated

from fastapi import Body, FastAPI
from fastapi.responses import PlainTextResponse, Response

BIG = b"x" * (1 << 20)

app = FastAPI()


@app.get("/big")
async def big() -> Response:
    return Response(BIG, media_type="application/octet-stream")


@app.get("/small")
def small() -> PlainTextResponse:
    return PlainTextResponse("ok")


@app.post("/upload")
def upload(body: Annotated[bytes, Body()]) -> PlainTextResponse:
    # FastAPI receives the body on the event loop, then calls this in a thread.
    return PlainTextResponse(str(len(body)))

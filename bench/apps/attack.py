"""The applications under attack (bench/attacks.py, tests/server/test_attacks.py): one per
interface, each answering:
- `GET /big`: 1 MiB, whole;
- `GET /small`: "ok" (from a `def` handler in the porch App: it needs a thread);
- `POST /upload`: the length of the body, read by blocking code (a `def` handler, WSGI).
"""

import asyncio
import time
from typing import Any

from porch import App, Request
from porch.web.responses import Response

BIG = b"x" * (1 << 20)

app = App(__name__)


@app.get("/big")
async def big() -> Response:
    return Response(BIG, media_type="application/octet-stream")


@app.get("/small")
def small() -> str:
    return "ok"


@app.post("/upload")
def upload(request: Request) -> str:
    return str(len(request.sync.body()))


async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/upload":
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = str(size).encode()
    else:
        await asyncio.sleep(0)
        body = BIG if scope["path"] == "/big" else b"ok"
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    path = environ["PATH_INFO"]
    if path == "/upload":
        body = str(len(environ["wsgi.input"].read())).encode()
    elif path == "/slow":
        time.sleep(float(environ.get("QUERY_STRING") or "1"))
        body = b"slow"
    else:
        body = BIG if path == "/big" else b"ok"
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]

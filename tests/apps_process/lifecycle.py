"""An ASGI application that shows which process answers and records its life.

- `GET /pid`: the worker's process id.
- `GET /slow?seconds=S`: logs "slow-PID" to $TESTAPP_REQUEST_LOG, answers after S seconds
  (default 2), logging "slow-done-PID" first.
- `GET /req?id=N`: appends N to $TESTAPP_REQUEST_LOG, then answers "PID N".
- `GET /scheme`: the scope's scheme (http or https).
- lifespan: appends "startup PID" / "shutdown PID" lines to $TESTAPP_MARKER.
"""

import asyncio
import os
from typing import Any
from urllib.parse import parse_qs


def record(variable: str, line: str) -> None:
    """Append a line to the file named by an environment variable (if set)."""
    path = os.environ.get(variable)
    if path:
        # One small O_APPEND write: lines from several workers never interleave.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{line}\n".encode())
        finally:
            os.close(fd)


async def lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            record("TESTAPP_MARKER", f"startup {os.getpid()}")
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            record("TESTAPP_MARKER", f"shutdown {os.getpid()}")
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    query = parse_qs(scope["query_string"].decode())
    path = scope["path"]
    if path == "/slow":
        record("TESTAPP_REQUEST_LOG", f"slow-{os.getpid()}")
        await asyncio.sleep(float(query.get("seconds", ["2"])[0]))
        body = b"slow done"
        record("TESTAPP_REQUEST_LOG", f"slow-done-{os.getpid()}")
    elif path == "/scheme":
        body = scope["scheme"].encode()
    elif path == "/req":
        request_id = query["id"][0]
        record("TESTAPP_REQUEST_LOG", request_id)
        body = f"{os.getpid()} {request_id}".encode()
    else:
        body = str(os.getpid()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/plain"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

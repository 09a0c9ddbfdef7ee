"""The WSGI twin of `lifecycle.py` (no lifespan): /pid, /slow?seconds=S, /req?id=N."""

import os
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from tests.apps_process.lifecycle import record


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    query = parse_qs(environ.get("QUERY_STRING", ""))
    path = environ["PATH_INFO"]
    if path == "/slow":
        record("TESTAPP_REQUEST_LOG", f"slow-{os.getpid()}")
        time.sleep(float(query.get("seconds", ["2"])[0]))
        body = b"slow done"
        record("TESTAPP_REQUEST_LOG", f"slow-done-{os.getpid()}")
    elif path == "/req":
        request_id = query["id"][0]
        record("TESTAPP_REQUEST_LOG", request_id)
        body = f"{os.getpid()} {request_id}".encode()
    else:
        body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

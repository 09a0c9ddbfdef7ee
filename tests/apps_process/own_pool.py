"""A WSGI application with a thread pool of its own, idle between uses (as a client library's),
and `create`, a factory of it that takes no argument (run it with --factory)."""

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

# Its threads are not daemons and wait for work until the process ends: no request runs in them.
pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="app-pool")


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = pool.submit(lambda: b"pooled").result()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def create() -> Callable[..., Iterable[bytes]]:
    return app

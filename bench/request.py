"""What a scenario sends: one HTTP request, defined once, for the answer check and for wrk."""

import json
import re
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
JSON_HEADERS = (("Content-Type", "application/json"),)


@dataclass(frozen=True)
class Request:
    """A method, a path (with its query string), headers and a body."""

    method: str = "GET"
    path: str = "/"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def __post_init__(self) -> None:
        if not _TOKEN.fullmatch(self.method):
            raise ValueError(f"not an HTTP method: {self.method!r}")
        if not self.path.startswith("/"):
            raise ValueError(f"a path starts with '/': {self.path!r}")
        for name, value in self.headers:
            # wrk takes each header as one `-H "Name: value"` argument.
            if not _TOKEN.fullmatch(name) or any(c in value for c in "\r\n\0"):
                raise ValueError(f"not a header wrk can send: {name!r}: {value!r}")
        # wrk's script receives the body through an environment variable.
        if b"\0" in self.body:
            raise ValueError("a body holding a NUL byte cannot be given to wrk")

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    def describe(self) -> str:
        """The request for the docs: `POST /orders`, `X-Client: bench`, a 123-byte body."""
        parts = [f"`{self}`", *(f"`{name}: {value}`" for name, value in self.headers)]
        if self.body:
            parts.append(f"a {len(self.body):,}-byte body")
        return ", ".join(parts)


def json_body(value: Any) -> bytes:
    """`value` as a compact JSON request body."""
    return json.dumps(value, separators=(",", ":")).encode()


def json_request(method: str, path: str, value: Any) -> Request:
    """A request carrying `value` as its JSON body."""
    return Request(method, path, JSON_HEADERS, json_body(value))

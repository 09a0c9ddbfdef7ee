"""Validation errors as RFC 9457 problem details (`application/problem+json`).

A request whose parameters or body fail their types gets 422 with an `errors` list; each
error has its location (`["query", "limit"]`, `["body", "tags", 2]`), a message and a type:
`missing`, `type` (the wrong kind of value), `constraint` (a bound, a length, a pattern) or
`invalid` (anything else: an enum value, a malformed date). Malformed JSON is a 400 and a body
of the wrong Content-Type a 415, in the same format.
"""

import re
from typing import Any

import msgspec

from porch.http.errors import HTTPError
from porch.http.headers import HeaderBlock
from porch.http.native import Response as NativeResponse
from porch.http.status import reason_phrase

PROBLEM_HEADERS = HeaderBlock([(b"content-type", b"application/problem+json")])
Location = list[str | int]

# msgspec's messages: "Expected `int` >= 1 - at `$.limit`", "Object missing required field
# `name` - at `$.team`".
_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
# A step: `.name`, `[2]`, or `[...]` (a key of a dict, which msgspec does not name).
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[(\.\.\.)\]")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]*)`")
_CONSTRAINT = re.compile(r"[<>]=?|length|match|multiple of|tz|timezone")


class ProblemError(HTTPError):
    """An HTTP error answered as problem details, with the errors that caused it."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(status, detail)
        self.errors = errors or []


class RequestValidationError(ProblemError):
    """The request's parameters or body do not validate: 422 with every error found."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        count = f"{len(errors)} errors" if len(errors) != 1 else "1 error"
        super().__init__(422, f"The request is not valid ({count})", errors)


def error(location: Location, message: str, kind: str) -> dict[str, Any]:
    """One entry of a problem's `errors`."""
    return {"loc": location, "msg": message, "type": kind}


def missing(location: Location) -> dict[str, Any]:
    """The error of a required value that was not sent."""
    return error(location, "Field required", "missing")


def from_msgspec(exc: msgspec.ValidationError, location: Location) -> dict[str, Any]:
    """The error msgspec found, located under `location` (its `$.a[2]` path appended)."""
    message = str(exc)
    where = list(location)
    at = _AT.search(message)
    if at is not None:
        message = message[: at.start()]
        for name, index, key in _STEP.findall(at.group("path")):
            where.append(int(index) if index else name or key)
    absent = _MISSING.match(message)
    if absent is not None:
        return missing([*where, absent.group("name")])
    if message.startswith("Expected `") and ", got `" in message:
        kind = "type"
    elif _CONSTRAINT.search(message):
        kind = "constraint"
    else:
        kind = "invalid"
    return error(where, message, kind)


def problem_response(exc: ProblemError) -> NativeResponse:
    """The problem details of `exc` as a response."""
    problem: dict[str, Any] = {
        "type": "about:blank",
        "title": reason_phrase(exc.status),
        "status": exc.status,
        "detail": exc.detail,
    }
    if exc.errors:
        problem["errors"] = exc.errors
    return NativeResponse(exc.status, PROBLEM_HEADERS + exc.headers, msgspec.json.encode(problem))


# The problem document, for OpenAPI (porch.web.openapi).
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    },
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
                "required": ["loc", "msg", "type"],
            },
        },
    },
    "required": ["type", "title", "status", "detail"],
}

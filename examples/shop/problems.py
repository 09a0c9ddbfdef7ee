"""The shop's errors, all answered as RFC 9457 problem details, and all in its OpenAPI document.

porch answers a typed route's bad JSON and bad parameters (400, 415, 422) as problem details and
documents them. Its other errors (an `abort(404)`, a form it cannot read) it answers as JSON or
HTML, as the client's Accept header prefers, and a route cannot yet list the statuses it
answers besides (FastAPI's `responses=`). Until porch can, the shop answers every error in the
one format, and serves its document with those statuses added.
"""

from collections.abc import Callable
from typing import Any, TypeVar

from dependencies import require_api_key

from porch import App, HTTPError, Request
from porch.http.native import Response as NativeResponse
from porch.http.status import reason_phrase
from porch.web.openapi import openapi_document, openapi_path
from porch.web.validation import PROBLEM_SCHEMA, ProblemError, problem_response

F = TypeVar("F", bound=Callable[..., Any])
PROBLEM = "application/problem+json"
UNDOCUMENTED = {"HEAD", "OPTIONS"}  # answered by porch for every route; no operation of their own
_ANSWERS: dict[Callable[..., Any], tuple[int, ...]] = {}


def problem(request: Request, exc: HTTPError) -> NativeResponse:
    """An HTTP error as problem details, as porch answers a 422."""
    if not isinstance(exc, ProblemError):
        exc = ProblemError(exc.status, exc.detail or reason_phrase(exc.status))
    return problem_response(exc)


def answers(*statuses: int) -> Callable[[F], F]:
    """Note the error statuses a handler answers, for the document."""

    def note(endpoint: F) -> F:
        _ANSWERS[endpoint] = statuses
        return endpoint

    return note


def shop_document(app: App) -> dict[str, Any]:
    """The app's OpenAPI document, with the errors its routes answer besides porch's own: those
    noted with `answers`, and 401 where the API key is required."""
    document = openapi_document(app)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ProblemDetails", PROBLEM_SCHEMA)
    for route in app.routes:
        statuses = set(_ANSWERS.get(route.endpoint, ()))
        if any(
            getattr(needed, "dependency", None) is require_api_key for needed in route.dependencies
        ):
            statuses.add(401)
        if not statuses or not route.include_in_schema:
            continue
        operations = document["paths"][openapi_path(route)]
        for method in route.methods - UNDOCUMENTED:
            responses = operations[method.lower()]["responses"]
            for status in statuses:
                responses[str(status)] = {
                    "description": reason_phrase(status),
                    "content": {
                        PROBLEM: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}
                    },
                }
            operations[method.lower()]["responses"] = dict(sorted(responses.items()))
    return document

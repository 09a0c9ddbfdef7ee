"""The middleware docs/server.md gives Django projects: it names the route that answered in
the environ (WSGI) or scope (ASGI), where porch's metrics read it (`porch.route`)."""

from collections.abc import Callable
from typing import Any


def porch_route(get_response: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def middleware(request: Any) -> Any:
        response = get_response(request)
        match = request.resolver_match
        if match is not None:
            where = getattr(request, "scope", None) or request.environ
            where["porch.route"] = match.route
        return response

    return middleware

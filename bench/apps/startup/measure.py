"""Run by bench.startup in a fresh interpreter (`python -m startup.measure porch`): times one
framework's 300-route application and prints the figures as one JSON line."""

import importlib
import json
import sys
import time
from collections.abc import Callable
from typing import Any

# What each framework's application imports first: the framework itself.
FRAMEWORKS = {"porch": "porch.web", "fastapi": "fastapi"}


def route_count(framework: str, app: Any) -> int:
    """The application's routes; for porch, reading them builds its route table."""
    if framework == "porch":
        return len(app.table.routes)
    from fastapi.routing import APIRoute

    # FastAPI builds each route when it is declared; its own /openapi.json and /docs aside.
    return sum(isinstance(route, APIRoute) for route in app.routes)


def openapi_generator(framework: str) -> tuple[Callable[[Any], dict[str, Any]] | None, str]:
    """The function that writes the OpenAPI document, or None and why it is not there."""
    if framework == "fastapi":
        return lambda app: app.openapi(), ""
    try:
        from porch.web.openapi import openapi_document
    except ImportError as exc:
        return None, f"not available ({exc})"
    return openapi_document, ""


def operation_count(document: dict[str, Any]) -> int:
    """The operations of an OpenAPI document (method entries under its paths)."""
    methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    return sum(method in methods for item in document.get("paths", {}).values() for method in item)


def main(framework: str) -> None:
    """Time the import of the framework, of the application with its route table, and the
    OpenAPI document; print them as JSON."""
    started = time.perf_counter()
    importlib.import_module(FRAMEWORKS[framework])
    framework_imported = time.perf_counter()
    app = importlib.import_module(f"startup.{framework}_routes").app
    routes = route_count(framework, app)
    built = time.perf_counter()
    result: dict[str, Any] = {
        "framework": framework,
        "framework_import_s": framework_imported - started,
        "app_build_s": built - framework_imported,
        "routes": routes,
        "openapi_s": None,
        "operations": None,
        "openapi_missing": "",
    }
    generate, missing = openapi_generator(framework)
    if generate is None:
        result["openapi_missing"] = missing
    else:
        before = time.perf_counter()
        document = generate(app)
        result["openapi_s"] = time.perf_counter() - before
        result["operations"] = operation_count(document)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1])

"""Porch: a fast Python web server and full-stack web framework in one package.

The framework's names are imported on first use, so that the server alone (`porch serve`,
`porch run` of another framework's application) does not load them.
"""

from typing import TYPE_CHECKING, Any

from porch.version import __version__

if TYPE_CHECKING:
    from porch.web import (
        App,
        Body,
        Cookie,
        Depends,
        Event,
        EventStream,
        File,
        FileResponse,
        Form,
        Header,
        HTMLResponse,
        HTTPError,
        JSONResponse,
        Path,
        PlainTextResponse,
        Query,
        RedirectResponse,
        Request,
        Response,
        Router,
        Secret,
        Settings,
        StreamingResponse,
        UploadFile,
        WebSocket,
        WebSocketDisconnect,
        abort,
        redirect,
        render,
    )

__all__ = [
    "App",
    "Body",
    "Cookie",
    "Depends",
    "Event",
    "EventStream",
    "File",
    "FileResponse",
    "Form",
    "HTMLResponse",
    "HTTPError",
    "Header",
    "JSONResponse",
    "Path",
    "PlainTextResponse",
    "Query",
    "RedirectResponse",
    "Request",
    "Response",
    "Router",
    "Secret",
    "Settings",
    "StreamingResponse",
    "UploadFile",
    "WebSocket",
    "WebSocketDisconnect",
    "__version__",
    "abort",
    "redirect",
    "render",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        import porch.web

        return getattr(porch.web, name)
    raise AttributeError(f"module 'porch' has no attribute {name!r}")

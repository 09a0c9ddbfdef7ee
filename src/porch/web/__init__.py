"""The web framework: App, routing, requests, responses, templates, errors and middleware."""

from porch.http.errors import HTTPError
from porch.web.app import App
from porch.web.datastructures import Headers, MultiDict, MutableHeaders
from porch.web.errors import abort
from porch.web.forms import FormData, UploadFile
from porch.web.request import Request
from porch.web.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
    redirect,
)
from porch.web.router import Router
from porch.web.templates import render

__all__ = [
    "App",
    "FileResponse",
    "FormData",
    "HTMLResponse",
    "HTTPError",
    "Headers",
    "JSONResponse",
    "MultiDict",
    "MutableHeaders",
    "PlainTextResponse",
    "RedirectResponse",
    "Request",
    "Response",
    "Router",
    "StreamingResponse",
    "UploadFile",
    "abort",
    "redirect",
    "render",
]

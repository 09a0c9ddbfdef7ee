"""The web framework: App, routing, requests, responses, templates, errors and middleware."""

from porch.http.errors import HTTPError
from porch.web.app import App
from porch.web.datastructures import Headers, MultiDict, MutableHeaders
from porch.web.errors import abort
from porch.web.events import Event, EventStream
from porch.web.forms import FormData, UploadFile
from porch.web.params import Body, Cookie, Depends, File, Form, Header, Path, Query
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
from porch.web.settings import Secret, Settings, SettingsError
from porch.web.templates import render
from porch.web.websocket import WebSocket, WebSocketDisconnect

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
    "FormData",
    "HTMLResponse",
    "HTTPError",
    "Header",
    "Headers",
    "JSONResponse",
    "MultiDict",
    "MutableHeaders",
    "Path",
    "PlainTextResponse",
    "Query",
    "RedirectResponse",
    "Request",
    "Response",
    "Router",
    "Secret",
    "Settings",
    "SettingsError",
    "StreamingResponse",
    "UploadFile",
    "WebSocket",
    "WebSocketDisconnect",
    "abort",
    "redirect",
    "render",
]

"""The HTTP/1.1 server: ASGI, WSGI and native applications, static files, workers, TLS."""

from porch.server.launch import ConfigError, run
from porch.server.server import Server
from porch.server.settings import Settings

__all__ = ["ConfigError", "Server", "Settings", "run"]

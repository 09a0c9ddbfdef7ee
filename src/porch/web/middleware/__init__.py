"""Middleware: porch's own base class, and the built-in GZip, CORS and TrustedHost."""

from porch.web.middleware.base import CallNext, Middleware
from porch.web.middleware.cors import CORSMiddleware
from porch.web.middleware.gzip import GZipMiddleware
from porch.web.middleware.trustedhost import TrustedHostMiddleware

__all__ = [
    "CORSMiddleware",
    "CallNext",
    "GZipMiddleware",
    "Middleware",
    "TrustedHostMiddleware",
]

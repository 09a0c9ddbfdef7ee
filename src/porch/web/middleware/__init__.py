"""Middleware: porch's own base class, and the built-in GZip, CORS and TrustedHost."""

from porch.web.middleware.base import CallNext, Middleware

__all__ = ["CallNext", "Middleware"]

"""Porch: a fast Python web server and full-stack web framework in one package."""

__version__ = "0.1.0"

__all__ = ["__version__"]

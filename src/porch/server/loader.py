"""Finding the application: `module:attribute`, factories, and which interface it speaks."""

import asyncio
import importlib
import inspect
import sys
import traceback
from typing import Any

from porch.server.adapters import Adapter
from porch.server.settings import Settings


class AppLoadError(Exception):
    """The application could not be loaded; the message is one line for the user."""


def import_from_string(spec: str) -> Any:
    """The object named by `module:attribute` (the attribute may be dotted)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise AppLoadError(f'Application "{spec}" must be given as "module:attribute"')
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name + ".").startswith(exc.name + "."):
            raise AppLoadError(f'Could not import module "{module_name}"') from None
        raise AppLoadError(_import_failure(module_name, exc)) from exc
    except Exception as exc:
        raise AppLoadError(_import_failure(module_name, exc)) from exc
    value: Any = module
    for name in attribute.split("."):
        try:
            value = getattr(value, name)
        except AttributeError:
            raise AppLoadError(
                f'Attribute "{attribute}" not found in module "{module_name}"'
            ) from None
    return value


def _import_failure(module_name: str, exc: BaseException) -> str:
    """One line: what broke the import of `module_name`, and where in the user's code."""
    if isinstance(exc, SyntaxError):
        # The error names the file; its traceback only shows importlib's frames.
        where = f" ({exc.filename}:{exc.lineno})" if exc.filename else ""
        return f'Error importing "{module_name}": SyntaxError: {exc.msg}{where}'
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith("<frozen ")
    ]
    where = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f'Error importing "{module_name}": {type(exc).__name__}: {exc}{where}'


def load_app(settings: Settings) -> Any:
    """Import the application the settings name, calling it first if it is a factory."""
    if settings.app_dir and settings.app_dir not in sys.path:
        sys.path.insert(0, settings.app_dir)
    app = import_from_string(settings.app)
    if settings.factory:
        try:
            app = app()
        except TypeError as exc:
            raise AppLoadError(f'Calling the factory "{settings.app}" failed: {exc}') from exc
    if not callable(app) and not hasattr(app, "__porch_http__"):
        raise AppLoadError(f'"{settings.app}" is not an application (it is not callable)')
    return app


def detect_interface(app: Any) -> str:
    """ "native", "asgi" or "wsgi": what an application object speaks."""
    if hasattr(app, "__porch_http__"):
        return "native"
    if inspect.iscoroutinefunction(app):
        return "asgi"
    call = getattr(app, "__call__", None)  # noqa: B004
    if call is not None and inspect.iscoroutinefunction(call):
        return "asgi"
    try:
        parameters = [
            p
            for p in inspect.signature(app).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        return "wsgi"
    return "asgi" if len(parameters) == 3 else "wsgi"


def _check_callable(app: Any, settings: Settings, arguments: int) -> None:
    """AppLoadError, at startup, for an object that cannot be called as an ASGI (3 arguments) or
    WSGI (2) application: a factory given without --factory would answer 500 to every request."""
    if not callable(app):
        raise AppLoadError(f"{settings.app or 'the application'} is not callable: {app!r}")
    try:
        signature = inspect.signature(app)
    except (TypeError, ValueError):
        return  # a builtin or an extension's object: it will tell for itself
    try:
        signature.bind(*[None] * arguments)
    except TypeError:
        kind = "an ASGI" if arguments == 3 else "a WSGI"
        taken = sum(
            p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            for p in signature.parameters.values()
        )
        hint = (
            "; if it makes the application, add --factory"
            if not settings.factory and taken < 2
            else ""
        )
        raise AppLoadError(
            f"{settings.app or 'the application'} takes {taken} positional argument(s), not "
            f"{arguments} as {kind} application does{hint}"
        ) from None


def make_adapter(app: Any, settings: Settings, loop: asyncio.AbstractEventLoop) -> Adapter:
    """The adapter that serves `app` the way the settings (or its interface) say."""
    interface = settings.interface
    if interface == "auto":
        interface = detect_interface(app)
    if interface in ("asgi", "wsgi"):
        _check_callable(app, settings, 3 if interface == "asgi" else 2)
    if interface == "native":
        from porch.server.native import NativeAdapter

        if not hasattr(app, "__porch_http__"):
            raise AppLoadError("--interface native needs an application with __porch_http__")
        return NativeAdapter(app, loop, settings.lifespan)
    if interface == "asgi":
        from porch.server.asgi import ASGIAdapter

        return ASGIAdapter(app, loop, settings.lifespan)
    from porch.server.wsgi import WSGIAdapter

    return WSGIAdapter(
        app,
        loop,
        settings.threads,
        multiprocess=settings.workers > 1,
        request_buffering=settings.request_buffering,
    )

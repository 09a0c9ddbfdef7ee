"""`run`: serve an application as the settings say, in one process or several."""

import logging
import os
import secrets
from typing import Any

from porch.server.accesslog import configure_logging
from porch.server.server import (
    EXIT_STARTUP_FAILED,
    ConfigError,
    Server,
    bind_metrics_socket,
    bind_socket,
)
from porch.server.settings import Settings, env_name, serve_with
from porch.server.tls import make_ssl_context

logger = logging.getLogger("porch.error")

__all__ = ["EXIT_STARTUP_FAILED", "ConfigError", "run"]


def run(settings: Settings, app: Any = None) -> int:
    """Serve until stopped and return the exit status; `app` overrides `settings.app`.

    Raises ConfigError for settings that cannot work.
    """
    try:
        settings.validate()
        make_ssl_context(settings)  # a bad certificate is a configuration error, found early
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    configure_logging(settings.log_level, settings.log_format)
    # Porch applications read --debug from these when they are made (in this process or a
    # worker's; a reloaded server gets the settings as PORCH_* variables and records its own).
    serve_with(settings)
    if settings.debug:
        _share_debug_token()
    if settings.reload:
        from porch.server.reload import run_with_reload

        return run_with_reload(settings)
    sock = bind_socket(settings)
    metrics_sock = bind_metrics_socket(settings) if settings.metrics_port is not None else None
    if settings.workers > 1 or settings.max_requests is not None:
        from porch.server.workers import Supervisor

        return Supervisor(settings, app, [sock], metrics_sock).run()
    server = Server(settings, app)
    server.exit_deadline = True
    server.metrics_socket = metrics_sock
    return server.run([sock])


def _share_debug_token() -> None:
    """Make the token that opens porch's debug page and print it; the application reads it
    from the environment, in every worker and after every reload."""
    name = env_name("debug_token")
    if os.environ.get(name, "").strip():
        return  # set by the user, or by the `porch run --reload` that started this process
    token = secrets.token_urlsafe(16)
    os.environ[name] = token
    # As Werkzeug's debugger PIN: behind a proxy every client looks local, so the debug page
    # also asks for what only the person at this console can see.
    logger.warning(
        "Debug mode: the debug page opens to local clients with the token %s "
        "(enter it on an error page, or send it in the X-Porch-Debug-Token header)",
        token,
    )

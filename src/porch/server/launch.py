"""`run`: serve an application as the settings say, in one process or several."""

import logging
import os
from typing import Any

from porch.server.accesslog import configure_logging
from porch.server.server import EXIT_STARTUP_FAILED, ConfigError, Server, bind_socket
from porch.server.settings import Settings, env_name
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
    configure_logging(settings.log_level, settings.access_log)
    if settings.debug:
        # Porch applications read it when they are made (in this process or a worker's).
        os.environ[env_name("debug")] = "1"
    if settings.reload:
        from porch.server.reload import run_with_reload

        return run_with_reload(settings)
    sock = bind_socket(settings)
    if settings.workers > 1 or settings.max_requests is not None:
        from porch.server.workers import Supervisor

        return Supervisor(settings, app, [sock]).run()
    server = Server(settings, app)
    server.exit_deadline = True
    return server.run([sock])

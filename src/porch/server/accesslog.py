"""The access log and the logging set-up of `porch run` and `porch serve`."""

import logging
import sys
from time import perf_counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from porch.server.cycle import Cycle

TRACE = 5
LEVELS = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": TRACE,
}


class AccessLog:
    """One line per response: client, request line, status, bytes sent, duration."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("porch.access")

    def log(self, cycle: "Cycle") -> None:
        """Log a completed response."""
        head = cycle.head
        client = head.client
        duration = perf_counter() - cycle.start_time
        self.logger.info(
            '%s - "%s %s HTTP/%s" %d %d %.1fms',
            f"{client[0]}:{client[1]}" if client else "-",
            head.method,
            head.target.decode("latin-1"),
            head.http_version,
            cycle.status,
            cycle.bytes_sent,
            duration * 1000.0,
        )


def configure_logging(level: str = "info", access_log: bool = True) -> None:
    """Send porch's error log to stderr and its access log to stdout."""
    logging.addLevelName(TRACE, "TRACE")
    numeric = LEVELS.get(level, logging.INFO)
    formatter = logging.Formatter(
        "%(asctime)s [%(process)d] %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"
    )
    error_logger = logging.getLogger("porch")
    if not any(getattr(h, "_porch", False) for h in error_logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(formatter)
        handler._porch = True  # type: ignore[attr-defined]
        error_logger.addHandler(handler)
    error_logger.setLevel(numeric)
    error_logger.propagate = False

    access = logging.getLogger("porch.access")
    access.propagate = False
    if not any(getattr(h, "_porch", False) for h in access.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(
            logging.Formatter("%(asctime)s [%(process)d] %(message)s", "%Y-%m-%d %H:%M:%S")
        )
        handler._porch = True  # type: ignore[attr-defined]
        access.addHandler(handler)
    access.setLevel(logging.INFO if access_log else logging.CRITICAL + 1)

"""`--reload`: run the server in a child process and restart it when source files change.

The reloader binds the socket once and hands it to each child (`--fd`), so clients never see the
port closed; each child is a fresh interpreter that imports the code anew. The child gets its
settings as `PORCH_*` variables: the one definition in settings.py serves both sides.
"""

import logging
import os
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from porch.server.server import SHUTDOWN_EXIT_GRACE, banner, bind_socket, describe_socket
from porch.server.settings import Settings

logger = logging.getLogger("porch.error")

WATCHED_SUFFIXES = (".py", ".pyx", ".pyi")


def run_with_reload(settings: Settings) -> int:
    """Serve in a child process, restarting it on changes, until SIGINT, SIGTERM or SIGHUP."""
    import watchfiles

    sock = bind_socket(settings)
    child_settings = replace(settings, reload=False, fd=sock.fileno())
    env = {**os.environ, **child_settings.to_env()}
    command = [sys.executable, "-m", "porch", "run" if settings.app else "serve"]
    directories = [str(Path(d).resolve()) for d in settings.reload_dirs] or [os.getcwd()]
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        logger.info("Shutting down (%s)", signal.Signals(signum).name)
        stop.set()

    # A closed terminal (SIGHUP) stops the reloader too: it is a development tool.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)

    def start() -> "subprocess.Popen[bytes]":
        # In a process group of its own, the server hears a terminal's Ctrl-C only from us,
        # once, as SIGTERM (a second signal would cut its requests).
        return subprocess.Popen(command, env=env, pass_fds=[sock.fileno()], process_group=0)

    url = describe_socket(sock, bool(settings.ssl_certfile))
    logger.info("%s", banner(settings, url, f"reloading on changes in {', '.join(directories)}"))
    child = start()
    reported_exit = False
    try:
        for changes in watchfiles.watch(
            *directories,
            watch_filter=lambda change, path: path.endswith(WATCHED_SUFFIXES),
            stop_event=stop,
            rust_timeout=500,
            yield_on_timeout=True,
            raise_interrupt=False,
        ):
            if not changes:
                if child.poll() is not None and not reported_exit:
                    logger.warning(
                        "The server exited with status %d; waiting for changes", child.returncode
                    )
                    reported_exit = True
                continue
            names = sorted({os.path.relpath(path) for _, path in changes})
            logger.info("Changed: %s; restarting", ", ".join(names[:5]))
            _stop_child(child, settings.timeout_graceful_shutdown)
            child = start()
            reported_exit = False
    finally:
        _stop_child(child, settings.timeout_graceful_shutdown)
        sock.close()
    return 0


def _stop_child(child: "subprocess.Popen[bytes]", timeout: float) -> None:
    if child.poll() is not None:
        return
    child.terminate()
    try:
        # The server ends by itself within this (server.py's exit deadline); this is a backstop.
        child.wait(timeout + SHUTDOWN_EXIT_GRACE + 2.0)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()

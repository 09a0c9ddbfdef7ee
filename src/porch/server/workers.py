"""Pre-forked workers on one listening socket, and the supervisor that keeps them.

The supervisor never imports the application: each worker does, after the fork, so a worker that
is replaced loads the code afresh. Signals to the supervisor:

- SIGTERM / SIGINT: stop every worker gracefully (SIGKILL past the graceful timeout), exit 0.
- SIGHUP: replace the workers one by one; each new worker is serving before its old one stops.
- SIGTTIN / SIGTTOU: one worker more / fewer.
- SIGCHLD: a worker died; it is replaced at once. A worker whose application cannot start exits
  with EXIT_STARTUP_FAILED, and the supervisor stops with that status; workers that keep dying
  before they are ready stop it too.

A worker tells the supervisor it is ready (listening, lifespan started) by writing one byte to a
pipe; it exits by itself if the supervisor disappears.
"""

import errno
import logging
import os
import random
import selectors
import signal
import socket
import time
from dataclasses import replace
from typing import Any

from porch.server.server import EXIT_STARTUP_FAILED, Server, describe_socket
from porch.server.settings import Settings

logger = logging.getLogger("porch.error")

# Workers that die before they are ready this many times in a row stop the supervisor.
MAX_BOOT_FAILURES = 5
# How long a new worker may take to become ready before it is considered failed.
BOOT_TIMEOUT = 60.0
EXIT_WORKERS_FAILING = 1
HANDLED_SIGNALS = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGCHLD,
    signal.SIGTTIN,
    signal.SIGTTOU,
)


class Worker:
    """A worker process as the supervisor sees it."""

    def __init__(self, pid: int, ready_fd: int) -> None:
        self.pid = pid
        self.ready_fd = ready_fd  # the read end of the worker's ready pipe; -1 once ready
        self.ready = False
        self.started = time.monotonic()
        self.retiring = False  # asked to stop; not to be replaced


class Supervisor:
    """Runs `settings.workers` workers serving `app` (or settings.app) on `sockets`."""

    def __init__(self, settings: Settings, app: Any, sockets: list[socket.socket]) -> None:
        self.settings = settings
        self.app = app
        self.sockets = sockets
        self.workers: dict[int, Worker] = {}
        self.target = settings.workers
        self.boot_failures = 0
        self.exit_status: int | None = None
        self._signals: list[int] = []
        self._selector = selectors.DefaultSelector()
        self._wakeup_r, self._wakeup_w = os.pipe()

    # The supervisor's loop.

    def run(self) -> int:
        """Supervise until stopped; the exit status."""
        os.set_blocking(self._wakeup_w, False)
        os.set_blocking(self._wakeup_r, False)
        self._selector.register(self._wakeup_r, selectors.EVENT_READ)
        previous_wakeup = signal.set_wakeup_fd(self._wakeup_w)
        for signum in HANDLED_SIGNALS:
            signal.signal(signum, self._on_signal)
        tls = bool(self.settings.ssl_certfile)
        for sock in self.sockets:
            logger.info(
                "Porch listening on %s (%d workers, supervisor %d)",
                describe_socket(sock, tls),
                self.target,
                os.getpid(),
            )
        try:
            self._spawn_missing()
            while self.exit_status is None:
                self._wait(1.0)
                self._handle_signals()
                self._check_boot_timeouts()
        finally:
            self._stop_all()
            signal.set_wakeup_fd(previous_wakeup)
            for signum in HANDLED_SIGNALS:
                signal.signal(signum, signal.SIG_DFL)
        return self.exit_status

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._signals.append(signum)

    def _wait(self, timeout: float) -> None:
        for key, _ in self._selector.select(timeout):
            fd = key.fd
            if fd == self._wakeup_r:
                try:
                    while os.read(fd, 4096):
                        pass
                except BlockingIOError:
                    pass
                continue
            self._worker_ready(fd)

    def _handle_signals(self) -> None:
        while self._signals:
            signum = self._signals.pop(0)
            if signum == signal.SIGCHLD:
                self._reap()
            elif signum in (signal.SIGTERM, signal.SIGINT):
                logger.info("Shutting down (%s)", signal.Signals(signum).name)
                self.exit_status = 0
                return
            elif signum == signal.SIGHUP:
                logger.info("Reloading: replacing workers one by one")
                self._rolling_restart()
            elif signum == signal.SIGTTIN:
                self.target += 1
                self._spawn_missing()
            elif signum == signal.SIGTTOU and self.target > 1:
                self.target -= 1
                self._retire(self._oldest(1))
        self._reap()  # SIGCHLDs can coalesce; reaping again is cheap

    # Workers.

    def _spawn(self) -> Worker:
        ready_r, ready_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            os.close(ready_r)
            try:
                status = self._worker_main(ready_w)
            except BaseException:
                logger.exception("Worker failed")
                status = 1
            finally:
                logging.shutdown()
            os._exit(status)
        os.close(ready_w)
        worker = Worker(pid, ready_r)
        self.workers[pid] = worker
        self._selector.register(ready_r, selectors.EVENT_READ)
        return worker

    def _worker_main(self, ready_fd: int) -> int:
        for signum in HANDLED_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        self._selector.close()
        os.close(self._wakeup_r)
        os.close(self._wakeup_w)
        settings = self.settings
        if settings.max_requests is not None:
            # Jitter, so that workers do not all restart at once.
            jitter = random.randint(0, settings.max_requests_jitter)
            settings = replace(settings, max_requests=settings.max_requests + jitter)
        server = Server(settings, self.app)
        server.announce = False
        server.parent_pid = os.getppid()

        def ready() -> None:
            logger.info("Worker %d serving", os.getpid())
            os.write(ready_fd, b"1")
            os.close(ready_fd)

        server.on_ready = ready
        return server.run(self.sockets)

    def _worker_ready(self, fd: int) -> None:
        self._selector.unregister(fd)
        try:
            data = os.read(fd, 1)
        except OSError:
            data = b""
        os.close(fd)
        for worker in self.workers.values():
            if worker.ready_fd == fd:
                worker.ready_fd = -1
                worker.ready = bool(data)
                if worker.ready:
                    self.boot_failures = 0
                return

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = self.workers.pop(pid, None)
            if worker is None:
                continue
            if worker.ready_fd >= 0:
                self._selector.unregister(worker.ready_fd)
                os.close(worker.ready_fd)
            code = os.waitstatus_to_exitcode(status)
            if worker.retiring:
                continue
            if not worker.ready:
                if code == EXIT_STARTUP_FAILED:
                    logger.error("The application failed to start; stopping")
                    self.exit_status = EXIT_STARTUP_FAILED
                    return
                self.boot_failures += 1
                if self.boot_failures >= MAX_BOOT_FAILURES:
                    logger.error(
                        "Workers keep failing at start (%d in a row); stopping",
                        self.boot_failures,
                    )
                    self.exit_status = EXIT_WORKERS_FAILING
                    return
            if code == 0:
                logger.info("Worker %d exited; starting another", pid)
            else:
                how = f"signal {-code}" if code < 0 else f"status {code}"
                logger.warning("Worker %d died (%s); starting another", pid, how)
            if self.exit_status is None:
                self._spawn_missing()

    def _spawn_missing(self) -> None:
        active = [w for w in self.workers.values() if not w.retiring]
        for _ in range(self.target - len(active)):
            self._spawn()

    def _oldest(self, count: int) -> list[Worker]:
        active = sorted(
            (w for w in self.workers.values() if not w.retiring), key=lambda w: w.started
        )
        return active[:count]

    def _retire(self, workers: list[Worker]) -> None:
        for worker in workers:
            worker.retiring = True
            _kill(worker.pid, signal.SIGTERM)

    def _stop_requested(self) -> bool:
        return self.exit_status is not None or any(
            s in (signal.SIGTERM, signal.SIGINT) for s in self._signals
        )

    def _rolling_restart(self) -> None:
        for old in self._oldest(len(self.workers)):
            if self._stop_requested():
                return
            new = self._spawn()
            if not self._wait_ready(new):
                if not self._stop_requested():
                    logger.error("A new worker did not start; keeping the old ones")
                return
            self._retire([old])

    def _wait_ready(self, worker: Worker) -> bool:
        deadline = time.monotonic() + BOOT_TIMEOUT
        while not worker.ready and time.monotonic() < deadline:
            if worker.pid not in self.workers:
                return False
            self._wait(0.5)
            self._handle_pending_children()
            if self._stop_requested():
                return False
        return worker.ready

    def _handle_pending_children(self) -> None:
        # During a rolling restart only deaths are handled; other signals wait their turn.
        if signal.SIGCHLD in self._signals:
            self._signals = [s for s in self._signals if s != signal.SIGCHLD]
            self._reap()

    def _check_boot_timeouts(self) -> None:
        now = time.monotonic()
        for worker in list(self.workers.values()):
            if not worker.ready and not worker.retiring and now - worker.started > BOOT_TIMEOUT:
                logger.error("Worker %d did not start within %ds", worker.pid, BOOT_TIMEOUT)
                _kill(worker.pid, signal.SIGKILL)

    def _stop_all(self) -> None:
        for worker in self.workers.values():
            worker.retiring = True
            _kill(worker.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.timeout_graceful_shutdown + 5.0
        while self.workers and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.05)
        for worker in list(self.workers.values()):
            logger.warning("Worker %d did not stop in time; killing it", worker.pid)
            _kill(worker.pid, signal.SIGKILL)
        while self.workers:
            try:
                pid, _ = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            self.workers.pop(pid, None)


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except OSError as exc:
        if exc.errno != errno.ESRCH:
            raise

"""Pre-forked workers on one listening socket, and the supervisor that keeps them.

The supervisor never imports the application: each worker does, after the fork, so a worker that
is replaced loads the code afresh. Signals to the supervisor:

- SIGTERM / SIGINT: stop every worker gracefully (SIGKILL past the graceful timeout), exit 0;
  the same signal again makes them close their connections at once (SIGQUIT to each).
- SIGHUP: replace the workers one by one; each new worker is serving before an old one stops.
- SIGTTIN / SIGTTOU: one worker more / fewer (never fewer than one).
- SIGCHLD: a worker died; it is replaced at once.

A worker that cannot start (it exits before it is ready) stops the supervisor: with the
worker's EXIT_STARTUP_FAILED when the application failed to load or start, or with
EXIT_WORKERS_FAILING after MAX_BOOT_FAILURES other failures in a row. During a SIGHUP reload the
same failure only abandons the reload: the workers running the previous code go on serving.

The supervisor's loop keeps one invariant, restored after every event by `_maintain`: `target`
workers are running (not retiring); during a reload, at most one new worker is starting, and an
old one retires each time a new one is ready.

A worker tells the supervisor it is ready (listening, lifespan started) by writing one byte to a
pipe; it exits by itself if the supervisor disappears. Workers ignore the signals meant for the
supervisor alone (SIGINT, SIGHUP, SIGTTIN, SIGTTOU), so that a signal to the whole process group
(Ctrl-C in a terminal, a closed terminal) is handled once, by the supervisor.
"""

import contextlib
import errno
import logging
import os
import random
import selectors
import shutil
import signal
import socket
import tempfile
import time
from collections import deque
from dataclasses import replace
from typing import Any

from porch.server.metrics import RESTART_REASONS, archive_worker, write_supervisor
from porch.server.server import (
    EXIT_STARTUP_FAILED,
    SHUTDOWN_EXIT_GRACE,
    Server,
    banner,
    describe_socket,
    metrics_detail,
)
from porch.server.settings import Settings

logger = logging.getLogger("porch.error")

# Workers that die before they are ready this many times in a row stop the supervisor.
MAX_BOOT_FAILURES = 5
# How long a new worker may take to become ready before it is considered failed.
BOOT_TIMEOUT = 60.0
EXIT_WORKERS_FAILING = 1
# Workers ignore these until their server listens (SIGUSR1: then each reopens its log file).
SUPERVISOR_SIGNALS = (
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGTTIN,
    signal.SIGTTOU,
    signal.SIGUSR1,
)
HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGCHLD, *SUPERVISOR_SIGNALS)


class Worker:
    """A worker process as the supervisor sees it."""

    def __init__(self, pid: int, ready_fd: int, generation: int) -> None:
        self.pid = pid
        self.ready_fd = ready_fd  # the read end of the worker's ready pipe; -1 once read
        self.ready = False
        self.started = time.monotonic()
        self.generation = generation  # bumped by SIGHUP: older generations are replaced
        self.retiring = False  # asked to stop; not to be replaced


class Supervisor:
    """Runs `settings.workers` workers serving `app` (or settings.app) on `sockets`."""

    def __init__(
        self,
        settings: Settings,
        app: Any,
        sockets: list[socket.socket],
        metrics_socket: socket.socket | None = None,
    ) -> None:
        self.settings = settings
        self.app = app
        self.sockets = sockets
        self.metrics_socket = metrics_socket  # --metrics-port, answered by every worker
        # Where the workers' figures meet (porch.server.metrics), and the supervisor's own.
        self.metrics_directory: str | None = None
        self.restarts = dict.fromkeys(RESTART_REASONS, 0)
        self._metrics_written: tuple[int, ...] = ()
        self.workers: dict[int, Worker] = {}
        self.target = settings.workers
        self.generation = 0
        self.boot_failures = 0
        self.exit_status: int | None = None
        self._signals: deque[int] = deque()
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
        if self.metrics_socket is not None:
            self.metrics_directory = tempfile.mkdtemp(prefix=f"porch-metrics-{os.getpid()}-")
        for sock in self.sockets:
            workers = f"{self.target} worker{'' if self.target == 1 else 's'}"
            supervisor = f"supervisor {os.getpid()}"
            metrics = metrics_detail(self.metrics_socket)
            url = describe_socket(sock, tls)
            logger.info("%s", banner(self.settings, url, workers, supervisor, metrics))
        try:
            while True:
                self._maintain()
                if self.exit_status is not None:
                    break
                self._write_metrics()
                self._wait(1.0)
                self._handle_signals()
                self._reap()
                self._check_boot_timeouts()
        finally:
            self._stop_all()
            signal.set_wakeup_fd(previous_wakeup)
            for signum in HANDLED_SIGNALS:
                signal.signal(signum, signal.SIG_DFL)
            if self.metrics_directory is not None:
                shutil.rmtree(self.metrics_directory, ignore_errors=True)
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
            self._read_ready(fd)

    def _handle_signals(self) -> None:
        while self._signals and self.exit_status is None:
            signum = self._signals.popleft()
            if signum in (signal.SIGTERM, signal.SIGINT):
                logger.info("Shutting down (%s)", signal.Signals(signum).name)
                self.exit_status = 0
            elif signum == signal.SIGHUP:
                logger.info("Reloading: replacing the workers one by one")
                self.generation += 1
            elif signum == signal.SIGTTIN:
                self.target += 1
                logger.info("One worker more: %d", self.target)
            elif signum == signal.SIGTTOU and self.target > 1:
                self.target -= 1
                logger.info("One worker fewer: %d", self.target)
            elif signum == signal.SIGTTOU:
                logger.info("SIGTTOU: keeping the last worker")
            elif signum == signal.SIGUSR1:
                # logrotate signals the supervisor: each worker reopens its own log file.
                for pid in self.workers:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGUSR1)
            # SIGCHLD only wakes the loop: every turn reaps.

    def _maintain(self) -> None:
        """Start, or retire, workers until the invariant (module docstring) holds."""
        if self.exit_status is not None:
            return
        running = sorted(
            (w for w in self.workers.values() if not w.retiring), key=lambda w: w.started
        )
        for _ in range(self.target - len(running)):
            self._spawn()  # healing (or growing): the new worker runs the current code
        if len(running) < self.target:
            return
        if any(not w.ready for w in running):
            return  # one step at a time: wait until the starting worker serves
        old = [w for w in running if w.generation < self.generation]
        excess = len(running) - self.target
        if excess > 0:
            # A new worker is ready (or SIGTTOU): the oldest code goes first, then the oldest.
            current = [w for w in running if w.generation == self.generation]
            for worker in (old + current)[:excess]:
                if worker in old:
                    self.restarts["reloaded"] += 1
                self._retire(worker, "replaced" if worker in old else "fewer workers")
            old = [w for w in old if not w.retiring]
        if old:
            self._spawn()  # the next step of a reload: its old worker retires once it serves

    # Workers.

    def _spawn(self) -> Worker:
        ready_r, ready_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            status = 1
            try:
                os.close(ready_r)
                status = self._worker_main(ready_w)
            except BaseException:
                logger.exception("Worker failed")
            finally:
                logging.shutdown()
                os._exit(status)
        os.close(ready_w)
        worker = Worker(pid, ready_r, self.generation)
        self.workers[pid] = worker
        self._selector.register(ready_r, selectors.EVENT_READ)
        return worker

    def _worker_main(self, ready_fd: int) -> int:
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGTERM, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        for signum in SUPERVISOR_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        # The supervisor's descriptors are not the worker's business.
        self._selector.close()
        os.close(self._wakeup_r)
        os.close(self._wakeup_w)
        for other in self.workers.values():
            if other.ready_fd >= 0:
                os.close(other.ready_fd)
        settings = self.settings
        if settings.max_requests is not None:
            # Jitter, so that workers do not all restart at once.
            jitter = random.randint(0, settings.max_requests_jitter)
            settings = replace(settings, max_requests=settings.max_requests + jitter)
        server = Server(settings, self.app)
        server.announce = False
        server.parent_pid = os.getppid()
        server.stop_signals = (signal.SIGTERM,)
        server.force_signals = (signal.SIGQUIT,)
        server.repeat_forces = False
        server.exit_deadline = True
        server.metrics_socket = self.metrics_socket
        server.metrics_directory = self.metrics_directory

        def ready() -> None:
            logger.info("Worker %d serving", os.getpid())
            os.write(ready_fd, b"1")
            os.close(ready_fd)

        server.on_ready = ready
        return server.run(self.sockets)

    def _read_ready(self, fd: int) -> None:
        """Read a worker's ready pipe: one byte when it serves, EOF if it died first."""
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
                # It may have become ready just before it died: the pipe still says so.
                self._read_ready(worker.ready_fd)
            code = os.waitstatus_to_exitcode(status)
            if self.metrics_directory is not None:
                archive_worker(self.metrics_directory, pid)  # its requests stay counted
            if worker.retiring or self.exit_status is not None:
                continue
            self.restarts["died" if code else "exited"] += 1
            if not worker.ready:
                self._boot_failed(worker, code)
            elif code == 0:
                logger.info("Worker %d exited; starting another", pid)
            else:
                how = f"signal {-code}" if code < 0 else f"status {code}"
                logger.warning("Worker %d died (%s); starting another", pid, how)

    def _boot_failed(self, worker: Worker, code: int) -> None:
        """A worker died before it was ready: give up the reload, or stop."""
        how = f"signal {-code}" if code < 0 else f"status {code}"
        reloading = any(
            w.generation < worker.generation and not w.retiring for w in self.workers.values()
        )
        if reloading:
            logger.error(
                "Reload abandoned: a new worker could not start (%s); the others go on serving",
                how,
            )
            for other in self.workers.values():
                other.generation = self.generation
            return
        if code == EXIT_STARTUP_FAILED:
            logger.error("The application failed to start; stopping")
            self.exit_status = EXIT_STARTUP_FAILED
            return
        self.boot_failures += 1
        logger.warning("Worker %d died before it was ready (%s)", worker.pid, how)
        if self.boot_failures >= MAX_BOOT_FAILURES:
            logger.error(
                "Workers keep failing at start (%d in a row); stopping", self.boot_failures
            )
            self.exit_status = EXIT_WORKERS_FAILING

    def _write_metrics(self) -> None:
        """Write the supervisor's figures for /metrics, when they changed."""
        if self.metrics_directory is None:
            return
        serving = sum(1 for w in self.workers.values() if w.ready and not w.retiring)
        figures = (serving, *self.restarts.values())
        if figures != self._metrics_written:
            self._metrics_written = figures
            write_supervisor(self.metrics_directory, serving, self.restarts)

    def _retire(self, worker: Worker, why: str) -> None:
        logger.info("Stopping worker %d (%s)", worker.pid, why)
        worker.retiring = True
        _kill(worker.pid, signal.SIGTERM)

    def _check_boot_timeouts(self) -> None:
        now = time.monotonic()
        for worker in list(self.workers.values()):
            if not worker.ready and not worker.retiring and now - worker.started > BOOT_TIMEOUT:
                logger.error("Worker %d did not start within %ds", worker.pid, BOOT_TIMEOUT)
                _kill(worker.pid, signal.SIGKILL)

    def _stop_all(self) -> None:
        # Stop listening here first: once the workers close their copies, connecting is
        # refused rather than left waiting in the queue of a socket nobody accepts on.
        for sock in self.sockets:
            sock.close()
        if self.metrics_socket is not None:
            self.metrics_socket.close()
        for worker in self.workers.values():
            worker.retiring = True
            _kill(worker.pid, signal.SIGTERM)
        # Workers stop themselves by then (server.py's exit deadline); this is the backstop.
        deadline = time.monotonic() + self.settings.timeout_graceful_shutdown
        deadline += SHUTDOWN_EXIT_GRACE + 2.0
        forced = False
        while self.workers and time.monotonic() < deadline:
            self._reap()
            if not forced and any(s in (signal.SIGINT, signal.SIGTERM) for s in self._signals):
                # Asked again (a second Ctrl-C): the workers close their connections now.
                logger.warning("Asked again: stopping the workers now")
                forced = True
                for worker in self.workers.values():
                    _kill(worker.pid, signal.SIGQUIT)
            if self.workers:
                self._wait(0.05)
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

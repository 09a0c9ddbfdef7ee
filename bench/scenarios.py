"""What the benchmark measures: each scenario is a small declarative entry.

A scenario names the application (a module in bench/apps/) or the files it serves, the servers
that run it side by side with their command lines, the request wrk sends, and the target Porch
must reach against a named peer. Command lines are templates; the runner fills in:

    {host}     127.0.0.1, where every server listens
    {bin}      the directory of this Python's scripts (the virtual environment's bin/)
    {python}   this Python interpreter
    {port}     a free port, chosen at run time
    {apps}     bench/apps/, also the working directory of every server
    {root}     a temporary directory holding the scenario's `files`
    {workdir}  a temporary directory of the server's own (configuration, pid file, logs)

To add a scenario, append a `Scenario` to SCENARIOS (and its application to bench/apps/).
"""

import random
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.nginx import write_nginx_conf

APPS = Path(__file__).parent / "apps"
HELLO = b"Hello, world!"
HOST = "127.0.0.1"
# Threads for gunicorn's gthread worker: the size of porch's own WSGI pool (porch run --threads,
# default 10), so that both servers run Flask on the same number of threads.
GUNICORN_THREADS = 10

Prepare = Callable[[Path, Mapping[str, str]], None]


@dataclass(frozen=True)
class Server:
    """One server in a scenario: its label and the command line that starts it (one worker)."""

    label: str
    # Split like a shell line, then each word filled in (so {root} may hold spaces).
    command: str
    # Writes the files the command needs (say, a configuration) into {workdir} before it starts.
    prepare: Prepare | None = None
    note: str = ""

    @property
    def command_words(self) -> list[str]:
        """The command line as words, placeholders not yet filled in."""
        return shlex.split(self.command)

    def argv(self, values: Mapping[str, str]) -> list[str]:
        """The command line with its placeholders filled in."""
        return [word.format_map(values) for word in self.command_words]


@dataclass(frozen=True)
class Target:
    """`subject` must serve at least `ratio` times the requests per second of `reference`."""

    subject: str
    reference: str
    ratio: float

    def describe(self) -> str:
        """The target as a sentence fragment: porch >= 1.2x uvicorn."""
        return f"{self.subject} >= {self.ratio:g}x {self.reference}"


@dataclass(frozen=True)
class Scenario:
    """A request, the servers that answer it, and the target between two of them."""

    name: str
    title: str
    servers: tuple[Server, ...]
    target: Target
    body: bytes
    path: str = "/"
    # Files written into {root} (name -> content) before the servers start.
    files: Mapping[str, bytes] = field(default_factory=dict)
    connections: int = 64
    note: str = ""

    def server(self, label: str) -> Server:
        """The server with this label."""
        for server in self.servers:
            if server.label == label:
                return server
        raise KeyError(label)


def text_file(size: int) -> bytes:
    """`size` bytes of HTML-looking text, the same on every run."""
    line = b"<p>Porch serves this paragraph as part of a static page benchmark.</p>\n"
    return (line * (size // len(line) + 1))[:size]


def binary_file(size: int) -> bytes:
    """`size` bytes of incompressible data, the same on every run."""
    return random.Random(size).randbytes(size)


def porch_run(app: str) -> Server:
    """`porch run` of an application in bench/apps/."""
    return Server(
        "porch", f"{{bin}}/porch run {app} --host {{host}} --port {{port}} --no-access-log"
    )


def granian(interface: str, app: str, label: str) -> Server:
    """granian with one worker and its own defaults otherwise."""
    command = (
        f"{{bin}}/granian --interface {interface} --host {{host}} --port {{port}} --workers 1 "
        f"--no-access-log {app}"
    )
    return Server(label, command)


STATIC_SERVERS = (
    Server("porch", "{bin}/porch serve {root} --host {host} --port {port} --no-access-log"),
    Server(
        "http.server",
        "{python} quiet_http_server.py {host} {port} {root}",
        note="the standard library's ThreadingHTTPServer and SimpleHTTPRequestHandler, as "
        "`python -m http.server` runs them, with the request log line silenced "
        "(bench/apps/quiet_http_server.py); it answers HTTP/1.0 and closes every connection, "
        "so wrk opens a new one per request; its listen backlog is socketserver's 5, so some of "
        "those connections wait for a SYN retry (hence its p99 latency)",
    ),
    Server(
        "nginx",
        "nginx -e {workdir}/error.log -c {workdir}/nginx.conf -p {workdir} -g 'daemon off;'",
        prepare=write_nginx_conf,
        note="the configuration that bench/nginx.py writes: worker_processes 1, sendfile on, "
        "tcp_nopush on, access_log off, keepalive_requests raised to 1000000 (its default, "
        "1000, closes busy connections)",
    ),
)

SMALL_FILE = text_file(3 * 1024)
LARGE_FILE = binary_file(1024 * 1024)

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="asgi-plaintext",
        title='Raw ASGI: "Hello, world!" as text/plain',
        servers=(
            porch_run("asgiapp:app"),
            Server(
                "uvicorn",
                "{bin}/uvicorn asgiapp:app --host {host} --port {port} --http httptools "
                "--loop uvloop --no-access-log",
                note="httptools and uvloop",
            ),
            granian("asgi", "asgiapp:app", "granian"),
            granian("rsgi", "rsgiapp:app", "granian rsgi"),
        ),
        target=Target("porch", "uvicorn", 1.2),
        body=HELLO,
        note="The same bare ASGI callable (bench/apps/asgiapp.py) on each server; `granian rsgi` "
        "runs the same answer written for granian's own RSGI interface (bench/apps/rsgiapp.py).",
    ),
    Scenario(
        name="flask",
        title='Flask on WSGI: one route returning "Hello, world!"',
        servers=(
            porch_run("flaskapp:app"),
            Server(
                "gunicorn gthread",
                f"{{bin}}/gunicorn -k gthread -w 1 --threads {GUNICORN_THREADS} "
                "-b {host}:{port} flaskapp:app",
                note=f"{GUNICORN_THREADS} threads, the size of porch's WSGI pool "
                "(gunicorn's default is 1); its access log is off by default",
            ),
            Server(
                "gunicorn sync",
                "{bin}/gunicorn -k sync -w 1 -b {host}:{port} flaskapp:app",
                note="no keep-alive: it closes every connection",
            ),
            granian("wsgi", "flaskapp:app", "granian"),
        ),
        target=Target("porch", "gunicorn gthread", 2.0),
        body=HELLO,
        note="The Flask application bench/apps/flaskapp.py; porch detects WSGI by itself.",
    ),
    Scenario(
        name="static-3k",
        title="Static file, 3 KB",
        servers=STATIC_SERVERS,
        target=Target("porch", "http.server", 10.0),
        body=SMALL_FILE,
        path="/small.html",
        files={"small.html": SMALL_FILE},
    ),
    Scenario(
        name="static-1m",
        title="Static file, 1 MB",
        servers=STATIC_SERVERS,
        target=Target("porch", "nginx", 0.9),
        body=LARGE_FILE,
        path="/large.bin",
        files={"large.bin": LARGE_FILE},
        connections=16,
        note="16 connections rather than 64: each answer is a megabyte, so 16 downloads at once "
        "already keep the server's core busy, and 64 would mostly queue 48 MB more in socket "
        "buffers and measure that queue's latency.",
    ),
)

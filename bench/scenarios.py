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
    {database} the database scenarios' PostgreSQL, as `user@host:port/name` (bench/database.py)

A server's `env` (variables added to its environment) is filled in the same way.

To add a scenario, append a `Scenario` to SCENARIOS (and its application to bench/apps/).

Scenarios come in four groups, each with its section and chart in docs/benchmarks.md: the
server (`porch run` and `porch serve` against other servers, the same application on each), the
framework (`porch.App` on `porch run` against other Python frameworks on their usual servers, the
same application written once per framework in bench/apps/frameworks/), and the database
(TechEmpower's database tests on a PostgreSQL the harness starts: porch.db against other
frameworks' ORMs, and against raw asyncpg), and the access log (what each server's default
request log costs: porch with its own, and without it).
"""

import dataclasses
import random
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.answers import Exact, Expected, HTMLPage, JSONValue, WorldRows
from bench.apps.frameworks.common import (
    BAD_ORDERS,
    BAD_QUERIES,
    CLIENT,
    CLIENT_HEADER,
    MESSAGE,
    ORDER,
    ORDERS_PATH,
    ROUTE_ANSWER,
    ROUTE_PATH,
    SEARCH_ANSWER,
    SEARCH_QUERY,
    TEAMS,
)
from bench.apps.frameworks.techempower import ADDITIONAL_FORTUNE, FORTUNES, POOL_SIZE, QUERIES
from bench.database import DatabaseCheck, FortunesKept, StoredRows
from bench.nginx import write_logged_nginx_conf, write_nginx_conf
from bench.request import Request, json_request

APPS = Path(__file__).parent / "apps"
HELLO = b"Hello, world!"
# The docs' sections and charts, in this order.
GROUPS = {
    "server": "The server: porch run and porch serve side by side with other servers",
    "framework": "The framework: porch.App side by side with other Python frameworks",
    "database": "The database: porch.db side by side with other Python ORMs, on PostgreSQL",
    "logging": "The access log: each server with its request log on, as it runs by default",
    "connections": "Many connections: throughput and fairness at 1,000 and 5,000 clients",
}
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
    # Variables added to its environment, filled in like the command line.
    env: Mapping[str, str] = field(default_factory=dict)
    # wrk's connections for this server, when not the scenario's (the many-connections
    # scenarios measure porch at 64 too, as the figure to hold).
    connections: int | None = None

    @property
    def command_words(self) -> list[str]:
        """The command line as words, placeholders not yet filled in."""
        return shlex.split(self.command)

    def argv(self, values: Mapping[str, str]) -> list[str]:
        """The command line with its placeholders filled in."""
        return [word.format_map(values) for word in self.command_words]

    def environment(self, values: Mapping[str, str]) -> dict[str, str]:
        """The variables added to its environment, placeholders filled in."""
        return {name: value.format_map(values) for name, value in self.env.items()}


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
    """A request, the servers that answer it, and what Porch must reach among them."""

    name: str
    title: str
    servers: tuple[Server, ...]
    # None: no ratio to reach (the ratios are then to `baseline`).
    target: Target | None
    expect: Expected
    # The request that is checked and measured: path (and query string), method, headers, body.
    path: str = "/"
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    # Invalid requests each server must refuse (400 or 422) before it is measured.
    refused: tuple[Request, ...] = ()
    # Files written into {root} (name -> content) before the servers start.
    files: Mapping[str, bytes] = field(default_factory=dict)
    connections: int = 64
    note: str = ""
    # The servers `subject` must beat too, each of them (the framework scenarios: every peer).
    ahead_of: tuple[str, ...] = ()
    subject: str = "porch"
    # The server the ratios are to, when there is no target.
    baseline: str = ""
    group: str = "server"
    # Servers whose ratio to `subject` is reported, with no target (the database scenarios: raw
    # asyncpg).
    compared_with: tuple[str, ...] = ()
    # Needs the harness's PostgreSQL; what it holds is checked around the request too.
    database_check: DatabaseCheck | None = None

    @property
    def request(self) -> Request:
        """The request that is checked and measured, as the answer check and wrk send it."""
        return Request(self.method, self.path, self.headers, self.body)

    @property
    def reference(self) -> str:
        """The server that every ratio in the tables is to."""
        return self.target.reference if self.target is not None else self.baseline

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


def porch_run(app: str, note: str = "") -> Server:
    """`porch run` of an application in bench/apps/."""
    return Server(
        "porch",
        f"{{bin}}/porch run {app} --host {{host}} --port {{port}} --no-access-log",
        note=note,
    )


def granian(interface: str, app: str, label: str) -> Server:
    """granian with one worker and its own defaults otherwise."""
    command = (
        f"{{bin}}/granian --interface {interface} --host {{host}} --port {{port}} --workers 1 "
        f"--no-access-log {app}"
    )
    return Server(label, command)


def uvicorn(app: str, label: str, note: str = "httptools and uvloop") -> Server:
    """uvicorn with httptools and uvloop, one worker, no access log."""
    command = (
        f"{{bin}}/uvicorn {app} --host {{host}} --port {{port}} --http httptools --loop uvloop "
        "--no-access-log"
    )
    return Server(label, command, note=note)


def gunicorn_gthread(
    app: str, label: str, note: str = "", threads: int = GUNICORN_THREADS
) -> Server:
    """gunicorn's threaded worker, one process with as many threads as porch's WSGI pool."""
    command = f"{{bin}}/gunicorn -k gthread -w 1 --threads {threads} -b {{host}}:{{port}} {app}"
    return Server(label, command, note=note)


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

SERVER_SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="asgi-plaintext",
        title='Raw ASGI: "Hello, world!" as text/plain',
        servers=(
            porch_run("asgiapp:app"),
            uvicorn("asgiapp:app", "uvicorn"),
            granian("asgi", "asgiapp:app", "granian"),
            granian("rsgi", "rsgiapp:app", "granian rsgi"),
        ),
        target=Target("porch", "uvicorn", 1.2),
        expect=Exact(HELLO),
        note="The same bare ASGI callable (bench/apps/asgiapp.py) on each server; `granian rsgi` "
        "runs the same answer written for granian's own RSGI interface (bench/apps/rsgiapp.py).",
    ),
    Scenario(
        name="flask",
        title='Flask on WSGI: one route returning "Hello, world!"',
        servers=(
            porch_run("flaskapp:app"),
            gunicorn_gthread(
                "flaskapp:app",
                "gunicorn gthread",
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
        expect=Exact(HELLO),
        note="The Flask application bench/apps/flaskapp.py; porch detects WSGI by itself.",
    ),
    Scenario(
        name="static-3k",
        title="Static file, 3 KB",
        servers=STATIC_SERVERS,
        target=Target("porch", "http.server", 10.0),
        expect=Exact(SMALL_FILE),
        path="/small.html",
        files={"small.html": SMALL_FILE},
    ),
    Scenario(
        name="static-1m",
        title="Static file, 1 MB",
        servers=STATIC_SERVERS,
        target=Target("porch", "nginx", 0.9),
        expect=Exact(LARGE_FILE),
        path="/large.bin",
        files={"large.bin": LARGE_FILE},
        connections=16,
        note="16 connections rather than 64: each answer is a megabyte, so 16 downloads at once "
        "already keep the server's core busy, and 64 would mostly queue 48 MB more in socket "
        "buffers and measure that queue's latency.",
    ),
)

FRAMEWORK_SERVERS = (
    porch_run(
        "frameworks.porch_app:app",
        note="porch.App with async handlers, on porch's own server (its native path, no ASGI)",
    ),
    uvicorn("frameworks.starlette_app:app", "starlette", "on uvicorn (httptools, uvloop)"),
    uvicorn("frameworks.fastapi_app:app", "fastapi", "on uvicorn (httptools, uvloop)"),
    uvicorn("frameworks.litestar_app:app", "litestar", "on uvicorn (httptools, uvloop)"),
    uvicorn("frameworks.blacksheep_app:app", "blacksheep", "on uvicorn (httptools, uvloop)"),
    Server(
        "sanic",
        "{bin}/sanic frameworks.sanic_app:app --host {host} --port {port} --single-process "
        "--no-access-logs --no-motd",
        note="on Sanic's own server, as Sanic is deployed: one process (--single-process); "
        "its server picks uvloop by itself",
    ),
    uvicorn(
        "frameworks.falcon_app:app", "falcon", "falcon.asgi.App on uvicorn (httptools, uvloop)"
    ),
    gunicorn_gthread(
        "frameworks.flask_app:app",
        "flask",
        note=f"on gunicorn's gthread worker: 1 process, {GUNICORN_THREADS} threads (the size of "
        "porch's WSGI pool), plain (sync) views, as Flask runs in production",
    ),
    gunicorn_gthread(
        "frameworks.django_app:application",
        "django",
        note=f"on gunicorn's gthread worker: 1 process, {GUNICORN_THREADS} threads, sync views; "
        "configured in the module with no middleware, no database and its Jinja2 template "
        "backend",
    ),
)
# Every framework porch must beat, in every framework scenario.
FRAMEWORK_PEERS = tuple(server.label for server in FRAMEWORK_SERVERS if server.label != "porch")
FRAMEWORK_NOTE = (
    "One application per framework (bench/apps/frameworks/), each serving all four framework "
    "scenarios from the same 100 routes, written as that framework's documentation shows, with "
    "async handlers where it has them; answers are checked for their meaning (status, content "
    "type, JSON value or table rows), not their spacing."
)


def framework_scenario(
    name: str,
    title: str,
    *,
    target: Target | None,
    expect: Expected,
    path: str = "/",
    note: str = "",
    servers: tuple[Server, ...] = FRAMEWORK_SERVERS,
    baseline: str = "",
) -> Scenario:
    """A framework scenario: porch.App and every peer, porch ahead of each of them."""
    return Scenario(
        name=name,
        title=title,
        servers=servers,
        target=target,
        expect=expect,
        path=path,
        note=f"{note} {FRAMEWORK_NOTE}".strip(),
        ahead_of=FRAMEWORK_PEERS,
        baseline=baseline,
        group="framework",
    )


FRAMEWORK_SCENARIOS: tuple[Scenario, ...] = (
    framework_scenario(
        "fw-plaintext",
        'Framework, plaintext: "Hello, world!" as text/plain',
        servers=(*FRAMEWORK_SERVERS, granian("rsgi", "rsgiapp:app", "granian rsgi")),
        target=Target("porch", "granian rsgi", 1.0),
        expect=Exact(HELLO, "text/plain"),
        note="`granian rsgi` is no framework but the target's reference: a bare callable written "
        "for granian's own RSGI interface (bench/apps/rsgiapp.py), granian's fastest hello.",
    ),
    framework_scenario(
        "fw-json",
        'Framework, JSON: {"message": "Hello, world!"}',
        target=Target("porch", "starlette", 2.5),
        expect=JSONValue(MESSAGE),
        path="/json",
    ),
    framework_scenario(
        "fw-route",
        "Framework, a two-parameter route, the last of 100",
        target=Target("porch", "starlette", 2.5),
        expect=JSONValue(ROUTE_ANSWER),
        path=ROUTE_PATH,
        note="The route `/users/<int:user_id>/posts/<slug:post>` answers JSON built from both "
        "parameters; 99 routes of varied shapes, static and dynamic, were added before it "
        "(bench/apps/frameworks/common.py). `post` uses the framework's slug converter where it "
        "has one (porch, Sanic, Django), its one-segment string otherwise.",
    ),
    framework_scenario(
        "fw-template",
        "Framework, a Jinja2 page of 12 rows",
        target=None,
        baseline="starlette",
        expect=HTMLPage(
            fragments=(
                "<title>Teams · Porch bench club</title>",
                "<h1>Our 12 teams</h1>",
                "<tr><th>Team</th><th>Level</th></tr>",
            ),
            rows=tuple((team.name, team.level) for team in TEAMS),
        ),
        path="/teams",
        note="The same two template files (bench/apps/frameworks/templates/: teams.html "
        "extends base.html) rendered with autoescaping by each framework's own Jinja2 "
        "integration (Starlette's and FastAPI's Jinja2Templates, Litestar's JinjaTemplateEngine, "
        "BlackSheep's view(), Flask's render_template, Django's Jinja2 backend); Sanic and Falcon "
        "have none, so they use a plain jinja2.Environment. Three team names hold `&`, `<>` and "
        "`'`, which must come out escaped.",
    ),
)

# The typed scenarios: the frameworks that validate typed parameters and bodies themselves.
TYPED_SERVERS = (
    porch_run(
        "frameworks.porch_typed:app",
        note="porch.App, typed handlers validated by msgspec, on porch's own server",
    ),
    uvicorn(
        "frameworks.fastapi_typed:app", "fastapi", "pydantic models, on uvicorn (httptools, uvloop)"
    ),
    uvicorn(
        "frameworks.litestar_typed:app",
        "litestar",
        "msgspec structs, on uvicorn (httptools, uvloop)",
    ),
    uvicorn(
        "frameworks.blacksheep_typed:app",
        "blacksheep",
        "dataclasses bound by FromJSON, FromQuery and FromHeader; its binder converts types but "
        "checks no constraint, so __post_init__ and the handler check them; on uvicorn "
        "(httptools, uvloop)",
    ),
)
TYPED_PEERS = tuple(server.label for server in TYPED_SERVERS if server.label != "porch")
TYPED_NOTE = (
    "One typed application per framework (bench/apps/frameworks/*_typed.py), the same types and "
    "constraints declared as its documentation shows (bench/apps/frameworks/common.py holds the "
    "shared values). Before each run the answer is checked (status and JSON value), and each of "
    "{refused} invalid requests (a bound, a length, a wrong type, a missing value) must be "
    "refused with 400 or 422: porch and FastAPI answer 422, Litestar and BlackSheep 400."
)


def typed_scenario(
    name: str,
    title: str,
    *,
    expect: Expected,
    request: Request,
    refused: tuple[Request, ...],
    note: str,
) -> Scenario:
    """A typed-API scenario: porch.App against FastAPI, Litestar and BlackSheep."""
    return Scenario(
        name=name,
        title=title,
        servers=TYPED_SERVERS,
        target=Target("porch", "fastapi", 3.0),
        expect=expect,
        path=request.path,
        method=request.method,
        headers=request.headers,
        body=request.body,
        refused=refused,
        note=f"{note} {TYPED_NOTE.format(refused=len(refused))}",
        ahead_of=TYPED_PEERS,
        group="framework",
    )


SEARCH_HEADERS = ((CLIENT_HEADER, CLIENT),)
TYPED_SCENARIOS: tuple[Scenario, ...] = (
    typed_scenario(
        "fw-typed-post",
        "Typed API: a JSON order validated into a struct with a nested list, answered 201",
        expect=JSONValue(ORDER, status=201),
        request=json_request("POST", ORDERS_PATH, ORDER),
        refused=tuple(json_request("POST", ORDERS_PATH, order) for order in BAD_ORDERS),
        note="The order: a customer name (1 to 50 characters), 1 to 100 line items each with a "
        "SKU (1 to 32 characters), a quantity > 0 and a price > 0, and an optional note (at "
        "most 200 characters); the handler returns the validated order as its response model.",
    ),
    typed_scenario(
        "fw-typed-get",
        "Typed API: three typed query parameters and a header, answered as JSON",
        expect=JSONValue(SEARCH_ANSWER),
        request=Request("GET", f"{ORDERS_PATH}?{SEARCH_QUERY}", SEARCH_HEADERS),
        refused=(
            *(Request("GET", f"{ORDERS_PATH}?{query}", SEARCH_HEADERS) for query in BAD_QUERIES),
            Request("GET", f"{ORDERS_PATH}?{SEARCH_QUERY}"),
        ),
        note="`limit` is an int from 1 to 100, `shipped` a bool, `sort` a Literal of three "
        "strings, and the X-Client header a required string; the route shares its path with "
        "fw-typed-post's POST.",
    ),
)

# The database scenarios: TechEmpower's database tests, on the PostgreSQL the harness starts.
DATABASE_ENV = {"DATABASE_URL": "postgresql://{database}", "DATABASE_POOL_SIZE": str(POOL_SIZE)}
PORCH_DATABASE_ENV = {
    **DATABASE_ENV,
    # porch.db's own settings: asyncpg, as FastAPI's SQLAlchemy application uses, and the same
    # pool as the others (no overflow); porch's default pre-ping stays on (it tests only the
    # connections that sat idle for a second, which a busy server never has).
    "DATABASE_URL": "postgresql+asyncpg://{database}",
    "DATABASE_MAX_OVERFLOW": "0",
}
DATABASE_SERVERS = (
    dataclasses.replace(
        porch_run("frameworks.porch_db:app"),
        env=PORCH_DATABASE_ENV,
        note=f"porch.App with porch.db models and an AsyncSession parameter (SQLAlchemy's async "
        f"ORM on asyncpg; a pool of {POOL_SIZE}, no overflow, porch's idle pre-ping), msgspec "
        "response models, on porch's own server",
    ),
    dataclasses.replace(
        uvicorn("frameworks.fastapi_db:app", "fastapi-sqlalchemy"),
        env=DATABASE_ENV,
        note=f"SQLAlchemy's async ORM on asyncpg (a pool of {POOL_SIZE}, no overflow), the same "
        "tables and columns as porch's models, a session dependency with yield, pydantic "
        "response models; on uvicorn (httptools, uvloop)",
    ),
    dataclasses.replace(
        gunicorn_gthread("frameworks.django_db:application", "django", threads=POOL_SIZE),
        env=DATABASE_ENV,
        note=f"Django's ORM on psycopg 3, persistent connections (one per thread: {POOL_SIZE}), "
        f"sync views, its Jinja2 backend; on gunicorn's gthread worker, 1 process, {POOL_SIZE} "
        "threads",
    ),
    dataclasses.replace(
        gunicorn_gthread("frameworks.flask_db:app", "flask-sqlalchemy", threads=POOL_SIZE),
        env=DATABASE_ENV,
        note=f"Flask-SQLAlchemy on psycopg 3 (a pool of {POOL_SIZE}, no overflow), sync views; on "
        f"gunicorn's gthread worker, 1 process, {POOL_SIZE} threads",
    ),
    dataclasses.replace(
        uvicorn("frameworks.fastapi_asyncpg:app", "fastapi-asyncpg"),
        env=DATABASE_ENV,
        note=f"TechEmpower's own FastAPI entry: raw asyncpg (a pool of {POOL_SIZE}), prepared "
        "statements, dicts as JSON, one executemany for the updates; on uvicorn (httptools, "
        "uvloop)",
    ),
)
DATABASE_PEERS = ("fastapi-sqlalchemy", "django", "flask-sqlalchemy")
DATABASE_NOTE = (
    "TechEmpower's rules: World holds 10,000 rows and Fortune its 12, created and filled by the "
    "harness once per run; each row is read by a query of its own. One application per "
    "framework (bench/apps/frameworks/*_db.py, fastapi_asyncpg.py) serves all four database "
    "scenarios, written as that framework's documentation shows."
)
ANSWERED_FORTUNES = sorted([*FORTUNES, (0, ADDITIONAL_FORTUNE)], key=lambda row: row[1])


def database_scenario(
    name: str, title: str, *, path: str, expect: Expected, check: DatabaseCheck, note: str = ""
) -> Scenario:
    """A database scenario: porch.db against the ORMs, and raw asyncpg for the ratio."""
    return Scenario(
        name=name,
        title=title,
        servers=DATABASE_SERVERS,
        target=Target("porch", "fastapi-sqlalchemy", 1.3),
        expect=expect,
        path=path,
        note=f"{note} {DATABASE_NOTE}".strip(),
        ahead_of=DATABASE_PEERS,
        group="database",
        compared_with=("fastapi-asyncpg",),
        database_check=check,
    )


DATABASE_SCENARIOS: tuple[Scenario, ...] = (
    database_scenario(
        "db-single",
        "Database, one random World row as JSON",
        path="/db",
        expect=WorldRows(),
        check=StoredRows(),
    ),
    database_scenario(
        "db-queries",
        f"Database, {QUERIES} random World rows, one query each, as JSON",
        path=f"/queries?queries={QUERIES}",
        expect=WorldRows(QUERIES),
        check=StoredRows(),
    ),
    database_scenario(
        "db-fortunes",
        "Database, the fortunes page: 13 rows sorted and escaped, through Jinja2",
        path="/fortunes",
        expect=HTMLPage(
            fragments=("<title>Fortunes</title>", "<tr><th>id</th><th>message</th></tr>"),
            rows=tuple((str(row_id), message) for row_id, message in ANSWERED_FORTUNES),
        ),
        check=FortunesKept(),
        note="The same template (bench/apps/frameworks/templates/fortunes.html) through each "
        "framework's own Jinja2 integration; one fortune is a `<script>` element, which must "
        "come out escaped, and the one added at request time must not be stored.",
    ),
    database_scenario(
        "db-updates",
        f"Database, {QUERIES} random World rows read, given new numbers, written back",
        path=f"/updates?queries={QUERIES}",
        expect=WorldRows(QUERIES),
        check=StoredRows(updated=True),
        note="The ids of a request are distinct and in ascending order, so that concurrent "
        "updates lock their rows in one order and never deadlock; after the answer, the "
        "database must hold each row's new number.",
    ),
)

# porch's defaults: the access log on, to standard output (a file, in a run: bench/processes.py).
NO_LOG = "porch, no log"
LOGGING_NOTE = (
    "Every server writes its request log where it writes it by default (standard output or "
    "error, which the harness sends to a file), except nginx, which is given its combined "
    "format in a file with a 64 KiB buffer flushed every 100 ms, as porch buffers its own. "
    "The target is what porch's default access log costs: porch with it against porch "
    f"without it (`{NO_LOG}`)."
)

LOGGING_SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="logged-static-3k",
        title="Static file, 3 KB, with each server's access log",
        servers=(
            Server("porch", "{bin}/porch serve {root} --host {host} --port {port}"),
            Server(NO_LOG, "{bin}/porch serve {root} --host {host} --port {port} --no-access-log"),
            Server(
                "http.server",
                "{python} -m http.server {port} --bind {host} --directory {root}",
                note="`python -m http.server` as it is: a line per request on standard error; "
                "HTTP/1.0, a new connection per request",
            ),
            Server(
                "nginx",
                "nginx -e {workdir}/error.log -c {workdir}/nginx.conf -p {workdir} "
                "-g 'daemon off;'",
                prepare=write_logged_nginx_conf,
                note="bench/nginx.py's configuration with `access_log access.log combined "
                "buffer=64k flush=100ms`",
            ),
        ),
        target=Target("porch", NO_LOG, 0.9),
        compared_with=("http.server", "nginx"),
        expect=Exact(SMALL_FILE),
        path="/small.html",
        files={"small.html": SMALL_FILE},
        group="logging",
        note=LOGGING_NOTE,
    ),
    Scenario(
        name="logged-asgi-plaintext",
        title='Raw ASGI "Hello, world!", with each server\'s access log',
        servers=(
            Server("porch", "{bin}/porch run asgiapp:app --host {host} --port {port}"),
            Server(
                NO_LOG,
                "{bin}/porch run asgiapp:app --host {host} --port {port} --no-access-log",
            ),
            Server(
                "uvicorn",
                "{bin}/uvicorn asgiapp:app --host {host} --port {port} --http httptools "
                "--loop uvloop",
                note="httptools and uvloop; its access log on, as by default",
            ),
        ),
        target=Target("porch", NO_LOG, 0.9),
        compared_with=("uvicorn",),
        expect=Exact(HELLO),
        group="logging",
        note=LOGGING_NOTE,
    ),
)

# Many connections (issue 13). Each peer gets a listen backlog that takes every connection of
# the burst (the kernel caps it at net.core.somaxconn); porch runs with its defaults.
PEER_BACKLOG = 8192
AT_64 = "porch, 64 connections"
HELD_TARGET = 0.8


def many_connections(
    kind: str, app: str, connections: int, peers: tuple[Server, ...], note: str
) -> Scenario:
    """`app` at `connections` keep-alive connections on porch and `peers`, and on porch at 64."""
    porch = porch_run(app)
    return Scenario(
        name=f"many-{kind}-{connections}",
        title=f"{TITLES[kind]} at {connections:,} connections",
        servers=(
            porch,
            dataclasses.replace(porch, label=AT_64, connections=64),
            *peers,
        ),
        target=Target("porch", AT_64, HELD_TARGET),
        ahead_of=tuple(peer.label for peer in peers if peer.label in AHEAD_OF),
        expect=Exact(HELLO),
        connections=connections,
        group="connections",
        note=note + f" porch must hold {HELD_TARGET}x its own 64-connection figure, and every "
        "server must hold every connection (counted with `ss` in the second half of the run) "
        "or it is reported, not measured.",
    )


TITLES = {
    "app": 'porch.App plaintext, "Hello, world!"',
    "asgi": 'Raw ASGI "Hello, world!"',
    "flask": 'Flask on WSGI, "Hello, world!"',
}
# The peers porch must be ahead of at every count (granian's RSGI and gunicorn are reported).
AHEAD_OF = ("uvicorn", "granian")


def _backlogged(server: Server, *options: str) -> Server:
    """A peer with a listen backlog that takes the burst (and `options`)."""
    command = " ".join([server.command, *options, f"--backlog {PEER_BACKLOG}"])
    return dataclasses.replace(server, command=command)


def _many(connections: int) -> tuple[Scenario, ...]:
    app = "frameworks.porch_app:app"
    return (
        many_connections(
            "app",
            app,
            connections,
            (
                _backlogged(uvicorn(app, "uvicorn")),
                _backlogged(granian("asgi", app, "granian")),
            ),
            "The porch.App of the framework scenarios (bench/apps/frameworks/porch_app.py): "
            "natively on porch, through ASGI on the others.",
        ),
        many_connections(
            "asgi",
            "asgiapp:app",
            connections,
            (
                _backlogged(uvicorn("asgiapp:app", "uvicorn")),
                _backlogged(granian("asgi", "asgiapp:app", "granian")),
                _backlogged(granian("rsgi", "rsgiapp:app", "granian rsgi")),
            ),
            "The bare ASGI callable of asgi-plaintext (bench/apps/asgiapp.py).",
        ),
        many_connections(
            "flask",
            "flaskapp:app",
            connections,
            (
                _backlogged(
                    gunicorn_gthread("flaskapp:app", "gunicorn gthread"),
                    f"--worker-connections {connections}",
                ),
            ),
            "The Flask application of the flask scenario (bench/apps/flaskapp.py); gunicorn's "
            "threaded worker is allowed as many connections as wrk opens.",
        ),
    )


CONNECTIONS_SCENARIOS = _many(1000) + _many(5000)

SCENARIOS = (
    SERVER_SCENARIOS
    + FRAMEWORK_SCENARIOS
    + TYPED_SCENARIOS
    + DATABASE_SCENARIOS
    + LOGGING_SCENARIOS
    + CONNECTIONS_SCENARIOS
)

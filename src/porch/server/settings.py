"""Every server setting, defined once.

Each field of `Settings` carries its help text and its command-line flags; the CLI builds its
options from these fields, `Settings.from_env()` reads `PORCH_<NAME>` variables, and the defaults
stand here alone. A field's `scope` says which commands take it: "server" (run and serve),
"app" (run only) or "static" (serve only).
"""

import dataclasses
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Scope = Literal["server", "app", "static"]
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
LOG_FORMATS = ("text", "json")
INTERFACES = ("auto", "asgi", "wsgi", "native")
LIFESPAN_MODES = ("auto", "on", "off")
WS_MODES = ("auto", "none")
ENV_PREFIX = "PORCH_"


def setting(
    default: Any,
    help: str,
    *flags: str,
    scope: Scope = "server",
    choices: tuple[str, ...] | None = None,
    multiple: bool = False,
    hidden: bool = False,
) -> Any:
    """A settings field: its default, help text and flags (the first flag names the option)."""
    metadata = {
        "help": help,
        "flags": flags,
        "scope": scope,
        "choices": choices,
        "multiple": multiple,
        "hidden": hidden,
    }
    if multiple:
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class Settings:
    """How porch serves: sockets, processes, protocol limits, timeouts and logging."""

    # Where to listen.
    host: str = setting("127.0.0.1", "Address to bind.", "--host", "--bind", "-b")
    port: int = setting(8000, "Port to bind.", "--port", "-p")
    uds: str | None = setting(None, "Bind to this unix domain socket instead.", "--uds")
    fd: int | None = setting(None, "Serve on this already-bound socket descriptor.", "--fd")
    backlog: int = setting(
        4096, "Most connections waiting to be accepted (capped by net.core.somaxconn).", "--backlog"
    )
    ssl_certfile: str | None = setting(None, "TLS certificate (PEM) file.", "--ssl-certfile")
    ssl_keyfile: str | None = setting(None, "TLS private key (PEM) file.", "--ssl-keyfile")
    ssl_keyfile_password: str | None = setting(
        None, "Password of the TLS key file.", "--ssl-keyfile-password"
    )

    # Processes.
    workers: int = setting(1, "Worker processes sharing the socket.", "--workers", "-w")
    reload: bool = setting(False, "Restart when source files change (development).", "--reload")
    # setting() gives a list its default_factory, as dataclasses.field does.
    reload_dirs: list[str] = setting(  # noqa: RUF009
        [],
        "Directory to watch with --reload (repeatable; default: .).",
        "--reload-dir",
        multiple=True,
    )
    max_requests: int | None = setting(
        None, "Recycle a worker after this many requests.", "--max-requests"
    )
    max_requests_jitter: int = setting(
        0, "Add up to this many requests, at random, to --max-requests.", "--max-requests-jitter"
    )

    # Protocol limits.
    limit_concurrency: int | None = setting(
        None, "Answer 503 past this many requests in flight per worker.", "--limit-concurrency"
    )
    limit_request_line: int = setting(
        8190, "Longest request line, in bytes (414 past it).", "--limit-request-line"
    )
    limit_request_headers: int = setting(
        100, "Most header fields in a request (431 past it).", "--limit-request-headers"
    )
    limit_request_header_size: int = setting(
        65536, "Largest request head, in bytes (431 past it).", "--limit-request-header-size"
    )
    limit_request_body: int = setting(
        100 * 1024 * 1024, "Largest request body, in bytes (413 past it).", "--limit-request-body"
    )

    # Timeouts, in seconds.
    timeout_keep_alive: float = setting(
        5.0, "Close idle keep-alive connections after this long.", "--timeout-keep-alive"
    )
    timeout_request_header: float = setting(
        10.0, "The whole request head must arrive within this.", "--timeout-request-header"
    )
    timeout_request_body: float = setting(
        60.0,
        "Close a client that pauses this long while sending a request body (408).",
        "--timeout-request-body",
    )
    min_request_body_rate: float = setting(
        240.0,
        "Close a client whose request body arrives slower than this many bytes per second, "
        "on average, after the grace period (408; 0 turns it off).",
        "--min-request-body-rate",
    )
    min_request_body_rate_grace: float = setting(
        5.0,
        "Seconds a request body may take before --min-request-body-rate applies.",
        "--min-request-body-rate-grace",
    )
    timeout_send: float = setting(
        60.0,
        "Close a client that reads none of its answers for this long.",
        "--timeout-send",
    )
    timeout_graceful_shutdown: float = setting(
        30.0, "On shutdown, wait this long for requests in flight.", "--timeout-graceful-shutdown"
    )

    # Headers and logging.
    proxy_headers: bool = setting(
        True,
        "Trust X-Forwarded-For/-Proto and Forwarded from --forwarded-allow-ips.",
        "--proxy-headers/--no-proxy-headers",
    )
    forwarded_allow_ips: str = setting(
        "127.0.0.1,::1",
        "Comma-separated addresses or CIDRs of trusted proxies ('*' for any).",
        "--forwarded-allow-ips",
    )
    server_header: bool = setting(
        True, "Send a Server header.", "--server-header/--no-server-header"
    )
    health_path: str | None = setting(
        None,
        "Answer GET and HEAD of this path in the server itself, without the application: 200 "
        "while serving, 503 once a graceful shutdown has begun (a load balancer's health check).",
        "--health-path",
    )
    metrics_port: int | None = setting(
        None,
        "Serve Prometheus metrics, all the workers' together, at /metrics on this port (plain "
        "HTTP, apart from the application's).",
        "--metrics-port",
    )
    metrics_host: str | None = setting(
        None, "Address to bind --metrics-port to (default: --host's).", "--metrics-host"
    )
    request_id: bool = setting(
        True,
        "Give each request an id (X-Request-ID: a trusted proxy's, else a new one), sent back "
        "on the response and written in the logs.",
        "--request-id/--no-request-id",
    )
    access_log: bool = setting(True, "Turn the access log off.", "--no-access-log")
    access_log_path: str = setting(
        "-", "Write the access log to this file (- for stdout); SIGUSR1 reopens it.", "--access-log"
    )
    access_log_format: str = setting(
        "default",
        "Access log lines: default, combined (nginx's), json, or a template of named fields "
        "such as '{client_ip} {method} {path} {status} {duration_ms}' (docs/server.md).",
        "--access-log-format",
    )
    log_level: str = setting("info", "Logging level.", "--log-level", choices=LOG_LEVELS)
    log_format: str = setting(
        "text",
        "Porch's own log lines (standard error): text, or json (one object a line).",
        "--log-format",
        choices=LOG_FORMATS,
    )

    # The application (porch run).
    app: str = setting("", "The application, as module:attribute.", scope="app")
    interface: str = setting(
        "auto", "How to call the application.", "--interface", scope="app", choices=INTERFACES
    )
    factory: bool = setting(
        False,
        "The attribute is a factory to call for the application.",
        "--factory",
        scope="app",
    )
    app_dir: str = setting(
        ".",
        "Directory put first on sys.path to import the application.",
        "--app-dir",
        scope="app",
    )
    lifespan: str = setting(
        "auto", "ASGI lifespan events.", "--lifespan", scope="app", choices=LIFESPAN_MODES
    )
    root_path: str = setting(
        "",
        "The path the application is mounted at behind a proxy.",
        "--root-path",
        scope="app",
    )
    threads: int = setting(
        10, "Threads in the pool that runs WSGI applications.", "--threads", scope="app"
    )
    request_buffering: bool = setting(
        True,
        "Receive a WSGI request's whole body before a thread runs the application (in memory, "
        "on disk past 1 MiB), so that slow clients cannot hold threads.",
        "--request-buffering/--no-request-buffering",
        scope="app",
    )
    ws: str = setting(
        "auto",
        "WebSocket connections for ASGI applications: auto (served, with the websockets "
        "library's protocol) or none (refused with 400).",
        "--ws",
        scope="app",
        choices=WS_MODES,
    )
    ws_max_size: int = setting(
        16 * 1024 * 1024,
        "Largest WebSocket message, in bytes; a larger one closes the connection with 1009.",
        "--ws-max-size",
        scope="app",
    )
    ws_ping_interval: float = setting(
        20.0,
        "Seconds between the pings sent on a WebSocket connection (0: none).",
        "--ws-ping-interval",
        scope="app",
    )
    ws_ping_timeout: float = setting(
        20.0,
        "Seconds a WebSocket peer has to answer a ping before it is closed (1011).",
        "--ws-ping-timeout",
        scope="app",
    )
    ws_per_message_deflate: bool = setting(
        True,
        "Offer WebSocket compression (permessage-deflate) to clients that ask for it.",
        "--ws-per-message-deflate/--no-ws-per-message-deflate",
        scope="app",
    )
    debug: bool = setting(
        False,
        "Porch applications show tracebacks to local clients (development only).",
        "--debug",
        scope="app",
    )

    # Static files (porch serve).
    directory: str = setting(".", "The directory to serve.", scope="static")
    list_directories: bool = setting(
        False, "List the files of folders without an index.html.", "--list", scope="static"
    )
    follow_symlinks: bool = setting(
        False,
        "Follow symbolic links that leave the directory.",
        "--follow-symlinks",
        scope="static",
    )
    show_hidden: bool = setting(
        False, "Serve dotfiles (hidden by default).", "--show-hidden", scope="static"
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "Settings":
        """Defaults, overridden by `PORCH_<NAME>` variables, overridden by keyword arguments."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for item in dataclasses.fields(cls):
            raw = environ.get(env_name(item.name))
            if raw is None or (not raw.strip() and value_type(item) is not str):
                continue  # an empty variable is an unset one (but "" is a string's value)
            values[item.name] = parse_value(item, raw)
        values.update(overrides)
        if "access_log_path" in overrides and "access_log" not in overrides:
            values["access_log"] = True  # --access-log PATH asks for the log, whatever the variable
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """These settings as `PORCH_*` variables, which `from_env` reads back."""
        environ: dict[str, str] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if value is None:
                continue
            if isinstance(value, bool):
                text = "1" if value else "0"
            elif isinstance(value, list):
                text = os.pathsep.join(value)
            else:
                text = str(value)
            environ[env_name(item.name)] = text
        return environ

    def validate(self) -> None:
        """Raise ValueError with a one-line message for a setting that cannot work."""
        for item in dataclasses.fields(self):
            choices = item.metadata.get("choices")
            if choices and getattr(self, item.name) not in choices:
                raise ValueError(f"{flag_name(item)} must be one of {', '.join(choices)}")
        positive = (
            "workers",
            "threads",
            "backlog",
            "limit_request_line",
            "limit_request_headers",
            "limit_request_header_size",
            "ws_max_size",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{flag_name(field_named(name))} must be at least 1")
        for name in (
            "limit_request_body",
            "max_requests_jitter",
            "timeout_keep_alive",
            "timeout_request_header",
            "timeout_request_body",
            "timeout_graceful_shutdown",
            "timeout_send",
            "min_request_body_rate",
            "min_request_body_rate_grace",
            "ws_ping_interval",
            "ws_ping_timeout",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{flag_name(field_named(name))} must not be negative")
        if self.limit_concurrency is not None and self.limit_concurrency < 1:
            raise ValueError("--limit-concurrency must be at least 1")
        if self.max_requests is not None and self.max_requests < 1:
            raise ValueError("--max-requests must be at least 1")
        if self.health_path is not None and not self.health_path.startswith("/"):
            raise ValueError("--health-path must start with /")
        if self.access_log:
            from porch.server.accesslog import check_format

            check_format(self.access_log_format)
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ValueError("--ssl-certfile and --ssl-keyfile must be given together")
        if not 0 <= self.port <= 65535:
            raise ValueError("--port must be between 0 and 65535")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ValueError("--metrics-port must be between 0 and 65535")
        if self.proxy_headers:
            from porch.server.proxy import ProxyHeaders

            ProxyHeaders(self.forwarded_allow_ips)  # raises ValueError naming the bad entry


def env_name(name: str) -> str:
    """The environment variable of a setting: `PORCH_LIMIT_REQUEST_LINE`."""
    return ENV_PREFIX + name.upper()


# The settings `porch run` serves with, in this process (and the workers it forks): how a porch
# application made while they serve learns of `--debug`, without a variable in os.environ.
_serving: "Settings | None" = None


def serve_with(settings: "Settings | None") -> None:
    """Record the settings this process serves with (porch.server.launch.run)."""
    global _serving
    _serving = settings


def serving() -> "Settings | None":
    """The settings `porch run` serves this process with; None under another server."""
    return _serving


def default_of(name: str) -> Any:
    """A setting's default, for the classes that take the settings apart (ConnectionConfig,
    Limits): each default is written here alone."""
    return field_named(name).default


def field_named(name: str) -> dataclasses.Field[Any]:
    """The settings field called `name`."""
    for item in dataclasses.fields(Settings):
        if item.name == name:
            return item
    raise KeyError(name)


def flag_name(item: dataclasses.Field[Any]) -> str:
    """The main command-line flag of a field (`--workers`), or its name for arguments."""
    flags = item.metadata.get("flags") or ()
    if not flags:
        return item.name.upper()
    return str(flags[0]).split("/")[0]


def value_type(item: dataclasses.Field[Any]) -> type:
    """The plain type of a field's values: bool, int, float or str."""
    kind: Any = item.type
    args = [arg for arg in typing.get_args(kind) if arg is not type(None)]
    if args:  # `int | None` -> int, `list[str]` -> str
        kind = args[0]
    return kind if kind in (bool, int, float) else str


def parse_value(item: dataclasses.Field[Any], raw: str) -> Any:
    """A field's value from its environment variable's text."""
    kind = value_type(item)
    try:
        if item.metadata.get("multiple"):
            return [part for part in raw.split(os.pathsep) if part]
        if kind is bool:
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if raw.strip() == "" and item.default is None:
            return None
        return kind(raw.strip())
    except ValueError:
        raise ValueError(f"{env_name(item.name)}={raw!r} is not a valid {kind.__name__}") from None

"""The access log, and the logging set-up of `porch run` and `porch serve`.

The access log is on by default, so it must cost little. Answering a request appends a tuple
to a list, nothing more; the lines are made when the list is written — when MAX_PENDING
requests have gathered, at least every 100 ms, and at shutdown — each with one f-string (no
LogRecord, no Formatter, no handler lock; timestamps formatted once a second), all of them with
one `write()`, where the logging module made a system call for each line. A write holds whole
lines only (at most PIPE_BUF bytes of them to a pipe, where the kernel keeps a write that size
in one piece), so the lines of several workers never tear or interleave.

Formats: "default" (porch's own line), "combined" (nginx's and Apache's), "json" (one object
a line), or a template of named fields (`"{client_ip} {method} {path} {status}"`): FIELDS.
A request's values that may hold control characters (headers, a reason) go through log_safe,
JSON escapes its own, and the parser refuses them in the request line: no request can forge a
line.
"""

import asyncio
import logging
import os
import select
import stat
import string
import sys
import time
from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any

import msgspec

from porch.http.logsafe import log_safe
from porch.server.requestid import install_record_factory

if TYPE_CHECKING:
    from porch.http.native import RequestHead
    from porch.server.cycle import Cycle

TRACE = 5  # --log-level trace: below DEBUG (the levels: settings.LOG_LEVELS)

FLUSH_INTERVAL = 0.1  # seconds: a line waits at most this long in the buffer
# Requests waiting for their lines to be written: with the heads they keep (64 KiB at most
# each, --limit-request-header-size), 8 MiB at the very most, for 100 ms at the most.
MAX_PENDING = 128
PIPE_BUF: int = getattr(select, "PIPE_BUF", 512)  # POSIX's least

# The named formats; "default" and "combined" are written by hand-made f-strings (_default_lines,
# _combined), these templates say the same for `--help` and the docs.
FORMATS = {
    "default": '{time} [{worker}] {client} - "{request}" {status} {bytes} {duration_ms}ms',
    "combined": (
        '{client_ip} - - [{time_local}] "{request}" {status} {bytes} "{referer}" "{user_agent}"'
    ),
    "json": "",  # one JSON object a line: see _json
}


class Entry:
    """One answered request, as the formats see it (a refused one may have no head)."""

    __slots__ = ("bytes", "client", "duration", "head", "reason", "status", "when")

    def __init__(
        self,
        head: "RequestHead | None",
        client: tuple[str, int] | None,
        status: int,
        sent: int,
        duration: float,
        reason: str,
        when: float,
    ) -> None:
        self.head = head
        self.client = client
        self.status = status
        self.bytes = sent
        self.duration = duration
        self.reason = reason
        self.when = when


def _header(entry: Entry, name: bytes) -> str:
    """A request header's value, or "-"."""
    return _header_or_none(entry, name) or "-"


def _header_or_none(entry: Entry, name: bytes) -> str | None:
    head = entry.head
    value = head.header(name) if head is not None else None
    return log_safe(value.decode("latin-1")) if value else None


def _request_line(entry: Entry) -> str:
    head = entry.head
    if head is None:
        return "-"
    return f"{log_safe(head.method)} {head.target.decode('latin-1')} HTTP/{head.http_version}"


class _Clock:
    """The timestamps of log lines, formatted once a second rather than once a line."""

    def __init__(self) -> None:
        self.second = -1
        self.now = 0.0
        self.local = self.nginx = self.iso = self.prefix = ""
        self.pid = os.getpid()  # renewed with the second: a forked worker's own

    def at(self, when: float) -> None:
        """Make the timestamps those of `when` (seconds since the epoch)."""
        second = int(when)
        if second != self.second:
            self.second = second
            self.pid = os.getpid()
            local = time.localtime(second)
            self.local = time.strftime("%Y-%m-%d %H:%M:%S", local)
            self.prefix = f"{self.local} [{self.pid}] "  # the default line's start
            self.nginx = time.strftime("%d/%b/%Y:%H:%M:%S %z", local)
            self.iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        self.now = when

    def iso_now(self) -> str:
        return f"{self.iso}.{int(self.now * 1000) % 1000:03d}Z"


_clock = _Clock()


# A format: the line of (head or None, client, status, body bytes sent, seconds, reason, and
# the time it ended, in seconds since the epoch).
Line = Callable[["RequestHead | None", tuple[str, int] | None, int, int, float, str, float], str]
# What is pending: per request, those values, the end in perf_counter's seconds.
Pending = list[tuple[Any, ...]]
# A format's lines for what is pending, given perf_counter's zero on the wall clock.
Lines = Callable[[Pending, float], str]


# What a template may name: each field's value for an entry, as text.
FIELDS: dict[str, Callable[[Entry], str]] = {
    "time": lambda e: _clock.local,
    "time_local": lambda e: _clock.nginx,
    "time_iso": lambda e: _clock.iso_now(),
    "worker": lambda e: str(_clock.pid),
    "client": lambda e: f"{e.client[0]}:{e.client[1]}" if e.client else "-",
    "client_ip": lambda e: e.client[0] if e.client else "-",
    "request": _request_line,
    "method": lambda e: log_safe(e.head.method) if e.head is not None else "-",
    "path": lambda e: e.head.raw_path.decode("latin-1") if e.head is not None else "-",
    "query": lambda e: e.head.query.decode("latin-1") if e.head is not None else "",
    "protocol": lambda e: f"HTTP/{e.head.http_version}" if e.head is not None else "-",
    "status": lambda e: str(e.status),
    "bytes": lambda e: str(e.bytes),
    "duration": lambda e: f"{e.duration:.6f}",
    "duration_ms": lambda e: f"{e.duration * 1000.0:.1f}",
    "user_agent": lambda e: _header(e, b"user-agent"),
    "referer": lambda e: _header(e, b"referer"),
    "reason": lambda e: e.reason or "-",
    "request_id": lambda e: (e.head.request_id if e.head is not None else "") or "-",
}


def check_format(format: str) -> None:
    """ValueError unless `format` is a named format or a template of known fields."""
    if format in FORMATS:
        return
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(format) if name is not None]
    except ValueError as exc:
        problem = str(exc)
    else:
        unknown = sorted({name for name in names if name not in FIELDS})
        if not unknown and names:
            return
        problem = f"unknown field(s) {', '.join(unknown)}" if unknown else "names no field"
    raise ValueError(
        f"access log format {format!r}: {problem}; use default, combined, json, or a template"
        f" of {{{'}, {'.join(FIELDS)}}}"
    )


class LogFile:
    """Where the lines go: stdout ("-") or a file opened for appending, reopened on demand
    (SIGUSR1, after logrotate moved it)."""

    def __init__(self, path: str = "-") -> None:
        self.path = path
        self.fd = 1 if path == "-" else self._open()
        self._pipe = self._is_pipe()

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def _is_pipe(self) -> bool:
        try:
            mode = os.fstat(self.fd).st_mode
        except OSError:
            return False
        return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)

    def write(self, data: bytes) -> None:
        """Write whole lines: a pipe gets them in pieces of at most PIPE_BUF bytes, each cut
        after a line, so that another process's writes fall between lines, never inside."""
        if self._pipe and len(data) > PIPE_BUF:
            start = 0
            while start < len(data):
                end = data.rfind(b"\n", start, start + PIPE_BUF) + 1
                if end <= start:  # one line longer than PIPE_BUF: it goes alone
                    end = data.find(b"\n", start) + 1 or len(data)
                self._write_all(data[start:end])
                start = end
        else:
            self._write_all(data)

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.fd, view)
            except BlockingIOError:  # an inherited non-blocking stdout: wait until it drains
                select.select([], [self.fd], [])
                continue
            except OSError:
                return  # a closed stdout, a full disk: the server goes on without its log
            view = view[written:]

    def reopen(self) -> None:
        """Open the path again (logrotate renamed the file): later lines go to a new one."""
        if self.path == "-":
            return
        old, self.fd = self.fd, self._open()
        os.close(old)
        self._pipe = self._is_pipe()

    def close(self) -> None:
        if self.path != "-":
            os.close(self.fd)


class AccessLog:
    """One line per answered request, buffered (see the module's docstring)."""

    def __init__(self, format: str = "default", output: LogFile | None = None) -> None:
        check_format(format)
        self.format = format
        self.output = output if output is not None else LogFile()
        # What was answered, formatted when written: see log().
        self._pending: Pending = []
        self._timer: asyncio.TimerHandle | None = None
        if format == "default":
            self._lines: Lines = _default_lines
        elif format == "combined":
            self._lines = _each(_combined)
        elif format == "json":
            self._lines = _each(_json)
        else:
            self._lines = _each(_template(format))

    def log(self, cycle: "Cycle", end: float) -> None:
        """Log a response completed at `end` (perf_counter's time).

        PERF: the line is made when the buffer is written, not here: formatting a hundred
        lines in a row costs a third of formatting each between two requests (warm caches),
        and this, once per request, is one append. The head is kept until then: at most
        MAX_PENDING of them, for at most FLUSH_INTERVAL.
        """
        head = cycle.head
        pending = self._pending
        pending.append(
            (head, head.client, cycle.status, cycle.bytes_sent, end - cycle.start_time,
             cycle.reason, end)
        )  # fmt: skip
        if len(pending) >= MAX_PENDING or self._timer is None:
            self._wrote()

    def refused(self, client: tuple[str, int] | None, status: int, sent: int, reason: str) -> None:
        """Log what the server answered before a request was whole (a 431, a 408...)."""
        self._pending.append((None, client, status, sent, 0.0, reason, perf_counter()))
        self._wrote()

    def _wrote(self) -> None:
        """A line was added: write the buffer if it is full, else make sure it soon is."""
        if len(self._pending) >= MAX_PENDING:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # outside a server's loop (a test): nothing to wait for
                self.flush()
                return
            self._timer = loop.call_later(FLUSH_INTERVAL, self.flush)

    def flush(self) -> None:
        """Write what is buffered."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending = self._pending
        if pending:
            self._pending = []
            epoch = time.time() - perf_counter()  # perf_counter's zero, on the wall clock
            text = self._lines(pending, epoch)
            self.output.write(text.encode("utf-8", "backslashreplace"))

    def reopen(self) -> None:
        """Write what is buffered, then reopen the file (SIGUSR1)."""
        self.flush()
        self.output.reopen()

    def close(self) -> None:
        """Write what is buffered and close the file (at shutdown)."""
        self.flush()
        self.output.close()


# The formats. PERF: the default lines are made by one loop, one f-string each, the clock
# renewed once a second; the others line by line (_each). They say what FORMATS says.


def _default_lines(pending: Pending, epoch: float) -> str:
    clock = _clock
    clients = _clients
    second = next_second = 0.0
    prefix = ""
    out: list[str] = []
    append = out.append
    for head, client, status, sent, duration, reason, end in pending:
        when = end + epoch
        if not second <= when < next_second:  # PERF: the clock is renewed once a second
            clock.at(when)
            second = float(clock.second)
            next_second = second + 1.0
            prefix = clock.prefix
        client_text = clients.get(client) or _client_text(client)
        # The method is a token (the parser refused anything else), the target free of controls.
        if head is None:
            request = "-"
        else:
            request = f"{head.method} {head.target.decode('latin-1')} HTTP/{head.http_version}"
        if reason:
            append(
                f'{prefix}{client_text} - "{request}" {status} {sent} '
                f"{duration * 1000.0:.1f}ms ({log_safe(reason)})\n"
            )
        else:
            append(
                f'{prefix}{client_text} - "{request}" {status} {sent} {duration * 1000.0:.1f}ms\n'
            )
    return "".join(out)


def _each(line: Line) -> Lines:
    """A format made line by line."""

    def lines(pending: Pending, epoch: float) -> str:
        return "".join(
            [
                line(head, client, status, sent, duration, reason, end + epoch)
                for head, client, status, sent, duration, reason, end in pending
            ]
        )

    return lines


# PERF: "address:port" made once per client (a keep-alive connection's requests share it).
_clients: dict[tuple[str, int] | None, str] = {}


def _client_text(client: tuple[str, int] | None) -> str:
    if len(_clients) >= 10_000:
        _clients.clear()
    text = _clients[client] = f"{client[0]}:{client[1]}" if client else "-"
    return text


def _quoted(text: str) -> str:
    return text.replace('"', "\\x22")


def _combined(*args: Any) -> str:
    e = Entry(*args)
    _clock.at(e.when)
    client = e.client
    return (
        f"{client[0] if client else '-'} - - [{_clock.nginx}] "
        f'"{_quoted(_request_line(e))}" {e.status} {e.bytes} '
        f'"{_quoted(_header(e, b"referer"))}" "{_quoted(_header(e, b"user-agent"))}"\n'
    )


_encode_json = msgspec.json.Encoder().encode


def _json(*args: Any) -> str:
    e = Entry(*args)
    _clock.at(e.when)
    head = e.head
    client = e.client
    record: dict[str, Any] = {
        "time": _clock.iso_now(),
        "client": client[0] if client else None,
        "port": client[1] if client else None,
        "method": head.method if head is not None else None,
        "path": head.raw_path.decode("latin-1") if head is not None else None,
        "query": head.query.decode("latin-1") if head is not None else None,
        "protocol": f"HTTP/{head.http_version}" if head is not None else None,
        "status": e.status,
        "bytes": e.bytes,
        "duration_ms": round(e.duration * 1000.0, 3),
        "user_agent": _header_or_none(e, b"user-agent"),
        "referer": _header_or_none(e, b"referer"),
        "worker": _clock.pid,
        "request_id": head.request_id or None if head is not None else None,
    }
    if e.reason:
        record["reason"] = e.reason
    # JSON escapes every control character itself: one object stays one line.
    return _encode_json(record).decode() + "\n"


def _template(format: str) -> Line:
    parts = [
        (literal, FIELDS[name] if name is not None else None)
        for literal, name, _, _ in string.Formatter().parse(format)
    ]

    def line(*args: Any) -> str:
        e = Entry(*args)
        _clock.at(e.when)
        out = []
        for literal, field in parts:
            out.append(literal)
            if field is not None:
                out.append(field(e))
        out.append("\n")
        return "".join(out)

    return line


def configure_logging(level: str = "info", format: str = "text") -> None:
    """Send porch's error log to stderr, as text or JSON lines (the access log writes for
    itself: AccessLog)."""
    logging.addLevelName(TRACE, "TRACE")
    numeric = TRACE if level == "trace" else logging.getLevelNamesMapping()[level.upper()]
    install_record_factory()  # record.request_id, in the application's records too
    formatter = JSONFormatter() if format == "json" else TextFormatter()
    error_logger = logging.getLogger("porch")
    handler = next((h for h in error_logger.handlers if getattr(h, "_porch", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler._porch = True  # type: ignore[attr-defined]
        error_logger.addHandler(handler)
    handler.setFormatter(formatter)
    error_logger.setLevel(numeric)
    error_logger.propagate = False


class TextFormatter(logging.Formatter):
    """Porch's line: time, worker, level, the request's id in brackets when the record was
    made while a request ran, and the message."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s [%(process)d] %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
        self._in_request = logging.Formatter(
            "%(asctime)s [%(process)d] %(levelname)s [%(request_id)s] %(message)s",
            "%Y-%m-%d %H:%M:%S",
        )

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", ""):
            return self._in_request.format(record)
        return super().format(record)


class JSONFormatter(logging.Formatter):
    """A log record as one JSON object: time (UTC, ms), level, logger, worker, message, and
    the exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        seconds = int(record.created)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        entry: dict[str, Any] = {
            "time": f"{stamp}.{int(record.created * 1000) % 1000:03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "worker": record.process,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", "")
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _encode_json(entry).decode()

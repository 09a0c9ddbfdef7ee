"""Prometheus metrics (`--metrics-port`): what each worker counts, and the /metrics page that
answers for all the workers together.

Counting is cheap: an answered request costs one dict lookup and four additions (`observe`);
the text is made only when Prometheus asks for it, by prometheus-client. Labels stay bounded
whatever clients send: a method outside the standard ones counts as "other", a status by its
class ("2xx"), a path only as the template of the route the application says answered it (never
the raw path; "" when it says none), and past MAX_SERIES series a new route counts as "other".

With several workers (`--workers N`), each writes its figures to a file of its own in a folder
the supervisor made: every WRITE_INTERVAL, when it stops, and before it answers a scrape.
Whichever worker accepts a scrape adds the other workers' files to its own live figures. As
every figure a worker ever reported is in its file by then, a later scrape that another worker
answers never reports less: counters never go back. The supervisor folds a dead worker's last
file into the archive, so that its requests stay counted (`archive_worker`), and writes its own
figures: workers running, and restarts (`write_supervisor`).
"""

import logging
import os
import time
from bisect import bisect_left
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

import msgspec

from porch.http.native import RequestHead, Response

if TYPE_CHECKING:
    import asyncio

    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import Collector

    from porch.server.cycle import Cycle
    from porch.server.state import ServerState

logger = logging.getLogger("porch.error")

# The latency histogram's upper bounds, in seconds (a last bucket, +Inf, takes the rest).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Methods counted by name; any other token a client sends counts as "other".
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"))
# A worker's most series (method, status, route): past it, new routes count as "other".
MAX_SERIES = 2000
WRITE_INTERVAL = 1.0  # seconds between a worker's writes of its figures
ARCHIVE = "archive.json"  # the figures of workers that are gone
SUPERVISOR = "supervisor.json"  # the supervisor's own figures
# How long the archive remembers which workers it holds (see `gather`).
MERGED_MEMORY = 60.0

# A series' values: requests, body bytes sent, seconds in all, then a count per bucket.
COUNT, BYTES, SECONDS, FIRST_BUCKET = 0, 1, 2, 3
Key = tuple[str, int, str]  # method, status, route template

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, Any]).decode


def route_from(context: Mapping[str, Any]) -> str:
    """The route template a framework recorded in the ASGI scope or WSGI environ it was given:
    `porch.route` (any application may set it), Starlette's and FastAPI's `route`, Flask's
    (Werkzeug's) `url_rule`; "" when none says."""
    route = context.get("porch.route")
    if route.__class__ is str:
        return route
    path = getattr(context.get("route"), "path", None)
    if path.__class__ is str:
        return path
    request = context.get("werkzeug.request")
    if request is not None:
        rule = getattr(getattr(request, "url_rule", None), "rule", None)
        if rule.__class__ is str:
            return rule
    return ""


class Metrics:
    """One worker's figures: requests by series, and what the server refused."""

    def __init__(self, directory: str | None = None) -> None:
        self.series: dict[Key, list[float]] = {}
        self.refused_by_status: dict[int, int] = {}
        self.directory = directory  # the workers' folder; None in a server of its own
        self.state: ServerState | None = None
        self._timer: asyncio.TimerHandle | None = None

    def observe(self, cycle: "Cycle", end: float) -> None:
        """Count a response completed at `end` (perf_counter's time).

        PERF: once per request; the key is made of what the request already holds, and a
        series' figures are one list updated in place.
        """
        head = cycle.head
        seconds = end - cycle.start_time
        route = head.route
        if not route and cycle.context is not None:
            route = route_from(cycle.context)
        method = head.method
        key = (method if method in METHODS else "other", cycle.status, route)
        values = self.series.get(key)
        if values is None:
            values = self._new_series(key)
        values[COUNT] += 1
        values[BYTES] += cycle.bytes_sent
        values[SECONDS] += seconds
        values[FIRST_BUCKET + bisect_left(BUCKETS, seconds)] += 1

    def _new_series(self, key: Key) -> list[float]:
        if len(self.series) >= MAX_SERIES:
            if key[2] != "other":
                logger.warning(
                    "Metrics: more than %d series; route %r and the next new ones count as "
                    "'other' (does the application report raw paths as routes?)",
                    MAX_SERIES,
                    key[2],
                )
            key = (key[0], key[1], "other")
            values = self.series.get(key)
            if values is not None:
                return values
        values = self.series[key] = [0] * (FIRST_BUCKET + len(BUCKETS) + 1)
        return values

    def refused(self, status: int) -> None:
        """Count an answer the server gave before a request's head was whole (431, 408...)."""
        self.refused_by_status[status] = self.refused_by_status.get(status, 0) + 1

    # The worker's figures as a whole.

    def start(self, state: "ServerState") -> None:
        """Count for the server of `state`; in a worker, write its file every WRITE_INTERVAL."""
        self.state = state
        if self.directory is not None:
            self._write_soon()

    def _write_soon(self) -> None:
        assert self.state is not None
        self._timer = self.state.loop.call_later(WRITE_INTERVAL, self._write_periodically)

    def _write_periodically(self) -> None:
        self.write()
        self._write_soon()

    def close(self) -> None:
        """Stop writing; a worker writes its last figures."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.directory is not None:
            self.write()

    def write(self, figures: dict[str, Any] | None = None) -> None:
        """Write this worker's figures to its file (a worker's only)."""
        if self.directory is None:
            return
        path = os.path.join(self.directory, f"{os.getpid()}.json")
        _write(path, figures if figures is not None else self.figures())

    def figures(self) -> dict[str, Any]:
        """This worker's figures, as its file holds them."""
        state = self.state
        gauges: dict[str, int] = {}
        accepted = 0
        if state is not None:
            accepted = state.accepted
            gauges["requests_in_flight"] = state.active_requests
            gauges["connections_open"] = len(state.connections)
            usage = getattr(state.config.adapter, "pool_usage", None)
            if usage is not None:
                threads, busy, waiting = usage()
                gauges["wsgi_threads"] = threads
                gauges["wsgi_threads_busy"] = busy
                gauges["wsgi_requests_waiting"] = waiting
        return {
            "series": [[*key, *values] for key, values in self.series.items()],
            "refused": [[status, count] for status, count in self.refused_by_status.items()],
            "connections": accepted,
            "gauges": gauges,
        }

    def gather(self) -> "Totals":
        """The figures of every worker, this one's live (see the module's docstring)."""
        own = self.figures()
        totals = Totals()
        totals.add(own)
        if self.directory is None:
            return totals
        self.write(own)  # first: no later scrape, answered by another worker, may report less
        directory = self.directory
        others = []
        me = f"{os.getpid()}.json"
        for name in os.listdir(directory):
            if name != me and name.endswith(".json") and name[:-5].isdigit():
                figures = _read(os.path.join(directory, name))
                if figures is not None:
                    others.append((name[:-5], figures))
        # Read after the workers' files: a worker folded into the archive meanwhile is found in
        # the archive's list, and counted once, from there.
        archive = _read(os.path.join(directory, ARCHIVE)) or {}
        merged = archive.get("merged", {})
        for pid, figures in others:
            if pid not in merged:
                totals.add(figures)
        totals.add(archive, gauges=False)
        totals.supervisor = _read(os.path.join(directory, SUPERVISOR))
        return totals


class Totals:
    """Figures added up: several workers', the archive's."""

    def __init__(self) -> None:
        self.series: dict[Key, list[float]] = {}
        self.refused: dict[int, int] = {}
        self.connections = 0
        self.gauges: dict[str, int] = {}
        self.supervisor: dict[str, Any] | None = None

    def add(self, figures: Mapping[str, Any], gauges: bool = True) -> None:
        """Add a worker's (or the archive's) figures; gauges only of a live worker."""
        try:
            for method, status, route, *values in figures.get("series", ()):
                key = (method, status, route)
                total = self.series.get(key)
                if total is None:
                    self.series[key] = list(values)
                else:
                    for i, value in enumerate(values):
                        total[i] += value
            for status, count in figures.get("refused", ()):
                self.refused[status] = self.refused.get(status, 0) + count
            self.connections += figures.get("connections", 0)
            if gauges:
                for name, value in figures.get("gauges", {}).items():
                    self.gauges[name] = self.gauges.get(name, 0) + value
        except (TypeError, ValueError):
            logger.warning("Metrics: ignored a worker's figures that do not read as figures")

    def counters(self) -> dict[str, Any]:
        """The counters, as a file holds them (the archive keeps no gauge)."""
        return {
            "series": [[*key, *values] for key, values in self.series.items()],
            "refused": [[status, count] for status, count in self.refused.items()],
            "connections": self.connections,
        }

    def families(self) -> list["Metric"]:
        """The figures as Prometheus metric families."""
        # Imported here: a server without --metrics-port never loads prometheus-client.
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        labels = ("method", "status", "route")
        requests = CounterMetricFamily(
            "porch_requests",
            "Requests answered, by method, status class and route template.",
            labels=labels,
        )
        duration = HistogramMetricFamily(
            "porch_request_duration_seconds",
            "Time from a request's start to the end of its response, in seconds.",
            labels=labels,
        )
        sent = CounterMetricFamily(
            "porch_response_body_bytes",
            "Bytes of response bodies sent.",
            labels=labels,
        )
        by_class: dict[tuple[str, str, str], list[float]] = {}
        for (method, status, route), values in self.series.items():
            key = (method, f"{status // 100}xx", route)
            total = by_class.get(key)
            if total is None:
                by_class[key] = list(values)
            else:
                for i, value in enumerate(values):
                    total[i] += value
        for key, values in sorted(by_class.items()):
            requests.add_metric(key, values[COUNT])
            sent.add_metric(key, values[BYTES])
            cumulative = 0.0
            buckets = []
            for bound, count in zip((*BUCKETS, float("inf")), values[FIRST_BUCKET:], strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            duration.add_metric(key, buckets, values[SECONDS])
        refused = CounterMetricFamily(
            "porch_refused_requests",
            "Requests the server refused before their head was whole (400, 408, 414, 431...).",
            labels=("status",),
        )
        for status, count in sorted(self.refused.items()):
            refused.add_metric((str(status),), count)
        connections = CounterMetricFamily("porch_connections", "Connections accepted.")
        connections.add_metric((), self.connections)
        families: list[Metric] = [requests, duration, sent, refused, connections]
        for name, help in GAUGES.items():
            if name in self.gauges:
                families.append(GaugeMetricFamily(f"porch_{name}", help, self.gauges[name]))
        supervisor = self.supervisor or {}
        families.append(
            GaugeMetricFamily(
                "porch_workers", "Worker processes serving.", supervisor.get("workers", 1)
            )
        )
        restarts = CounterMetricFamily(
            "porch_worker_restarts",
            "Workers replaced: after dying, after exiting by themselves (--max-requests), or "
            "on a reload (SIGHUP).",
            labels=("reason",),
        )
        for reason in RESTART_REASONS:
            restarts.add_metric((reason,), supervisor.get("restarts", {}).get(reason, 0))
        families.append(restarts)
        return families


GAUGES = {
    "requests_in_flight": "Requests being answered.",
    "connections_open": "Client connections open.",
    "wsgi_threads": "Threads in the pools that run WSGI applications.",
    "wsgi_threads_busy": "Of those, the threads running a request.",
    "wsgi_requests_waiting": "Requests waiting for a WSGI thread.",
}
RESTART_REASONS = ("died", "exited", "reloaded")


# The supervisor's side.


def write_supervisor(directory: str, workers: int, restarts: Mapping[str, int]) -> None:
    """Write the supervisor's figures."""
    _write(os.path.join(directory, SUPERVISOR), {"workers": workers, "restarts": dict(restarts)})


def archive_worker(directory: str, pid: int) -> None:
    """Fold a dead worker's last figures into the archive, then remove its file.

    The archive names the workers it holds, and is written before the file goes: a scrape that
    read the file meanwhile finds the name and does not count the worker twice (`gather`).
    """
    path = os.path.join(directory, f"{pid}.json")
    figures = _read(path)
    archive_path = os.path.join(directory, ARCHIVE)
    archive = _read(archive_path) or {}
    totals = Totals()
    totals.add(archive, gauges=False)
    if figures is not None:
        totals.add(figures, gauges=False)
    now = time.time()
    merged = {
        name: when
        for name, when in archive.get("merged", {}).items()
        if now - when < MERGED_MEMORY  # long gone: no scrape still holds its file
    }
    merged[str(pid)] = now
    _write(archive_path, {**totals.counters(), "merged": merged})
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _write(path: str, figures: Mapping[str, Any]) -> None:
    """Replace a figures file whole: a reader sees the old one or the new, never half."""
    temporary = f"{path}.tmp"
    try:
        with open(temporary, "wb") as file:
            file.write(_encode(figures))
        os.replace(temporary, path)
    except OSError as exc:
        logger.debug("Metrics: could not write %s: %s", path, exc)


def _read(path: str) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as file:
            return _decode(file.read())
    except (OSError, msgspec.DecodeError):
        return None


# The /metrics page.

TEXT = [(b"content-type", b"text/plain; charset=utf-8")]


class MetricsPage:
    """A native application answering GET /metrics with every worker's figures."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def __porch_http__(self, head: RequestHead, body: Any) -> Response:
        if head.raw_path != b"/metrics":
            return Response(404, TEXT, b"Not found: the metrics are at /metrics\n")
        if head.method not in ("GET", "HEAD"):
            return Response(405, [*TEXT, (b"allow", b"GET, HEAD")], b"Use GET\n")
        from prometheus_client.exposition import choose_encoder

        accept = head.header(b"accept")
        encoder, content_type = choose_encoder(accept.decode("latin-1") if accept else "")
        text = encoder(cast("Collector", _Families(self.metrics.gather().families())))
        return Response(200, [(b"content-type", content_type.encode("latin-1"))], text)


class _Families:
    """Metric families as prometheus-client's encoders read a registry (its collect())."""

    def __init__(self, families: list["Metric"]) -> None:
        self._families = families

    def collect(self) -> Iterator["Metric"]:
        return iter(self._families)

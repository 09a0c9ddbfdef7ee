"""Prometheus metrics (`porch/server/metrics.py`, --metrics-port): /metrics parsed by
prometheus-client's own parser and checked against the requests that were sent, for every
interface, for the route templates of real frameworks, and for several workers together."""

import os
import signal
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from porch.http.native import RequestHead
from porch.server.metrics import BUCKETS, MAX_SERIES, Metrics, Totals, route_from
from porch.server.settings import Settings
from tests.server.apps import INTERFACES, Recorder, make_app
from tests.support import PorchProcess, RawClient, ThreadServer, wait_until

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a Prometheus text page: (name, labels) -> value."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, got), v in samples.items() if n == name and wanted <= got)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MetricsServer(ThreadServer):
    """A ThreadServer with --metrics-port; .metrics_url is its page."""

    def __init__(self, app: Any, **settings: Any) -> None:
        super().__init__(app, metrics_port=0, **settings)

    @property
    def metrics_url(self) -> str:
        sock = self.server.metrics_socket
        assert sock is not None
        return f"http://127.0.0.1:{sock.getsockname()[1]}/metrics"

    def scrape(self) -> Samples:
        response = httpx.get(self.metrics_url)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain; version=")
        return parse(response.text)


@pytest.mark.parametrize("interface", INTERFACES)
def test_requests_are_counted_as_they_were_sent(interface: str) -> None:
    app = make_app(interface, Recorder())
    took = []  # each GET's time as the client saw it: the server's own is no longer
    with MetricsServer(app) as server, httpx.Client(base_url=server.url) as client:
        for _ in range(7):
            start = time.perf_counter()
            assert client.get("/").text == "hello"
            took.append(time.perf_counter() - start)
        for _ in range(3):
            assert client.post("/echo", content=b"x" * 1000).status_code == 200
        start = time.perf_counter()
        client.get("/slow")
        took.append(time.perf_counter() - start)
        samples = server.scrape()
    assert value(samples, "porch_requests_total", method="GET", status="2xx", route="") == 8
    assert value(samples, "porch_requests_total", method="POST", status="2xx", route="") == 3
    # Bytes of bodies: 7 x "hello", 3 x 1000 echoed, "slow".
    assert total(samples, "porch_response_body_bytes_total") == 7 * 5 + 3 * 1000 + 4
    get = {"method": "GET", "status": "2xx", "route": ""}
    assert value(samples, "porch_request_duration_seconds_count", **get) == 8
    # /slow waits 0.3 s (a loop's timer may fire a hair early): the sum says so.
    assert 0.28 <= value(samples, "porch_request_duration_seconds_sum", **get) <= sum(took)
    # Each bucket holds at least the requests the client saw end within its bound, and /slow
    # never sits below 0.28 s. (A shared machine can stall any request, so no exact counts.)
    for bound in BUCKETS:
        got = value(samples, "porch_request_duration_seconds_bucket", le=str(bound), **get)
        assert sum(t <= bound for t in took) <= got <= (7 if bound < 0.28 else 8), bound
    assert value(samples, "porch_request_duration_seconds_bucket", le="+Inf", **get) == 8
    assert value(samples, "porch_connections_total") == 1  # one keep-alive connection
    assert value(samples, "porch_connections_open") == 1  # the client's; the scrape's not
    assert value(samples, "porch_requests_in_flight") == 0
    assert value(samples, "porch_workers") == 1
    wsgi = value(samples, "porch_wsgi_threads")
    assert wsgi == (10 if interface == "wsgi" else 0)


@pytest.mark.parametrize("interface", INTERFACES)
def test_requests_in_flight_and_open_connections(interface: str) -> None:
    recorder = Recorder()
    app = make_app(interface, recorder)
    with MetricsServer(app, threads=2) as server:
        with recorder.held(server.url, 3):
            assert wait_until(
                lambda: value(server.scrape(), "porch_requests_in_flight") == 3, timeout=5
            )
            samples = server.scrape()
            assert value(samples, "porch_connections_open") == 3
            if interface == "wsgi":
                # Two threads, both running a request; the third waits for one.
                assert value(samples, "porch_wsgi_threads") == 2
                assert value(samples, "porch_wsgi_threads_busy") == 2
                assert value(samples, "porch_wsgi_requests_waiting") == 1
        assert wait_until(lambda: value(server.scrape(), "porch_requests_in_flight") == 0, 5)
        if interface == "wsgi":
            assert value(server.scrape(), "porch_wsgi_threads_busy") == 0


def test_refused_requests_and_health_checks_are_counted() -> None:
    app = make_app("native", Recorder())
    settings = {"limit_request_line": 100, "limit_request_header_size": 2000}
    with MetricsServer(app, health_path="/healthz", **settings) as server:
        refused = {
            431: b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"x" * 3000 + b"\r\n\r\n",
            414: b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
            400: b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        }
        for request in (*refused.values(), refused[400]):
            with RawClient(server.port) as client:
                client.send(request)
                client.read_until_close()
        for _ in range(2):
            assert httpx.get(server.url + "/healthz").text == "ok\n"
        samples = server.scrape()
    assert value(samples, "porch_refused_requests_total", status="431") == 1
    assert value(samples, "porch_refused_requests_total", status="414") == 1
    assert value(samples, "porch_refused_requests_total", status="400") == 2
    health = {"method": "GET", "status": "2xx", "route": "/healthz"}
    assert value(samples, "porch_requests_total", **health) == 2


async def any_path(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A raw ASGI application: it answers every path, and names no route."""
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})


def test_labels_stay_bounded_whatever_clients_send() -> None:
    with MetricsServer(any_path) as server:
        with httpx.Client(base_url=server.url) as client:
            for i in range(50):
                client.get(f"/info/{i}?x={i}")  # fifty paths
            for method in ("PROPFIND", "MKCOL", "PURGE"):  # methods llhttp knows
                client.request(method, "/info")
        samples = server.scrape()
    series = {labels for (name, labels) in samples if name == "porch_requests_total"}
    assert series == {
        frozenset({("method", "GET"), ("status", "2xx"), ("route", "")}),
        frozenset({("method", "other"), ("status", "2xx"), ("route", "")}),
    }
    assert value(samples, "porch_requests_total", method="other", status="2xx", route="") == 3


def test_the_page_answers_only_get_of_metrics_and_speaks_openmetrics() -> None:
    with MetricsServer(make_app("native", Recorder())) as server:
        httpx.get(server.url + "/")
        url = server.metrics_url
        assert httpx.get(url.replace("/metrics", "/other")).status_code == 404
        refused = httpx.post(url)
        assert (refused.status_code, refused.headers["allow"]) == (405, "GET, HEAD")
        assert httpx.head(url).status_code == 200
        response = httpx.get(url, headers={"accept": "application/openmetrics-text"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    families = {f.name: f for f in openmetrics_families(response.text)}
    (sample,) = families["porch_requests"].samples[:1]
    assert (sample.name, sample.value) == ("porch_requests_total", 1.0)


# The route template, as each kind of application reports it.


def porch_app() -> Any:
    from porch import App

    app = App("metrics_routes")

    @app.get("/teams/<int:team_id>")
    async def team(team_id: int) -> dict[str, int]:
        return {"id": team_id}

    return app


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def team(request: Any) -> PlainTextResponse:
        return PlainTextResponse(request.path_params["team_id"])

    return Starlette(routes=[Route("/teams/{team_id}", team)])


def fastapi_app() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/teams/{team_id}")
    async def team(team_id: int) -> dict[str, int]:
        return {"id": team_id}

    return app


def flask_app() -> Any:
    from flask import Flask

    app = Flask("metrics_routes")

    @app.get("/teams/<int:team_id>")
    def team(team_id: int) -> str:
        return str(team_id)

    return app


ROUTED = {
    "porch": (porch_app, "/teams/<int:team_id>"),
    "starlette": (starlette_app, "/teams/{team_id}"),
    "fastapi": (fastapi_app, "/teams/{team_id}"),
    "flask": (flask_app, "/teams/<int:team_id>"),
}


@pytest.mark.parametrize("framework", ROUTED)
def test_requests_are_counted_by_route_template_never_raw_path(framework: str) -> None:
    make, template = ROUTED[framework]
    with MetricsServer(make()) as server, httpx.Client(base_url=server.url) as client:
        for team_id in range(1, 6):
            assert client.get(f"/teams/{team_id}").status_code == 200
        assert client.get("/nowhere").status_code == 404
        samples = server.scrape()
    assert value(samples, "porch_requests_total", method="GET", status="2xx", route=template) == 5
    assert total(samples, "porch_requests_total", status="4xx") == 1
    routes = {dict(labels)["route"] for (name, labels) in samples if name == "porch_requests_total"}
    assert not any(route.startswith("/teams/") and route[7:].isdigit() for route in routes)


@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
def test_a_django_project_names_its_routes_with_the_documented_middleware(interface: str) -> None:
    from tests.support import ROOT

    app = f"tests.apps.django_app.{interface}:application"
    metrics_port = free_port()
    args = ["run", app, "--interface", interface, "--metrics-port", str(metrics_port)]
    with PorchProcess([*args, "--no-access-log"], cwd=ROOT) as process:
        process.wait_ready(timeout=30)
        with httpx.Client(base_url=process.url) as client:
            for i in range(4):
                assert client.get(f"/items/{i}/x{i}").status_code == 200
            assert client.get("/nowhere").status_code == 404
        samples = parse(httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text)
    route = "items/<int:item_id>/<str:name>"
    assert value(samples, "porch_requests_total", method="GET", status="2xx", route=route) == 4
    assert value(samples, "porch_requests_total", method="GET", status="4xx", route="") == 1


# Units: what observe() keys a request by, and what files hold.


class FakeCycle:
    def __init__(self, method: str = "GET", status: int = 200, route: str = "") -> None:
        self.head = RequestHead(method, b"/", b"/", b"", [])
        self.head.route = route
        self.status = status
        self.bytes_sent = 10
        self.start_time = time.perf_counter()
        self.context: dict[str, Any] | None = None


def test_route_from_each_framework_convention() -> None:
    class Rule:
        rule = "/a/<int:b>"

    class WerkzeugRequest:
        url_rule = Rule()

    class StarletteRoute:
        path = "/a/{b}"

    assert route_from({"porch.route": "/mine"}) == "/mine"
    assert route_from({"route": StarletteRoute()}) == "/a/{b}"
    assert route_from({"werkzeug.request": WerkzeugRequest()}) == "/a/<int:b>"
    assert route_from({"werkzeug.request": object(), "route": object()}) == ""
    assert route_from({"porch.route": 42}) == ""


def test_past_max_series_new_routes_count_as_other(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    for i in range(MAX_SERIES + 10):
        metrics.observe(FakeCycle(route=f"/r/{i}"), time.perf_counter())  # type: ignore[arg-type]
    assert len(metrics.series) == MAX_SERIES + 1
    assert metrics.series[("GET", 200, "other")][0] == 10
    assert "count as 'other'" in caplog.text


def test_a_histogram_bucket_holds_what_is_at_most_its_bound() -> None:
    metrics = Metrics()
    for seconds in (0.0005, 0.001, 0.003, 20.0):
        cycle = FakeCycle()
        cycle.start_time = time.perf_counter() - seconds
        metrics.observe(cycle, time.perf_counter())  # type: ignore[arg-type]
    totals = Totals()
    totals.add(metrics.figures())
    (duration,) = [f for f in totals.families() if f.name == "porch_request_duration_seconds"]
    buckets = {s.labels["le"]: s.value for s in duration.samples if s.name.endswith("_bucket")}
    assert len(buckets) == len(BUCKETS) + 1
    assert (buckets["0.001"], buckets["0.005"], buckets["10.0"], buckets["+Inf"]) == (1, 3, 3, 4)


# Several workers: one page for all of them, whose counters never go back.

APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
"""


def test_workers_are_counted_together_and_counters_never_go_back(tmp_path: Path) -> None:
    (tmp_path / "metrics_app.py").write_text(APP)
    metrics_port = free_port()
    args = ["run", "metrics_app:app", "--workers", "3", "--metrics-port", str(metrics_port)]
    url = f"http://127.0.0.1:{metrics_port}/metrics"

    def requests() -> float:
        return total(parse(httpx.get(url).text), "porch_requests_total")

    with PorchProcess([*args, "--no-access-log"], cwd=tmp_path) as process:
        process.wait_ready(timeout=30)
        process.wait_output("serving", count=3, timeout=30)
        assert f"metrics at http://127.0.0.1:{metrics_port}/metrics" in process.output
        sent = 0
        pids = set()
        for _ in range(120):  # a new connection each: the workers share them
            with httpx.Client() as client:
                assert client.get(process.url).text == "ok"
            sent += 1
        # Each worker writes its figures every second: soon every request is on the page.
        assert wait_until(lambda: requests() == sent, timeout=5), requests()
        samples = parse(httpx.get(url).text)
        assert value(samples, "porch_workers") == 3
        assert value(samples, "porch_connections_total") == sent
        seen = [requests() for _ in range(20)]  # answered by whichever worker accepts
        assert seen == [sent] * 20
        # A worker dies: what it counted stays counted, and the restart is.
        pids = set(process.children())
        os.kill(sorted(pids)[0], signal.SIGKILL)
        assert wait_until(
            lambda: (
                value(parse(httpx.get(url).text), "porch_worker_restarts_total", reason="died") == 1
            ),
            timeout=10,
        )
        assert wait_until(lambda: value(parse(httpx.get(url).text), "porch_workers") == 3, 10)
        for _ in range(30):
            with httpx.Client() as client:
                client.get(process.url)
            sent += 1
            assert requests() <= sent
        assert wait_until(lambda: requests() == sent, timeout=5), requests()
        # A reload replaces every worker; nothing counted is lost.
        os.kill(process.proc.pid, signal.SIGHUP)
        assert wait_until(lambda: not pids & set(process.children()), timeout=30)
        assert wait_until(
            lambda: (
                value(parse(httpx.get(url).text), "porch_worker_restarts_total", reason="reloaded")
                == 3
            ),
            timeout=10,
        )
        assert requests() == sent
        assert process.stop() == 0
    # The supervisor removed the folder where the workers' figures met.
    folders = os.listdir(tempfile.gettempdir())
    assert not [name for name in folders if name.startswith(f"porch-metrics-{process.proc.pid}-")]


def test_a_metrics_port_in_use_stops_startup_clearly(tmp_path: Path) -> None:
    (tmp_path / "metrics_app.py").write_text(APP)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["run", "metrics_app:app", "--metrics-port", str(port)]
        with PorchProcess(args, cwd=tmp_path) as process:
            code = process.wait_exit(timeout=15)
    assert code != 0
    assert f"Could not listen on 127.0.0.1:{port} for --metrics-port" in process.output
    assert "Traceback" not in process.output


def test_the_metrics_port_is_checked() -> None:
    with pytest.raises(ValueError, match="--metrics-port must be between 0 and 65535"):
        Settings(metrics_port=70000).validate()

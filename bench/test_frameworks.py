"""Tests of the framework scenarios: the shared routes, porch's application, the real check."""

import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bench.answers import answer_problem, refusal_problem
from bench.apps.frameworks.common import (
    BAD_ORDERS,
    BAD_QUERIES,
    FILLER_ROUTES,
    ORDER,
    ROUTE,
    TEAMS,
    translate,
)
from bench.database import BenchDatabase
from bench.request import Request
from bench.runner import check_all
from bench.scenarios import (
    APPS,
    DATABASE_SCENARIOS,
    FRAMEWORK_PEERS,
    FRAMEWORK_SCENARIOS,
    TYPED_PEERS,
    TYPED_SCENARIOS,
    Scenario,
)
from porch.testing import TestClient

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("style", "written"),
    [
        ("porch", "/users/<int:user_id>/posts/<slug:post>"),
        ("starlette", "/users/{user_id:int}/posts/{post:str}"),
        ("fastapi", "/users/{user_id}/posts/{post}"),
        ("litestar", "/users/{user_id:int}/posts/{post:str}"),
        ("blacksheep", "/users/{int:user_id}/posts/{str:post}"),
        ("sanic", "/users/<user_id:int>/posts/<post:slug>"),
        ("falcon", "/users/{user_id:int}/posts/{post}"),
        ("flask", "/users/<int:user_id>/posts/<string:post>"),
        ("django", "users/<int:user_id>/posts/<slug:post>"),
    ],
)
def test_translate_writes_the_route_in_each_syntax(style: str, written: str) -> None:
    assert translate(ROUTE, style) == written


def test_translate_leaves_static_routes_alone() -> None:
    assert translate("/api/v1/clubs", "starlette") == "/api/v1/clubs"
    assert translate("/api/v1/clubs", "django") == "api/v1/clubs"
    assert translate("/clubs/by-name/<str:name>", "falcon") == "/clubs/by-name/{name}"


def test_filler_routes_are_varied_and_distinct() -> None:
    assert len(set(FILLER_ROUTES)) == 96
    static = [path for path in FILLER_ROUTES if "<" not in path]
    assert 0 < len(static) < len(FILLER_ROUTES)
    # Some share the measured route's first segments, so that a tree must branch there.
    assert any(path.startswith("/users/<int:user_id>/") for path in FILLER_ROUTES)


@pytest.fixture(scope="module")
def porch_app() -> Iterator[ModuleType]:
    """bench/apps/frameworks/porch_app.py, imported as the servers import it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(APPS))
        yield importlib.import_module("frameworks.porch_app")


def test_porch_app_has_100_routes_the_measured_one_last(porch_app: ModuleType) -> None:
    routes = porch_app.app.routes
    assert len(routes) == 100
    assert routes[-1].path == ROUTE
    assert [route.path for route in routes[:3]] == ["/", "/json", "/teams"]


@pytest.mark.parametrize("path", ["native", "asgi"])
@pytest.mark.parametrize("scenario", FRAMEWORK_SCENARIOS, ids=lambda scenario: scenario.name)
def test_porch_app_answers_every_framework_scenario(
    porch_app: ModuleType, scenario: Scenario, path: str
) -> None:
    with TestClient(porch_app.app, path=path) as client:
        response = client.get(scenario.path)
    assert response.status_code == 200
    assert scenario.expect.problem(response.content, response.headers["content-type"]) is None


def test_template_scenario_checks_every_team() -> None:
    (template,) = [s for s in FRAMEWORK_SCENARIOS if s.name == "fw-template"]
    assert template.expect.describe() == f"an HTML page with a table of {len(TEAMS)} rows"
    assert template.target is None
    assert template.reference == "starlette"


def test_every_framework_scenario_runs_every_peer() -> None:
    assert [scenario.name for scenario in FRAMEWORK_SCENARIOS] == [
        "fw-plaintext", "fw-json", "fw-route", "fw-template"
    ]  # fmt: skip
    assert set(FRAMEWORK_PEERS) == {
        "starlette", "fastapi", "litestar", "blacksheep", "sanic", "falcon", "flask", "django"
    }  # fmt: skip
    for scenario in FRAMEWORK_SCENARIOS:
        assert scenario.ahead_of == FRAMEWORK_PEERS
        assert scenario.group == "framework"
        labels = {server.label for server in scenario.servers}
        assert labels >= {"porch", *FRAMEWORK_PEERS}


def test_typed_scenarios_run_the_typed_peers_against_fastapi() -> None:
    assert [scenario.name for scenario in TYPED_SCENARIOS] == ["fw-typed-post", "fw-typed-get"]
    assert TYPED_PEERS == ("fastapi", "litestar", "blacksheep")
    for scenario in TYPED_SCENARIOS:
        assert [server.label for server in scenario.servers] == ["porch", *TYPED_PEERS]
        assert scenario.ahead_of == TYPED_PEERS
        assert scenario.group == "framework"
        assert scenario.target is not None
        assert scenario.target.describe() == "porch >= 3x fastapi"
    post, get = TYPED_SCENARIOS
    assert (post.method, post.expect.status, len(post.refused)) == ("POST", 201, len(BAD_ORDERS))
    assert json.loads(post.body) == ORDER
    assert (get.method, get.expect.status, get.body) == ("GET", 200, b"")
    # Each bad query, and the good one without its header.
    assert len(get.refused) == len(BAD_QUERIES) + 1
    assert all(request != get.request for request in get.refused)


def send(client: TestClient, request: Request) -> tuple[int, str, bytes]:
    """A bench request through a TestClient: the answer's status, content type and body."""
    response = client.request(
        request.method, request.path, headers=dict(request.headers), content=request.body
    )
    return response.status_code, response.headers.get("content-type", ""), response.content


# (module in bench/apps/frameworks/, the package it needs, TestClient path)
TYPED_APPS = [
    ("porch_typed", "porch", "native"),
    ("porch_typed", "porch", "asgi"),
    ("fastapi_typed", "fastapi", "asgi"),
    ("litestar_typed", "litestar", "asgi"),
    ("blacksheep_typed", "blacksheep", "asgi"),
]


@pytest.mark.parametrize(("module", "package", "path"), TYPED_APPS)
def test_every_typed_app_answers_and_refuses_what_the_scenarios_say(
    module: str, package: str, path: str
) -> None:
    pytest.importorskip(package)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(APPS))
        app = importlib.import_module(f"frameworks.{module}").app
    # One start per application: BlackSheep's cannot start twice in a process.
    with TestClient(app, path=path) as client:
        for scenario in TYPED_SCENARIOS:
            status, content_type, body = send(client, scenario.request)
            assert answer_problem(scenario.expect, status, body, content_type) is None, scenario
            for invalid in scenario.refused:
                status, _, body = send(client, invalid)
                assert refusal_problem(status, body) is None, invalid


@pytest.mark.skipif(shutil.which("taskset") is None, reason="taskset is not installed")
def test_check_runs_porch_for_real_and_says_so() -> None:
    scenarios = FRAMEWORK_SCENARIOS + TYPED_SCENARIOS
    names = [arg for scenario in scenarios for arg in ("--scenario", scenario.name)]
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--check", "--server", "porch", *names],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for scenario in scenarios:
        assert f"{scenario.name} · porch: answers as expected" in result.stdout
    assert "all 6 answered as expected" in result.stdout


# The database applications, against the harness's PostgreSQL (tests/databases.py's server).

# (module in bench/apps/frameworks/, its server's label, TestClient path)
DATABASE_APPS = [
    ("porch_db", "porch", "native"),
    ("porch_db", "porch", "asgi"),
    ("fastapi_db", "fastapi-sqlalchemy", "asgi"),
    ("fastapi_asyncpg", "fastapi-asyncpg", "asgi"),
]


def database_app(module: str, label: str, database: BenchDatabase) -> Any:
    """A database application, imported with the environment its server gets in a run."""
    server = DATABASE_SCENARIOS[0].server(label)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in server.environment({"database": database.address}).items():
            patch.setenv(name, value)
        patch.syspath_prepend(str(APPS))
        return importlib.import_module(f"frameworks.{module}").app


def check_database_scenarios(database: BenchDatabase, send: Callable[[Request], Any]) -> None:
    """Every database scenario's answer, and the database after it, through `send`, which
    answers (status, content type, body)."""
    for scenario in DATABASE_SCENARIOS:

        def answer(scenario: Scenario = scenario) -> bytes:
            status, content_type, body = send(scenario.request)
            problem = answer_problem(scenario.expect, status, body, content_type)
            assert problem is None, (scenario.name, problem)
            return bytes(body)

        assert scenario.database_check is not None
        assert scenario.database_check.problem(database, answer) is None, scenario.name


@pytest.mark.parametrize(("module", "label", "path"), DATABASE_APPS)
def test_every_async_database_app_answers_what_the_scenarios_say(
    bench_database: BenchDatabase, module: str, label: str, path: str
) -> None:
    app = database_app(module, label, bench_database)
    with TestClient(app, path=path) as client:
        check_database_scenarios(bench_database, lambda request: send(client, request))


def test_the_flask_database_app_answers_what_the_scenarios_say(
    bench_database: BenchDatabase,
) -> None:
    client = database_app("flask_db", "flask-sqlalchemy", bench_database).test_client()

    def flask_send(request: Request) -> tuple[int, str, bytes]:
        response = client.get(request.path)
        return response.status_code, response.content_type, response.data

    check_database_scenarios(bench_database, flask_send)


@pytest.mark.skipif(shutil.which("taskset") is None, reason="taskset is not installed")
def test_the_django_database_app_answers_on_gunicorn(bench_database: BenchDatabase) -> None:
    # Django's settings belong to the process (django_app.py may have them already): it is
    # checked as a run checks it, on gunicorn, against a PostgreSQL the harness starts.
    said: list[str] = []
    cpus = sorted(os.sched_getaffinity(0))
    found = check_all(DATABASE_SCENARIOS, cpus[0], said.append, ["django"], cpus[-1])
    assert [outcome.failure for outcome in found.values()] == [None] * 4, said
    assert said[-4:] == [f"{s.name} · django: answers as expected" for s in DATABASE_SCENARIOS]


def test_porch_and_fastapi_map_the_same_tables_and_columns(bench_database: BenchDatabase) -> None:
    porch = database_app("porch_db", "porch", bench_database)
    fastapi = database_app("fastapi_db", "fastapi-sqlalchemy", bench_database)
    assert porch is not None and fastapi is not None
    for model in ("World", "Fortune"):
        tables = [
            getattr(sys.modules[f"frameworks.{module}"], model).__table__
            for module in ("porch_db", "fastapi_db")
        ]
        shapes = [
            [(c.name, type(c.type).__name__, c.primary_key) for c in table.columns]
            for table in tables
        ]
        assert tables[0].name == tables[1].name
        assert shapes[0] == shapes[1]

"""Tests of the framework scenarios: the shared routes, porch's application, the real check."""

import importlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

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
from bench.request import Request
from bench.scenarios import (
    APPS,
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

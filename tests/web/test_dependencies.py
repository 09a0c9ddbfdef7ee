"""Dependencies and typed arguments per request (porch/web/dependencies.py): values read and
validated, dependencies solved once, clean-ups after the handler, overrides; both paths."""

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any

import msgspec
import pytest

from porch import App, Depends, Header, HTTPError, Query, Request, Router, Settings, abort
from porch.testing import TestClient

Client = Callable[..., TestClient]


class Page(msgspec.Struct):
    number: int
    size: int


class Config(Settings):
    page_size: int = 20


async def pagination(config: Config, page: Annotated[int, Query(ge=1)] = 1) -> Page:
    return Page(page, config.page_size)


def test_a_dependency_chain_with_settings_by_type(client_for: Client) -> None:
    app = App(__name__, settings=Config(page_size=5))

    @app.get("/items")
    def items(p: Annotated[Page, Depends(pagination)]) -> dict[str, int]:
        return {"page": p.number, "size": p.size}

    client = client_for(app)
    assert client.get("/items?page=3").json() == {"page": 3, "size": 5}
    assert client.get("/items").json() == {"page": 1, "size": 5}
    problem = client.get("/items?page=0").json()
    assert problem["errors"] == [
        {"loc": ["query", "page"], "msg": "Expected `int` >= 1", "type": "constraint"}
    ]


def test_solved_once_per_request_unless_asked(client_for: Client) -> None:
    app = App(__name__)
    calls: list[str] = []

    def counted() -> int:
        calls.append("counted")
        return len(calls)

    def uncached() -> int:
        calls.append("uncached")
        return len(calls)

    def user(n: Annotated[int, Depends(counted)]) -> str:
        return f"user{n}"

    @app.get("/")
    async def index(
        a: Annotated[int, Depends(counted)],
        b: Annotated[str, Depends(user)],
        c: Annotated[int, Depends(uncached, use_cache=False)],
        d: Annotated[int, Depends(uncached, use_cache=False)],
    ) -> dict[str, Any]:
        return {"a": a, "b": b, "c": c, "d": d}

    client = client_for(app)
    assert client.get("/").json() == {"a": 1, "b": "user1", "c": 2, "d": 3}
    assert calls == ["counted", "uncached", "uncached"]
    calls.clear()
    assert client.get("/").json()["a"] == 1  # a new request solves afresh


def test_def_dependencies_run_in_worker_threads(client_for: Client) -> None:
    app = App(__name__)

    def where() -> str:
        return threading.current_thread().name

    async def where_async() -> str:
        return threading.current_thread().name

    @app.get("/")
    async def index(
        sync: Annotated[str, Depends(where)], on_loop: Annotated[str, Depends(where_async)]
    ) -> dict[str, str]:
        return {"sync": sync, "async": on_loop}

    answer = client_for(app).get("/").json()
    assert answer["sync"].startswith("porch-app")
    assert not answer["async"].startswith("porch-app")


class Session:
    """A stand-in for a database session: what happened to it, in order."""

    log: list[str]

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def commit(self) -> None:
        if "fail-commit" in self.log:
            raise RuntimeError("commit failed")
        self.log.append("commit")


def session_app(log: list[str], asynchronous: bool) -> App:
    app = App(__name__)

    async def async_session() -> AsyncIterator[Session]:
        session = Session(log)
        log.append("open")
        try:
            yield session
        except Exception as exc:
            log.append(f"rollback {type(exc).__name__}")
            raise
        else:
            session.commit()
        finally:
            log.append("close")

    def sync_session() -> Iterator[Session]:
        session = Session(log)
        log.append("open")
        try:
            yield session
        except Exception as exc:
            log.append(f"rollback {type(exc).__name__}")
            raise
        else:
            session.commit()
        finally:
            log.append("close")

    provider = async_session if asynchronous else sync_session

    @app.get("/ok")
    def ok(session: Annotated[Session, Depends(provider)]) -> str:
        log.append("handler")
        return "ok"

    @app.get("/fails")
    def fails(session: Annotated[Session, Depends(provider)]) -> str:
        log.append("handler")
        raise ValueError("the handler failed")

    @app.get("/teapot")
    def teapot(session: Annotated[Session, Depends(provider)]) -> str:
        abort(418)

    @app.after_request
    def answered(request: Request, response: Any) -> None:
        log.append(f"after_request {response.status}")

    return app


@pytest.mark.parametrize("asynchronous", [True, False], ids=["async-generator", "generator"])
def test_generator_dependencies_clean_up_before_the_response(
    client_for: Client, asynchronous: bool
) -> None:
    log: list[str] = []
    client = client_for(session_app(log, asynchronous))
    assert client.get("/ok").text == "ok"
    # After the handler, before the response goes (the after_request hooks see it then).
    assert log == ["open", "handler", "commit", "close", "after_request 200"]
    log.clear()
    assert client.get("/fails").status_code == 500
    assert log == ["open", "handler", "rollback ValueError", "close", "after_request 500"]
    log.clear()
    assert client.get("/teapot").status_code == 418
    assert log == ["open", "rollback HTTPError", "close", "after_request 418"]
    # A commit that fails changes the answer.
    log.clear()
    log.append("fail-commit")
    assert client.get("/ok").status_code == 500
    assert log[-2:] == ["close", "after_request 500"]


def test_router_and_app_dependencies_guard_every_route_below(client_for: Client) -> None:
    def require_token(x_token: Annotated[str, Header()]) -> None:
        if x_token != "secret":
            raise HTTPError(401, "Bad token")

    seen: list[str] = []

    def note() -> None:
        seen.append("app dependency")

    app = App(__name__, dependencies=[Depends(note)])
    api = Router(prefix="/api", dependencies=[Depends(require_token)])

    @api.get("/items")
    async def items() -> list[int]:
        return [1, 2]

    @app.get("/")
    async def index() -> str:
        return "home"

    app.include(api)
    client = client_for(app)
    assert client.get("/").text == "home"
    assert client.get("/api/items", headers={"X-Token": "secret"}).json() == [1, 2]
    assert client.get("/api/items", headers={"X-Token": "nope"}).status_code == 401
    missing = client.get("/api/items")
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["loc"] == ["header", "x-token"]
    assert seen == ["app dependency"] * 4


def test_overrides_replace_a_dependency(client_for: Client) -> None:
    app = App(__name__)

    def real_user() -> str:
        raise RuntimeError("would hit the database")

    @app.get("/me")
    async def me(user: Annotated[str, Depends(real_user)]) -> str:
        return user

    def fake_user(name: str = "ann") -> str:
        return f"fake {name}"

    app.dependency_overrides[real_user] = fake_user
    client = client_for(app)
    assert client.get("/me").text == "fake ann"
    assert client.get("/me?name=bob").text == "fake bob"  # the fake's own parameters
    app.dependency_overrides.clear()
    assert client.get("/me").status_code == 500


def test_every_error_is_reported_and_a_failing_dependency_is_not_called(
    client_for: Client,
) -> None:
    app = App(__name__)
    called: list[str] = []

    def needs_a_number(n: int) -> int:
        called.append("needs_a_number")
        return n

    @app.get("/")
    async def index(
        value: Annotated[int, Depends(needs_a_number)],
        limit: Annotated[int, Query(le=10)],
        tag: list[str],
    ) -> str:
        return "never"

    problem = client_for(app).get("/?n=x&limit=11").json()
    assert problem["status"] == 422
    assert problem["detail"] == "The request is not valid (3 errors)"
    assert problem["errors"] == [
        {"loc": ["query", "n"], "msg": "Expected `int`, got `str`", "type": "type"},
        {"loc": ["query", "limit"], "msg": "Expected `int` <= 10", "type": "constraint"},
        {"loc": ["query", "tag"], "msg": "Field required", "type": "missing"},
    ]
    assert called == []


def test_the_value_is_converted_after_the_clean_ups(client_for: Client) -> None:
    # As a session's commit gives a new row its key before the response model reads it.
    class Row:
        def __init__(self) -> None:
            self.id: int | None = None
            self.name = "new"

    class RowOut(msgspec.Struct):
        id: int
        name: str

    def store() -> Iterator[list[Row]]:
        pending: list[Row] = []
        yield pending
        for number, row in enumerate(pending, 1):
            row.id = number  # "committed"

    app = App(__name__)

    @app.post("/rows", status=201)
    def add(pending: Annotated[list[Row], Depends(store)]) -> RowOut:
        row = Row()
        pending.append(row)
        return row  # type: ignore[return-value]

    response = client_for(app).post("/rows")
    assert (response.status_code, response.json()) == (201, {"id": 1, "name": "new"})

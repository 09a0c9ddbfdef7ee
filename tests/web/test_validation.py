"""Typed input validated before the handler (porch/web/validation.py, the problem details it
answers with): every location, the 400/415/422 bodies, and that handlers get exactly the
validated, converted values; both paths."""

import datetime
import decimal
import enum
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec
import pytest

from porch import App, Body, Cookie, File, Form, Header, Query, UploadFile
from porch.testing import TestClient
from porch.web.validation import from_msgspec

Client = Callable[..., TestClient]


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Line(msgspec.Struct):
    sku: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}-\d+$")]
    quantity: Annotated[int, msgspec.Meta(gt=0)]


class Order(msgspec.Struct):
    customer: Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
    lines: list[Line]
    note: str | None = None


def typed_app() -> tuple[App, list[dict[str, Any]]]:
    app = App(__name__)
    received: list[dict[str, Any]] = []

    @app.get("/search/<int:shop_id>")
    async def search(
        shop_id: int,
        q: str,
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
        tags: list[str] = [],  # noqa: B006 - a default the handler never changes
        colour: Colour | None = None,
        kind: Literal["new", "used"] = "new",
        since: datetime.date | None = None,
        ratio: decimal.Decimal = decimal.Decimal("1.5"),
        ref: uuid.UUID | None = None,
        exact: bool = False,
        x_token: Annotated[str | None, Header()] = None,
        session: Annotated[str | None, Cookie()] = None,
    ) -> dict[str, Any]:
        values = dict(locals())
        received.append(values)
        return {key: repr(value) for key, value in values.items()}

    @app.post("/orders", status=201)
    async def create(order: Order) -> Order:
        received.append({"order": order})
        return order

    @app.post("/embedded")
    async def embedded(
        order: Annotated[Order, Body(embed=True)], priority: Annotated[int, Body(ge=1)] = 1
    ) -> dict[str, Any]:
        return {"customer": order.customer, "priority": priority}

    @app.post("/upload")
    async def upload(
        title: Annotated[str, Form(min_length=2)], photo: UploadFile, count: Annotated[int, Form()]
    ) -> dict[str, Any]:
        return {"title": title, "count": count, "size": len(await photo.read())}

    @app.post("/files")
    async def files(documents: Annotated[list[UploadFile], File()]) -> list[str]:
        return [document.filename for document in documents]

    return app, received


def test_handlers_get_exactly_the_converted_values(client_for: Client) -> None:
    app, received = typed_app()
    client = client_for(app)
    client.cookies.set("session", "s")
    ref = "12345678-1234-5678-1234-567812345678"
    response = client.get(
        f"/search/7?q=shoes&limit=5&tags=a&tags=b&colour=blue&kind=used&since=2026-12-06"
        f"&ratio=2.25&ref={ref}&exact=true",
        headers={"X-Token": "t"},
    )
    assert response.status_code == 200, response.text
    values = received[-1]
    assert values["shop_id"] == 7
    assert (values["q"], values["limit"], values["tags"]) == ("shoes", 5, ["a", "b"])
    assert values["colour"] is Colour.BLUE and values["kind"] == "used"
    assert values["since"] == datetime.date(2026, 12, 6)
    assert values["ratio"] == decimal.Decimal("2.25") and values["ref"] == uuid.UUID(ref)
    assert values["exact"] is True
    assert (values["x_token"], values["session"]) == ("t", "s")
    client.cookies.clear()
    defaults = client.get("/search/7?q=x")
    assert defaults.status_code == 200
    values = received[-1]
    assert (values["limit"], values["tags"], values["colour"], values["x_token"]) == (
        10,
        [],
        None,
        None,
    )
    assert values["session"] is None


@pytest.mark.parametrize(
    "query,errors",
    [
        ("", [(["query", "q"], "missing")]),
        ("q=x&limit=0", [(["query", "limit"], "constraint")]),
        ("q=x&limit=ten", [(["query", "limit"], "type")]),
        ("q=x&colour=green", [(["query", "colour"], "invalid")]),
        ("q=x&kind=old", [(["query", "kind"], "invalid")]),
        ("q=x&since=yesterday", [(["query", "since"], "invalid")]),
        ("q=x&ref=nope&exact=maybe", [(["query", "ref"], "invalid"), (["query", "exact"], "type")]),
    ],
)
def test_bad_query_values_are_422(client_for: Client, query: str, errors: list[Any]) -> None:
    app, received = typed_app()
    response = client_for(app).get(f"/search/7?{query}")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["type"], problem["title"], problem["status"]) == (
        "about:blank",
        "Unprocessable Content",
        422,
    )
    assert [(error["loc"], error["type"]) for error in problem["errors"]] == errors
    assert all(error["msg"] for error in problem["errors"])
    assert received == []  # the handler never ran


def test_json_body_into_a_struct(client_for: Client) -> None:
    app, received = typed_app()
    client = client_for(app)
    order = {"customer": "Ann", "lines": [{"sku": "ABC-1", "quantity": 2}]}
    response = client.post("/orders", json=order)
    assert response.status_code == 201
    assert response.json() == {**order, "note": None}
    assert received[-1]["order"] == Order("Ann", [Line("ABC-1", 2)])
    # Where in the body each error is.
    bad = {"customer": "", "lines": [{"sku": "ABC-1", "quantity": 2}, {"sku": "x", "quantity": 1}]}
    errors = client.post("/orders", json=bad).json()["errors"]
    assert [error["loc"] for error in errors] == [["body", "customer"]]
    bad["customer"] = "Ann"
    errors = client.post("/orders", json=bad).json()["errors"]
    assert errors[0]["loc"] == ["body", "lines", 1, "sku"]
    assert errors[0]["type"] == "constraint"
    errors = client.post("/orders", json={"lines": []}).json()["errors"]
    assert errors == [{"loc": ["body", "customer"], "msg": "Field required", "type": "missing"}]


def test_malformed_and_mistyped_bodies(client_for: Client) -> None:
    app, _ = typed_app()
    client = client_for(app)
    headers = {"Content-Type": "application/json"}
    broken = client.post("/orders", content=b'{"customer": ', headers=headers)
    assert broken.status_code == 400
    assert broken.headers["content-type"] == "application/problem+json"
    assert broken.json()["detail"].startswith("The request body is not valid JSON")
    deep = client.post("/embedded", content=b'{"order": ' + b"[" * 100_000, headers=headers)
    assert deep.status_code == 400
    assert deep.json()["detail"] == "The request body is not valid JSON: nested too deeply"
    # JSON sent as a form would be (a cross-site form posts text/plain without a preflight).
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        sent = {"Content-Type": content_type} if content_type else {}
        response = client.post("/orders", content=b'{"customer": "A", "lines": []}', headers=sent)
        assert response.status_code == 415, content_type
        assert response.json()["status"] == 415
    assert client.post("/orders").json()["errors"] == [
        {"loc": ["body"], "msg": "Field required", "type": "missing"}
    ]
    vendor = {"Content-Type": "application/vnd.shop+json; charset=utf-8"}
    body = b'{"customer": "A", "lines": []}'
    assert client.post("/orders", content=body, headers=vendor).status_code == 201


def test_embedded_body_fields(client_for: Client) -> None:
    app, _ = typed_app()
    client = client_for(app)
    order = {"customer": "Ann", "lines": []}
    assert client.post("/embedded", json={"order": order, "priority": 3}).json() == {
        "customer": "Ann",
        "priority": 3,
    }
    assert client.post("/embedded", json={"order": order}).json()["priority"] == 1
    errors = client.post("/embedded", json={"order": {}, "priority": 0}).json()["errors"]
    assert [error["loc"] for error in errors] == [
        ["body", "order", "customer"],
        ["body", "priority"],
    ]


def test_form_fields_and_files(client_for: Client) -> None:
    app, _ = typed_app()
    client = client_for(app)
    response = client.post(
        "/upload", data={"title": "Crest", "count": "3"}, files={"photo": ("c.png", b"x" * 10)}
    )
    assert response.json() == {"title": "Crest", "count": 3, "size": 10}
    missing = client.post("/upload", data={"title": "C", "count": "x"})
    assert [(e["loc"], e["type"]) for e in missing.json()["errors"]] == [
        (["form", "title"], "constraint"),
        (["file", "photo"], "missing"),
        (["form", "count"], "type"),
    ]
    several = client.post(
        "/files", files=[("documents", ("a.txt", b"a")), ("documents", ("b.txt", b"b"))]
    )
    assert several.json() == ["a.txt", "b.txt"]


def test_msgspec_messages_become_located_errors() -> None:
    def error_of(data: bytes, kind: Any) -> dict[str, Any]:
        try:
            msgspec.json.decode(data, type=kind)
        except msgspec.ValidationError as exc:
            return from_msgspec(exc, ["body"])
        raise AssertionError("valid")

    assert error_of(b'{"customer": "a", "lines": [{"sku": 1}]}', Order) == {
        "loc": ["body", "lines", 0, "sku"],
        "msg": "Expected `str`, got `int`",
        "type": "type",
    }
    # msgspec names no dict key: the step is "...".
    assert error_of(b'{"a": [1, "x"]}', dict[str, list[int]])["loc"] == ["body", "...", 1]
    assert error_of(b'{"customer": "a"}', Order)["loc"] == ["body", "lines"]

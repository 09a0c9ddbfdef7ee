"""The OpenAPI document (porch/web/openapi.py) and how it and the docs page are served
(porch/web/docs.py): an application with typed routes of every kind, checked field by field,
and the whole document against openapi-spec-validator; served through both paths."""

import dataclasses
import datetime
import decimal
import enum
import hashlib
import uuid
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal, TypedDict

import msgspec
import pytest
from openapi_spec_validator import validate

from porch import (
    App,
    Body,
    Cookie,
    Depends,
    File,
    Form,
    Header,
    Path,
    Query,
    Request,
    Router,
    UploadFile,
)
from porch.testing import TestClient
from porch.web.docs import CONTENT_SECURITY_POLICY
from porch.web.openapi import openapi_document

Client = Callable[..., TestClient]
REF = "#/components/schemas/"


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


class Address(TypedDict):
    street: str
    city: str


@dataclasses.dataclass
class Dimensions:
    width: float
    height: float = 1.0


class Maker(msgspec.Struct):
    name: str
    address: Address | None = None


class Item(msgspec.Struct):
    """An item for sale."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
    price: Annotated[decimal.Decimal, msgspec.Meta(description="In euros")]
    sku: uuid.UUID
    added: datetime.datetime
    colour: Colour = Colour.RED
    size: Literal["S", "M", "L"] = "M"
    tags: list[str] = []
    maker: Maker | None = None
    dimensions: Dimensions | None = None
    released: datetime.date | None = None


class Page(msgspec.Struct):
    number: int
    size: int


class Stranger:
    """A class msgspec knows nothing of."""


class Odd(msgspec.Struct):
    stranger: Stranger | None = None


def page_size(size: Annotated[int, Query(ge=1, le=100)] = 20) -> int:
    return size


def pagination(
    size: Annotated[int, Depends(page_size)],
    page: Annotated[int, Query(ge=1, description="Page number")] = 1,
) -> Page:
    return Page(page, size)


def audited(x_request_id: Annotated[str | None, Header(alias="X-Request-ID")] = None) -> None:
    return None


def typed_app() -> App:
    """Routes that read every kind of thing, in routers with tags and names."""
    app = App(__name__, static_folder=None, title="Shop", version="2.1", description="A shop.")

    @app.get("/items/<int:item_id>")
    async def get_item(
        item_id: int,
        q: str | None = None,
        limit: Annotated[int, Query(ge=1, le=100, description="At most", example=5)] = 10,
        colours: Annotated[list[Colour], Query(alias="colour")] = [],  # noqa: B006
        old: Annotated[str | None, Query(deprecated=True)] = None,
        secret: Annotated[str | None, Query(include_in_schema=False)] = None,
    ) -> Item:
        """Fetch one item.

        Looked up by its id;
        404 if there is none.
        """
        raise NotImplementedError

    @app.post("/items", status=201, tags=["items"], summary="Add an item")
    async def create_item(
        item: Item,
        x_token: Annotated[str, Header(pattern="^[a-z]+$")],
        session: Annotated[str | None, Cookie()] = None,
    ) -> Item:
        """Adds an item to the shop."""
        return item

    @app.put("/items/<uuid:sku>/price")
    def set_price(
        sku: uuid.UUID,
        price: Annotated[decimal.Decimal, Body()],
        reason: Annotated[str, Body(max_length=200)] = "",
    ) -> None:
        return None

    @app.post("/items/<int:item_id>/photos")
    def add_photo(
        item_id: Annotated[int, Path(ge=1, description="The item")],
        caption: Annotated[str, Form(max_length=80)],
        photo: Annotated[UploadFile, File(description="A JPEG")],
        more: list[UploadFile] | None = None,
    ) -> dict[str, str]:
        return {}

    @app.get("/items", dependencies=[Depends(audited)])
    def list_items(
        p: Annotated[Page, Depends(pagination)],
        again: Annotated[Page, Depends(pagination)],
        size: Annotated[int, Depends(page_size)],
    ) -> list[Item]:
        return []

    @app.route("/things/<slug:slug>", methods=["GET", "DELETE"])
    def thing(slug: str) -> str:
        return ""

    @app.get("/contact", operation_id="getContact", deprecated=True)
    def contact(request: Request) -> str:
        return ""

    @app.get("/hidden", include_in_schema=False)
    def hidden() -> str:
        return ""

    @app.get("/odd")
    def odd() -> Odd:
        return Odd()

    @app.post("/echo")
    async def echo(items: list[Dimensions], request: Request) -> dict[str, Any]:
        return {}

    admin = Router("/admin", tags=["admin"], name="admin")
    shop = Router("/shop", tags=["shop"], name="shop")
    for router in (admin, shop):

        @router.get("/status", tags=["status"])
        def status() -> dict[str, str]:
            return {}

        app.include(router)

    # One router served twice: its routes have the same names.
    versioned = Router()

    @versioned.get("/version")
    def version() -> dict[str, str]:
        return {}

    app.include(versioned, prefix="/v1")
    app.include(versioned, prefix="/v2")
    return app


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document(typed_app())


def operation(document: dict[str, Any], path: str, method: str = "get") -> dict[str, Any]:
    result: dict[str, Any] = document["paths"][path][method]
    return result


def parameters(document: dict[str, Any], path: str, method: str = "get") -> dict[str, Any]:
    """The operation's parameters by (in, name)."""
    found = operation(document, path, method).get("parameters", [])
    return {(parameter["in"], parameter["name"]): parameter for parameter in found}


def component(document: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    """The component a `$ref` schema points at."""
    result: dict[str, Any] = document["components"]["schemas"][reference["$ref"][len(REF) :]]
    return result


# The whole document.


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)  # raises with the first thing wrong
    assert document["openapi"] == "3.1.0"
    assert document["info"] == {"title": "Shop", "version": "2.1", "description": "A shop."}


def test_every_documented_route_is_there_and_only_those(document: dict[str, Any]) -> None:
    assert list(document["paths"]) == [
        "/items/{item_id}",
        "/items",
        "/items/{sku}/price",
        "/items/{item_id}/photos",
        "/things/{slug}",
        "/contact",
        "/odd",
        "/echo",
        "/admin/status",
        "/shop/status",
        "/v1/version",
        "/v2/version",
    ]
    assert list(document["paths"]["/items"]) == ["get", "post"]
    # HEAD and OPTIONS are answered for every route, and not listed.
    assert list(document["paths"]["/things/{slug}"]) == ["get", "delete"]
    assert "/hidden" not in document["paths"]
    # Neither the document nor the page describe themselves.
    assert "/openapi.json" not in document["paths"] and "/docs" not in document["paths"]


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [
        (path, method, op["operationId"])
        for path, item in document["paths"].items()
        for method, op in item.items()
    ]
    assert len({operation_id for _, _, operation_id in ids}) == len(ids)
    by_path = {(path, method): operation_id for path, method, operation_id in ids}
    assert by_path[("/items/{item_id}", "get")] == "get_item"
    assert by_path[("/contact", "get")] == "getContact"  # the route's own
    assert by_path[("/things/{slug}", "get")] == "thing_get"  # one route, two methods
    assert by_path[("/things/{slug}", "delete")] == "thing_delete"
    # Routers with names: their routes' names differ.
    assert by_path[("/admin/status", "get")] == "admin_status"
    assert by_path[("/shop/status", "get")] == "shop_status"
    # One router included twice: the same name, made unique.
    assert by_path[("/v1/version", "get")] == "version"
    assert by_path[("/v2/version", "get")] == "version_2"


# Parameters.


def test_path_parameters_from_the_converter_or_the_annotation(document: dict[str, Any]) -> None:
    assert parameters(document, "/items/{item_id}")[("path", "item_id")] == {
        "name": "item_id",
        "in": "path",
        "required": True,
        # The annotation's type, and what the converter adds: digits, no sign.
        "schema": {"type": "integer", "minimum": 0},
    }
    assert parameters(document, "/items/{sku}/price", "put")[("path", "sku")]["schema"] == {
        "type": "string",
        "format": "uuid",
    }
    photo = parameters(document, "/items/{item_id}/photos", "post")[("path", "item_id")]
    assert photo["description"] == "The item"
    assert photo["schema"] == {"type": "integer", "minimum": 1, "description": "The item"}
    # No annotation of the handler's: what the converter takes.
    assert parameters(document, "/things/{slug}")[("path", "slug")]["schema"] == {
        "type": "string",
        "pattern": "^[-a-zA-Z0-9_]+$",
    }


def test_query_parameters_with_constraints_defaults_and_docs(document: dict[str, Any]) -> None:
    found = parameters(document, "/items/{item_id}")
    assert found[("query", "q")] == {
        "name": "q",
        "in": "query",
        "required": False,
        "schema": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    }
    limit = found[("query", "limit")]
    assert limit["required"] is False
    assert limit["description"] == "At most"
    assert limit["example"] == 5
    assert limit["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 10,
        "description": "At most",
        "examples": [5],
    }
    # A list under its alias: the query string repeats it.
    colours = found[("query", "colour")]
    assert colours["schema"]["type"] == "array"
    assert component(document, colours["schema"]["items"]) == {
        "title": "Colour",
        "enum": ["green", "red"],  # msgspec sorts them
    }
    assert found[("query", "old")]["deprecated"] is True
    assert ("query", "secret") not in found  # include_in_schema=False
    assert "deprecated" not in limit


def test_header_and_cookie_parameters(document: dict[str, Any]) -> None:
    found = parameters(document, "/items", "post")
    assert found[("header", "x-token")] == {
        "name": "x-token",
        "in": "header",
        "required": True,
        "schema": {"type": "string", "pattern": "^[a-z]+$"},
    }
    assert found[("cookie", "session")]["required"] is False
    assert found[("cookie", "session")]["schema"] == {
        "anyOf": [{"type": "string"}, {"type": "null"}]
    }


def test_dependencies_add_their_parameters_once(document: dict[str, Any]) -> None:
    found = parameters(document, "/items")
    # pagination's page, page_size's size (asked for three times), the route's own
    # dependency's header under its alias; nothing of the handler's own.
    assert sorted(found) == [("header", "X-Request-ID"), ("query", "page"), ("query", "size")]
    assert found[("query", "page")]["description"] == "Page number"
    assert found[("query", "page")]["schema"]["minimum"] == 1
    assert found[("query", "size")]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 20,
    }
    assert found[("header", "X-Request-ID")]["required"] is False


# Request bodies.


def test_a_struct_is_the_json_body(document: dict[str, Any]) -> None:
    body = operation(document, "/items", "post")["requestBody"]
    assert body == {
        "content": {"application/json": {"schema": {"$ref": REF + "Item"}}},
        "required": True,
    }


def test_embedded_body_fields_make_an_object(document: dict[str, Any]) -> None:
    body = operation(document, "/items/{sku}/price", "put")["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {
        "type": "object",
        "properties": {
            "price": {"type": "string", "format": "decimal"},
            "reason": {"type": "string", "maxLength": 200, "default": ""},
        },
        "required": ["price"],
    }


def test_a_form_with_files_is_multipart(document: dict[str, Any]) -> None:
    body = operation(document, "/items/{item_id}/photos", "post")["requestBody"]
    assert list(body["content"]) == ["multipart/form-data"]
    schema = body["content"]["multipart/form-data"]["schema"]
    assert schema == {
        "type": "object",
        "properties": {
            "caption": {"type": "string", "maxLength": 80},
            "photo": {"type": "string", "format": "binary", "description": "A JPEG"},
            "more": {"type": "array", "items": {"type": "string", "format": "binary"}},
        },
        "required": ["caption", "photo"],
    }


def test_a_form_without_files_is_urlencoded() -> None:
    app = App(__name__, static_folder=None)

    @app.post("/login")
    def login(user: Annotated[str, Form()], remember: Annotated[bool, Form()] = False) -> str:
        return ""

    body = openapi_document(app)["paths"]["/login"]["post"]["requestBody"]
    assert body == {
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "user": {"type": "string"},
                        "remember": {"type": "boolean", "default": False},
                    },
                    "required": ["user"],
                }
            }
        },
        "required": True,
    }


def test_a_list_of_dataclasses_is_the_body(document: dict[str, Any]) -> None:
    body = operation(document, "/echo", "post")["requestBody"]
    assert body["content"]["application/json"]["schema"] == {
        "type": "array",
        "items": {"$ref": REF + "Dimensions"},
    }


def test_a_body_the_handler_and_a_dependency_both_read_must_suit_both() -> None:
    app = App(__name__, static_folder=None)

    def signed(signature: Annotated[str, Body(embed=True, min_length=8)]) -> str:
        return signature

    @app.post("/orders")
    def order(order: Dimensions, signature: Annotated[str, Depends(signed)]) -> str:
        return ""

    document = openapi_document(app)
    validate(document)
    body = document["paths"]["/orders"]["post"]["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {
        "allOf": [
            {"$ref": REF + "Dimensions"},
            {
                "type": "object",
                "properties": {"signature": {"type": "string", "minLength": 8}},
                "required": ["signature"],
            },
        ]
    }


def test_every_type_msgspec_knows_is_a_component(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert sorted(schemas) == [
        "Address",
        "Colour",
        "Dimensions",
        "Item",
        "Maker",
        "ProblemDetails",
    ]  # Odd holds a class msgspec cannot describe: none of it
    item = schemas["Item"]
    assert item["description"] == "An item for sale."
    assert item["required"] == ["name", "price", "sku", "added"]
    properties = item["properties"]
    assert properties["name"] == {"type": "string", "minLength": 1, "maxLength": 50}
    assert properties["price"] == {"type": "string", "format": "decimal", "description": "In euros"}
    assert properties["sku"] == {"type": "string", "format": "uuid"}
    assert properties["added"]["type"] == "string"
    assert properties["colour"] == {"$ref": REF + "Colour", "default": "red"}
    assert properties["size"] == {"enum": ["L", "M", "S"], "default": "M"}
    assert properties["tags"] == {"type": "array", "items": {"type": "string"}, "default": []}
    assert properties["maker"]["anyOf"] == [{"$ref": REF + "Maker"}, {"type": "null"}]
    assert properties["released"]["anyOf"] == [
        {"type": "string", "format": "date"},
        {"type": "null"},
    ]
    assert schemas["Maker"]["properties"]["address"]["anyOf"][0] == {"$ref": REF + "Address"}
    assert schemas["Address"]["required"] == ["city", "street"]
    assert schemas["Dimensions"]["properties"]["height"] == {"type": "number", "default": 1.0}


# Responses.


def test_the_response_model_and_the_status(document: dict[str, Any]) -> None:
    responses = operation(document, "/items", "post")["responses"]
    assert responses["201"] == {
        "description": "Created",
        "content": {"application/json": {"schema": {"$ref": REF + "Item"}}},
    }
    assert "200" not in responses
    listed = operation(document, "/items")["responses"]["200"]
    assert listed["content"]["application/json"]["schema"] == {
        "type": "array",
        "items": {"$ref": REF + "Item"},
    }
    # A plain annotation documents the answer too: a dict is JSON, a str an HTML page.
    photos = operation(document, "/items/{item_id}/photos", "post")["responses"]["200"]
    assert photos["content"]["application/json"]["schema"] == {
        "type": "object",
        "additionalProperties": {"type": "string"},
    }
    contact = operation(document, "/contact")["responses"]["200"]
    assert contact["content"] == {"text/html": {"schema": {"type": "string"}}}


def test_a_handler_returning_none_answers_204(document: dict[str, Any]) -> None:
    responses = operation(document, "/items/{sku}/price", "put")["responses"]
    assert responses["204"] == {"description": "No Content"}
    assert "200" not in responses


def test_problem_responses(document: dict[str, Any]) -> None:
    problem = {"application/problem+json": {"schema": {"$ref": REF + "ProblemDetails"}}}
    # A JSON body: 400 (not JSON), 415 (another Content-Type), 422 (not valid).
    posted = operation(document, "/items", "post")["responses"]
    assert sorted(posted) == ["201", "400", "415", "422"]
    assert posted["422"] == {"description": "Unprocessable Content", "content": problem}
    assert posted["400"]["content"] == posted["415"]["content"] == problem
    # Typed query parameters only: 422.
    assert sorted(operation(document, "/items/{item_id}")["responses"]) == ["200", "422"]
    # A form: 400 (malformed), 415 (not a form), 422 (not valid).
    photos = operation(document, "/items/{item_id}/photos", "post")["responses"]
    assert sorted(photos) == ["200", "400", "415", "422"]
    # Nothing typed (a slug the converter checks): nothing to refuse.
    assert sorted(operation(document, "/things/{slug}")["responses"]) == ["200"]
    assert document["components"]["schemas"]["ProblemDetails"]["required"] == [
        "type",
        "title",
        "status",
        "detail",
    ]


def test_a_type_msgspec_cannot_describe_is_any_value(document: dict[str, Any]) -> None:
    odd = operation(document, "/odd")["responses"]["200"]
    assert odd["content"]["application/json"]["schema"] == {}


# What the route says of itself.


def test_summary_and_description_from_the_docstring(document: dict[str, Any]) -> None:
    got = operation(document, "/items/{item_id}")
    assert got["summary"] == "Fetch one item."
    assert got["description"] == "Looked up by its id;\n404 if there is none."
    # The route's summary wins; the whole docstring is then the description.
    created = operation(document, "/items", "post")
    assert created["summary"] == "Add an item"
    assert created["description"] == "Adds an item to the shop."
    # No docstring: the route's name in words, as FastAPI does.
    assert operation(document, "/items")["summary"] == "List items"
    assert "description" not in operation(document, "/items")
    assert operation(document, "/admin/status")["summary"] == "Status"


def test_tags_from_routers_and_routes(document: dict[str, Any]) -> None:
    assert operation(document, "/items", "post")["tags"] == ["items"]
    assert operation(document, "/admin/status")["tags"] == ["admin", "status"]
    assert operation(document, "/shop/status")["tags"] == ["shop", "status"]
    assert "tags" not in operation(document, "/items/{item_id}")


def test_deprecated_routes(document: dict[str, Any]) -> None:
    assert operation(document, "/contact")["deprecated"] is True
    assert "deprecated" not in operation(document, "/items/{item_id}")


def test_two_templates_that_read_alike_keep_the_first() -> None:
    app = App(__name__, static_folder=None)

    @app.get("/teams/<int:key>")
    def by_number(key: int) -> str:
        return ""

    @app.get("/teams/<uuid:key>")
    def by_uuid(key: uuid.UUID) -> str:
        return ""

    document = openapi_document(app)
    validate(document)
    assert document["paths"]["/teams/{key}"]["get"]["operationId"] == "by_number"


def test_an_application_type_named_like_the_problem_keeps_its_name() -> None:
    app = App(__name__, static_folder=None)

    class ProblemDetails(msgspec.Struct):
        mine: int

    @app.post("/report")
    def report(problem: ProblemDetails) -> str:
        return ""

    document = openapi_document(app)
    validate(document)
    schemas = document["components"]["schemas"]
    assert schemas["ProblemDetails"]["properties"] == {"mine": {"type": "integer"}}
    responses = document["paths"]["/report"]["post"]["responses"]
    assert responses["422"]["content"]["application/problem+json"]["schema"] == {
        "$ref": REF + "porch.ProblemDetails"
    }


def test_an_empty_application() -> None:
    document = openapi_document(App(__name__, static_folder=None))
    validate(document)
    assert document == {
        "openapi": "3.1.0",
        "info": {"title": "Porch application", "version": "0.1.0"},
        "paths": {},
    }


# Served.


@pytest.fixture
def served(client_for: Client) -> Iterator[tuple[App, TestClient]]:
    app = typed_app()
    yield app, client_for(app)


def test_the_document_is_served(served: tuple[App, TestClient]) -> None:
    app, client = served
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == openapi_document(app)
    assert "servers" not in response.json()
    assert client.head("/openapi.json").status_code == 200


def test_the_document_is_made_once_and_again_when_routes_change(
    served: tuple[App, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    import porch.web.docs

    app, client = served
    made: list[int] = []

    def counting(app: App) -> dict[str, Any]:
        made.append(1)
        return openapi_document(app)

    monkeypatch.setattr(porch.web.docs, "openapi_document", counting)
    first = client.get("/openapi.json").content
    assert client.get("/openapi.json").content == first
    assert len(made) == 1

    @app.get("/late")
    def late() -> dict[str, int]:
        return {}

    assert "/late" in client.get("/openapi.json").json()["paths"]
    assert len(made) == 2


def test_the_docs_page_and_its_files(served: tuple[App, TestClient]) -> None:
    _, client = served
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    assert '<div id="swagger-ui" data-openapi-url="/openapi.json">' in page.text
    assert "<title>Shop - API docs</title>" in page.text
    # Every script is a file of the site's (no inline script: the CSP forbids them).
    assert page.text.count("<script") == page.text.count("<script src=") == 2
    for name, media_type, start in (
        ("swagger-ui-bundle.js", "text/javascript; charset=utf-8", b"/*! For license"),
        ("swagger-ui.css", "text/css; charset=utf-8", b""),
        ("docs.js", "text/javascript; charset=utf-8", b"// Porch's docs page"),
        ("favicon-32x32.png", "image/png", b"\x89PNG"),
    ):
        assert f'"/docs/{name}"' in page.text
        asset = client.get(f"/docs/{name}")
        assert asset.status_code == 200, name
        assert asset.headers["content-type"] == media_type
        assert asset.content.startswith(start)
        # Revalidated, not downloaded again.
        again = client.get(f"/docs/{name}", headers={"if-none-match": asset.headers["etag"]})
        assert again.status_code == 304
    assert client.get("/docs/swagger-ui.js").status_code == 404  # only what the page needs
    assert client.get("/docs/LICENSE").status_code == 404


# The vendored files as published (their NOTICE records these).
PUBLISHED = {
    "swagger-ui-bundle.js": "b164c5a22535e40dae08c00271674a67e437ec195098c55fcedf8ffac7ac3c88",
    "swagger-ui.css": "7eb9f5a125e4bc9b3f0b71869b66d1a3d7c501f972f53d44ef91c2ae6c5bda5e",
}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_swagger_ui_goes_out_gzipped_or_plain_as_the_client_takes_it(
    served: tuple[App, TestClient], name: str
) -> None:
    _, client = served
    gzipped = client.get(f"/docs/{name}", headers={"accept-encoding": "gzip"})
    assert gzipped.headers["content-encoding"] == "gzip"
    assert gzipped.headers["vary"] == "accept-encoding"
    assert int(gzipped.headers["content-length"]) < len(gzipped.content) / 3
    for refusal in ("identity", "gzip;q=0, br"):
        plain = client.get(f"/docs/{name}", headers={"accept-encoding": refusal})
        assert "content-encoding" not in plain.headers
        assert plain.headers["vary"] == "accept-encoding"
        assert plain.content == gzipped.content
    # Byte for byte what swagger-ui-dist published.
    assert hashlib.sha256(plain.content).hexdigest() == PUBLISHED[name]


def test_the_title_is_escaped_in_the_page(client_for: Client) -> None:
    app = App(__name__, static_folder=None, title="<script>alert(1)</script>")
    page = client_for(app).get("/docs").text
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; - API docs" in page


def test_docs_url_and_openapi_url_elsewhere(client_for: Client) -> None:
    app = App(__name__, static_folder=None, openapi_url="/api/schema.json", docs_url="/api/ui/")
    client = client_for(app)
    assert client.get("/api/schema.json").json()["openapi"] == "3.1.0"
    page = client.get("/api/ui/").text
    assert 'data-openapi-url="/api/schema.json"' in page
    assert 'src="/api/ui/swagger-ui-bundle.js"' in page
    assert client.get("/api/ui/swagger-ui-bundle.js").status_code == 200
    assert client.get("/openapi.json").status_code == 404
    assert client.get("/docs").status_code == 404


def test_docs_url_none_turns_the_page_off(client_for: Client) -> None:
    client = client_for(App(__name__, static_folder=None, docs_url=None))
    assert client.get("/docs").status_code == 404
    assert client.get("/docs/swagger-ui-bundle.js").status_code == 404
    assert client.get("/openapi.json").status_code == 200


def test_openapi_url_none_turns_both_off(client_for: Client) -> None:
    # The page shows the document: without it, there is no page either (as FastAPI).
    client = client_for(App(__name__, static_folder=None, openapi_url=None))
    assert client.get("/openapi.json").status_code == 404
    assert client.get("/docs").status_code == 404
    assert client.get("/docs/docs.js").status_code == 404


def test_behind_a_prefix_the_page_and_document_say_so(client_for: Client) -> None:
    # Mounted under /api, the application's root path is /api: the page's URLs and the
    # document's server include it, so that "Try it out" goes through the same prefix.
    inner = typed_app()
    outer = App(__name__, static_folder=None, openapi_url=None)
    outer.mount("/api", inner)
    client = client_for(outer)
    page = client.get("/api/docs").text
    assert 'data-openapi-url="/api/openapi.json"' in page
    assert 'href="/api/docs/swagger-ui.css"' in page
    assert 'src="/api/docs/docs.js"' in page
    assert client.get("/api/docs/swagger-ui-bundle.js").status_code == 200
    served = client.get("/api/openapi.json").json()
    assert list(served)[:3] == ["openapi", "info", "servers"]
    assert served["servers"] == [{"url": "/api"}]
    validate(served)
    # The same application without the prefix: no servers.
    assert "servers" not in client_for(inner).get("/openapi.json").json()


def test_the_applications_own_route_at_the_path_wins(client_for: Client) -> None:
    app = App(__name__, static_folder=None)

    @app.get("/docs")
    def docs() -> str:
        return "our own docs"

    client = client_for(app)
    assert client.get("/docs").text == "our own docs"
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs/docs.js").status_code == 200


def test_the_served_routes_are_not_the_applications(client_for: Client) -> None:
    app = App(__name__, static_folder=None)

    @app.get("/")
    def index() -> str:
        return ""

    client_for(app).get("/docs")
    assert [route.path for route in app.routes] == ["/"]
    # Yet they are routes, with names (as the debug page or url_for may want them).
    assert app.url_for("porch.docs") == "/docs"
    assert app.url_for("porch.openapi") == "/openapi.json"


def test_the_applications_hooks_run_around_the_page(client_for: Client) -> None:
    app = App(__name__, static_folder=None)
    seen: list[str] = []

    @app.before_request
    def before(request: Request) -> None:
        seen.append(request.path)

    @app.after_request
    def after(request: Request, response: Any) -> None:
        response.headers["X-Frame-Options"] = "DENY"

    client = client_for(app)
    page = client.get("/docs")
    assert page.headers["x-frame-options"] == "DENY"
    assert client.get("/openapi.json").headers["x-frame-options"] == "DENY"
    assert seen == ["/docs", "/openapi.json"]


def test_responses_a_route_and_its_routers_declare() -> None:
    app = App(__name__)
    api = Router(prefix="/api", responses={401: "No valid key"})

    class Gone(msgspec.Struct):
        reason: str

    @api.get("/items/<int:item_id>", responses={404: "No such item", 410: {"model": Gone}})
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    app.include(api)
    answers = openapi_document(app)["paths"]["/api/items/{item_id}"]["get"]["responses"]
    assert sorted(answers) == ["200", "401", "404", "410"]
    assert answers["404"]["description"] == "No such item"
    assert answers["401"]["description"] == "No valid key"
    assert answers["404"]["content"] == {
        "application/problem+json": {"schema": {"$ref": REF + "ProblemDetails"}}
    }
    assert answers["410"]["content"]["application/json"]["schema"] == {"$ref": REF + "Gone"}

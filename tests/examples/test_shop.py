"""examples/shop: the typed JSON API, in-process on both of the App's paths, under `porch run`
on a real socket, and against its own OpenAPI document with schemathesis."""

import logging
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
from openapi_spec_validator import validate
from schemathesis.config import SchemathesisConfig

from porch import App, Secret
from porch.testing import TestClient
from porch.web.settings import SettingsError
from tests.examples import load_example
from tests.support import ROOT, PorchProcess

Client = Callable[..., TestClient]

modules = load_example("shop")
shop = modules["app"]
store = modules["store"]
settings = modules["settings"]
dependencies = modules["dependencies"]

KEY = "test-key"
AUTH = {"X-Api-Key": KEY}
PROBLEM = "application/problem+json"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
SEEDED = {1: "Trowel", 2: "Gloves", 3: "Apron"}
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
}
RAKE = {
    "name": "Rake",
    "price": 2200,
    "category": "garden",
    "variants": [{"sku": "RK-01", "size": "L", "stock": 3}, {"sku": "RK-02"}],
}


def make_app(shop_store: Any = None, **options: Any) -> App:
    """The shop with a seeded store of its own and the test key (or `options`' settings)."""
    options.setdefault("api_key", Secret(KEY))
    app: App = shop.create_app(
        shop_store if shop_store is not None else store.ShopStore(),
        settings.ShopSettings(**options),
    )
    return app


def problem(
    response: httpx.Response,
    status: int,
    detail: str | None = None,
) -> dict[str, Any]:
    """Check that `response` is RFC 9457 problem details for `status` (a 422 with its list of
    errors, the others without); the document."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    expected_keys = {"type", "title", "status", "detail"} | ({"errors"} if status == 422 else set())
    assert set(body) == expected_keys, body
    assert body["type"] == "about:blank"
    assert body["title"] == TITLES[status]
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    if detail is not None:
        assert body["detail"] == detail
    return body


def check_422(response: httpx.Response, *expected: tuple[list[Any], str]) -> list[dict[str, Any]]:
    """Check a 422 that lists exactly these (location, type) errors; its errors."""
    count = f"{len(expected)} errors" if len(expected) != 1 else "1 error"
    body = problem(response, 422, f"The request is not valid ({count})")
    assert [(error["loc"], error["type"]) for error in body["errors"]] == list(expected)
    for error in body["errors"]:
        assert isinstance(error["msg"], str) and error["msg"]
    errors: list[dict[str, Any]] = body["errors"]
    return errors


def ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def png_upload(data: bytes = PNG, content_type: str = "image/png") -> dict[str, Any]:
    return {"image": ("rake.png", data, content_type)}


# Categories.


def test_lists_categories_by_name(client_for: Client) -> None:
    response = client_for(make_app()).get("/categories")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == [
        {"slug": "garden", "name": "Garden"},
        {"slug": "kitchen", "name": "Kitchen"},
    ]


def test_gets_a_category(client_for: Client) -> None:
    client = client_for(make_app())
    assert client.get("/categories/kitchen").json() == {"slug": "kitchen", "name": "Kitchen"}
    problem(client.get("/categories/attic"), 404, "There is no category 'attic'.")
    # The slug converter refuses the rest before the handler runs: a 404 in the same format.
    problem(client.get("/categories/a.b"), 404, "Not Found")


def test_creates_a_category(client_for: Client) -> None:
    client = client_for(make_app())
    response = client.post("/categories", json={"slug": "tools", "name": "Tools"}, headers=AUTH)
    assert response.status_code == 201
    assert response.json() == {"slug": "tools", "name": "Tools"}
    assert client.get("/categories/tools").json() == {"slug": "tools", "name": "Tools"}
    assert [category["slug"] for category in client.get("/categories").json()] == [
        "garden",
        "kitchen",
        "tools",
    ]
    again = client.post("/categories", json={"slug": "tools", "name": "More"}, headers=AUTH)
    problem(again, 409, "A category with the slug 'tools' already exists.")


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"name": "Tools"}, [(["body", "slug"], "missing")]),
        ({"slug": "Tools", "name": "Tools"}, [(["body", "slug"], "constraint")]),
        ({"slug": "tools", "name": ""}, [(["body", "name"], "constraint")]),
        ({"slug": "tools", "name": 3}, [(["body", "name"], "type")]),
        ({"slug": "tools", "name": "Tools", "colour": "red"}, [(["body"], "invalid")]),
        ([], [(["body"], "type")]),
    ],
)
def test_category_validation(
    client_for: Client, body: Any, errors: list[tuple[list[Any], str]]
) -> None:
    client = client_for(make_app())
    check_422(client.post("/categories", json=body, headers=AUTH), *errors)
    assert len(client.get("/categories").json()) == 2


def test_deletes_an_empty_category(client_for: Client) -> None:
    client = client_for(make_app())
    attic = {"slug": "attic", "name": "Attic"}
    assert client.post("/categories", json=attic, headers=AUTH).status_code == 201
    response = client.delete("/categories/attic", headers=AUTH)
    assert response.status_code == 204
    assert response.content == b""
    problem(client.get("/categories/attic"), 404)
    problem(client.delete("/categories/attic", headers=AUTH), 404, "There is no category 'attic'.")
    problem(
        client.delete("/categories/garden", headers=AUTH),
        409,
        "The category 'garden' still holds 2 item(s).",
    )
    assert client.get("/categories/garden").status_code == 200


# Searching the items.


def test_lists_the_items_by_name(client_for: Client) -> None:
    response = client_for(make_app()).get("/items")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert [item["name"] for item in body["items"]] == ["Apron", "Gloves", "Trowel"]
    assert (body["total"], body["page"], body["per_page"]) == (3, 1, 20)
    assert body["items"][2] == {
        "id": 1,
        "name": "Trowel",
        "price": 1299,
        "category": "garden",
        "variants": [{"sku": "TRW-01", "size": None, "stock": 12}],
        "description": "A steel trowel with an ash handle.",
        "tags": ["steel"],
        "image": None,
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "STEEL"}, [1]),
        ({"q": "gloves"}, [2]),
        ({"q": "nothing like it"}, []),
        ({"category": "garden"}, [2, 1]),
        ({"category": "attic"}, []),
        ({"min_price": 1850}, [3, 2]),
        ({"max_price": 1850}, [2, 1]),
        ({"min_price": 1850, "max_price": 1850}, [2]),
        ({"in_stock": "true"}, [2, 1]),
        ({"in_stock": "false"}, [3]),
        ({"tag": "cotton"}, [3]),
        ({"tag": ["cotton", "steel"]}, []),
        ({"sort": "price"}, [1, 2, 3]),
        ({"sort": "-price"}, [3, 2, 1]),
        ({"sort": "newest"}, [3, 2, 1]),
        ({"category": "garden", "sort": "-price", "in_stock": "1"}, [2, 1]),
    ],
)
def test_search_filters(client_for: Client, params: dict[str, Any], expected: list[int]) -> None:
    response = client_for(make_app()).get("/items", params=params)
    assert ids(response) == expected
    assert response.json()["total"] == len(expected)


def test_search_pages(client_for: Client) -> None:
    client = client_for(make_app())
    first = client.get("/items", params={"per_page": 2})
    assert ids(first) == [3, 2]
    assert (first.json()["total"], first.json()["page"], first.json()["per_page"]) == (3, 1, 2)
    assert ids(client.get("/items", params={"per_page": 2, "page": 2})) == [1]
    past = client.get("/items", params={"per_page": 2, "page": 3})
    assert ids(past) == []
    assert past.json()["total"] == 3


def test_page_size_comes_from_the_settings(client_for: Client) -> None:
    # The chain: list_items <- pagination <- page_size <- ShopSettings.
    client = client_for(make_app(page_size=1))
    response = client.get("/items")
    assert ids(response) == [3]
    assert response.json()["per_page"] == 1
    assert ids(client.get("/items", params={"page": 3})) == [1]
    assert ids(client.get("/items", params={"per_page": 3})) == [3, 2, 1]


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        ({"per_page": 0}, [(["query", "per_page"], "constraint")]),
        ({"per_page": 101}, [(["query", "per_page"], "constraint")]),
        ({"per_page": "ten"}, [(["query", "per_page"], "type")]),
        ({"page": 0}, [(["query", "page"], "constraint")]),
        ({"page": 10_001}, [(["query", "page"], "constraint")]),
        ({"q": ""}, [(["query", "q"], "constraint")]),
        ({"q": "x" * 101}, [(["query", "q"], "constraint")]),
        ({"category": "Garden"}, [(["query", "category"], "constraint")]),
        ({"min_price": -1}, [(["query", "min_price"], "constraint")]),
        ({"max_price": 10_000_001}, [(["query", "max_price"], "constraint")]),
        ({"in_stock": "perhaps"}, [(["query", "in_stock"], "type")]),
        ({"tag": "Not A Tag"}, [(["query", "tag", 0], "constraint")]),
        ({"tag": [f"t{n}" for n in range(11)]}, [(["query", "tag"], "constraint")]),
        ({"sort": "cheapest"}, [(["query", "sort"], "invalid")]),
        # Every error of the request at once, the dependencies' included.
        (
            {"page": 0, "per_page": 0, "sort": "up", "min_price": -5},
            [
                (["query", "min_price"], "constraint"),
                (["query", "sort"], "invalid"),
                (["query", "per_page"], "constraint"),
                (["query", "page"], "constraint"),
            ],
        ),
        # A rule no single parameter states: the dependency's own 422.
        ({"min_price": 2000, "max_price": 1000}, [(["query", "min_price"], "constraint")]),
    ],
)
def test_search_validation(
    client_for: Client, params: dict[str, Any], errors: list[tuple[list[Any], str]]
) -> None:
    check_422(client_for(make_app()).get("/items", params=params), *errors)


def test_upside_down_price_range_says_so(client_for: Client) -> None:
    response = client_for(make_app()).get("/items", params={"min_price": 5, "max_price": 1})
    [error] = check_422(response, (["query", "min_price"], "constraint"))
    assert error["msg"] == "min_price is above max_price"


# One item.


def test_gets_an_item(client_for: Client) -> None:
    client = client_for(make_app())
    item = client.get("/items/2").json()
    assert item["name"] == "Gloves"
    assert item["variants"] == [
        {"sku": "GLV-S", "size": "S", "stock": 4},
        {"sku": "GLV-M", "size": "M", "stock": 0},
        {"sku": "GLV-L", "size": "L", "stock": 7},
    ]


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("/items/99", "There is no item 99."),
        ("/items/0", "There is no item 0."),
        ("/items/99999999999999999999", "There is no item 99999999999999999999."),
        ("/items/abc", "Not Found"),
        ("/items/-1", "Not Found"),
    ],
)
def test_unknown_item_is_404(client_for: Client, url: str, detail: str) -> None:
    # Problem details whatever the client accepts: this is an API.
    response = client_for(make_app()).get(url, headers={"Accept": "text/html"})
    problem(response, 404, detail)


def test_creates_an_item(client_for: Client) -> None:
    client = client_for(make_app())
    response = client.post("/items", json=RAKE, headers=AUTH)
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    created = response.json()
    assert created == {
        "id": 4,
        "name": "Rake",
        "price": 2200,
        "category": "garden",
        "variants": [
            {"sku": "RK-01", "size": "L", "stock": 3},
            {"sku": "RK-02", "size": None, "stock": 0},
        ],
        "description": "",
        "tags": [],
        "image": None,
    }
    assert client.get("/items/4").json() == created
    assert ids(client.get("/items", params={"category": "garden"})) == [2, 4, 1]


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        ({"name": None}, [(["body", "name"], "type")]),
        ({"name": ""}, [(["body", "name"], "constraint")]),
        ({"name": "x" * 81}, [(["body", "name"], "constraint")]),
        ({"price": 0}, [(["body", "price"], "constraint")]),
        ({"price": 12.5}, [(["body", "price"], "type")]),
        ({"price": "12"}, [(["body", "price"], "type")]),
        ({"price": 10_000_001}, [(["body", "price"], "constraint")]),
        ({"category": "Garden Tools"}, [(["body", "category"], "constraint")]),
        ({"variants": []}, [(["body", "variants"], "constraint")]),
        ({"variants": [{"sku": "RK-01"}] * 21}, [(["body", "variants"], "constraint")]),
        ({"variants": [{"sku": "rk"}]}, [(["body", "variants", 0, "sku"], "constraint")]),
        ({"variants": [{"sku": "RK-01"}, {}]}, [(["body", "variants", 1, "sku"], "missing")]),
        (
            {"variants": [{"sku": "RK-01", "stock": -1}]},
            [(["body", "variants", 0, "stock"], "constraint")],
        ),
        (
            {"variants": [{"sku": "RK-01", "size": "XXL"}]},
            [(["body", "variants", 0, "size"], "invalid")],
        ),
        ({"tags": ["ok", "Not OK"]}, [(["body", "tags", 1], "constraint")]),
        ({"tags": [f"t{n}" for n in range(11)]}, [(["body", "tags"], "constraint")]),
        ({"description": "x" * 1001}, [(["body", "description"], "constraint")]),
        ({"discount": 10}, [(["body"], "invalid")]),
        # What only the store can tell: the category exists, a SKU comes once.
        ({"category": "attic"}, [(["body", "category"], "invalid")]),
        (
            {"variants": [{"sku": "RK-01"}, {"sku": "RK-02"}, {"sku": "RK-01"}]},
            [(["body", "variants", 2, "sku"], "invalid")],
        ),
    ],
)
def test_item_validation(
    client_for: Client, change: dict[str, Any], errors: list[tuple[list[Any], str]]
) -> None:
    client = client_for(make_app())
    check_422(client.post("/items", json={**RAKE, **change}, headers=AUTH), *errors)
    assert client.get("/items").json()["total"] == 3


def test_item_missing_fields_are_each_named(client_for: Client) -> None:
    response = client_for(make_app()).post("/items", json={}, headers=AUTH)
    # msgspec stops at the first missing field of an object.
    [error] = check_422(response, (["body", "name"], "missing"))
    assert error["msg"] == "Field required"


def test_store_errors_say_what_is_wrong(client_for: Client) -> None:
    body = {**RAKE, "category": "attic", "variants": [{"sku": "AB-1"}, {"sku": "AB-1"}]}
    response = client_for(make_app()).post("/items", json=body, headers=AUTH)
    errors = check_422(
        response, (["body", "category"], "invalid"), (["body", "variants", 1, "sku"], "invalid")
    )
    assert [error["msg"] for error in errors] == [
        "There is no category 'attic'.",
        "The SKU AB-1 is repeated.",
    ]


@pytest.mark.parametrize("content", [b"", b"{", b'{"name": "Rake",}', b"\xff\xfe"])
def test_item_body_that_is_not_json(client_for: Client, content: bytes) -> None:
    response = client_for(make_app()).post(
        "/items", content=content, headers={**AUTH, "content-type": "application/json"}
    )
    if content:
        body = problem(response, 400)
        assert body["detail"].startswith("The request body is not valid JSON")
    else:
        check_422(response, (["body"], "missing"))


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
def test_item_body_must_be_sent_as_json(client_for: Client, content_type: str | None) -> None:
    headers = {**AUTH, "content-type": content_type} if content_type else AUTH
    response = client_for(make_app()).post("/items", content=b'{"name": "Rake"}', headers=headers)
    problem(response, 415, "The request body must be JSON (Content-Type: application/json)")


def test_updates_only_what_the_body_holds(client_for: Client) -> None:
    client = client_for(make_app())
    before = client.get("/items/2").json()
    response = client.patch("/items/2", json={"price": 1999, "tags": []}, headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {**before, "price": 1999, "tags": []}
    assert client.get("/items/2").json() == response.json()
    unchanged = client.patch("/items/2", json={}, headers=AUTH)
    assert unchanged.json() == response.json()
    moved = client.patch("/items/2", json={"category": "kitchen"}, headers=AUTH)
    assert moved.json()["category"] == "kitchen"
    assert ids(client.get("/items", params={"category": "kitchen"})) == [3, 2]


def test_update_errors(client_for: Client) -> None:
    client = client_for(make_app())
    problem(client.patch("/items/99", json={"price": 5}, headers=AUTH), 404, "There is no item 99.")
    check_422(
        client.patch("/items/2", json={"category": "attic"}, headers=AUTH),
        (["body", "category"], "invalid"),
    )
    # msgspec stops at the first error in the body.
    check_422(
        client.patch("/items/2", json={"price": 0, "name": None}, headers=AUTH),
        (["body", "price"], "constraint"),
    )
    check_422(client.patch("/items/2", json={"id": 7}, headers=AUTH), (["body"], "invalid"))
    assert client.get("/items/2").json()["category"] == "garden"


def test_deletes_an_item(client_for: Client) -> None:
    client = client_for(make_app())
    upload = client.put("/items/1/image", data={"alt": "x"}, files=png_upload(), headers=AUTH)
    assert upload.status_code == 200
    response = client.delete("/items/1", headers=AUTH)
    assert response.status_code == 204
    assert response.content == b""
    problem(client.get("/items/1"), 404)
    problem(client.get("/items/1/image"), 404)
    problem(client.delete("/items/1", headers=AUTH), 404, "There is no item 1.")
    assert ids(client.get("/items")) == [3, 2]
    problem(
        client.delete("/categories/garden", headers=AUTH),
        409,
        "The category 'garden' still holds 1 item(s).",
    )


# The image upload.


def test_uploads_an_image_and_serves_it(client_for: Client) -> None:
    client = client_for(make_app())
    response = client.put(
        "/items/1/image", data={"alt": "A trowel on a bench"}, files=png_upload(), headers=AUTH
    )
    assert response.status_code == 200
    assert response.json()["image"] == {
        "content_type": "image/png",
        "size": len(PNG),
        "alt": "A trowel on a bench",
    }
    assert client.get("/items/1").json()["image"] == response.json()["image"]
    image = client.get("/items/1/image")
    assert image.status_code == 200
    assert image.content == PNG
    assert image.headers["content-type"] == "image/png"
    assert image.headers["x-content-type-options"] == "nosniff"
    # A second image replaces the first.
    gif = b"GIF89a" + b"\x00" * 10
    replaced = client.put(
        "/items/1/image", data={"alt": "A GIF"}, files=png_upload(gif, "image/gif"), headers=AUTH
    )
    assert replaced.json()["image"] == {"content_type": "image/gif", "size": 16, "alt": "A GIF"}
    assert client.get("/items/1/image").content == gif


def test_item_without_an_image(client_for: Client) -> None:
    client = client_for(make_app())
    problem(client.get("/items/2/image"), 404, "Item 2 has no image.")
    problem(client.get("/items/99/image"), 404, "Item 99 has no image.")


def test_image_size_limit_comes_from_the_settings(client_for: Client) -> None:
    client = client_for(make_app(max_image_size=len(PNG)))
    fits = client.put("/items/1/image", data={"alt": "x"}, files=png_upload(), headers=AUTH)
    assert fits.status_code == 200
    response = client.put(
        "/items/2/image", data={"alt": "x"}, files=png_upload(PNG + b"\x00"), headers=AUTH
    )
    problem(response, 413, "The image is 33 bytes; the most the shop takes is 32.")
    assert client.get("/items/2").json()["image"] is None


@pytest.mark.parametrize(
    ("data", "content_type", "detail"),
    [
        (b"just text", "text/plain", "The image must be PNG, JPEG or GIF, not 'text/plain'."),
        (PNG, "image/svg+xml", "The image must be PNG, JPEG or GIF, not 'image/svg+xml'."),
        (
            b"<svg onload=alert(1)>",
            "image/png",
            "The file is not the image/png image it says it is.",
        ),
        (PNG, "image/jpeg", "The file is not the image/jpeg image it says it is."),
        (b"", "image/gif", "The file is not the image/gif image it says it is."),
    ],
)
def test_image_must_be_what_it_says(
    client_for: Client, data: bytes, content_type: str, detail: str
) -> None:
    client = client_for(make_app())
    response = client.put(
        "/items/1/image", data={"alt": "x"}, files=png_upload(data, content_type), headers=AUTH
    )
    problem(response, 415, detail)
    problem(client.get("/items/1/image"), 404)


def test_image_content_type_parameters_are_ignored(client_for: Client) -> None:
    response = client_for(make_app()).put(
        "/items/1/image",
        data={"alt": "x"},
        files=png_upload(PNG, "Image/PNG; name=rake"),
        headers=AUTH,
    )
    assert response.status_code == 200
    assert response.json()["image"]["content_type"] == "image/png"


def test_image_form_validation(client_for: Client) -> None:
    client = client_for(make_app())
    check_422(
        client.put("/items/1/image", data={"alt": "x"}, headers=AUTH),
        (["file", "image"], "missing"),
    )
    check_422(
        client.put("/items/1/image", files=png_upload(), headers=AUTH), (["form", "alt"], "missing")
    )
    check_422(
        client.put("/items/1/image", data={"alt": ""}, files=png_upload(), headers=AUTH),
        (["form", "alt"], "constraint"),
    )
    check_422(
        client.put("/items/1/image", data={"alt": "x" * 201}, files=png_upload(), headers=AUTH),
        (["form", "alt"], "constraint"),
    )
    problem(
        client.put("/items/99/image", data={"alt": "x"}, files=png_upload(), headers=AUTH),
        404,
        "There is no item 99.",
    )


def test_image_body_that_is_no_form(client_for: Client) -> None:
    client = client_for(make_app())
    response = client.put(
        "/items/1/image", content=b"{}", headers={**AUTH, "content-type": "application/json"}
    )
    problem(response, 415)
    broken = client.put(
        "/items/1/image",
        content=b"--x\r\nbroken",
        headers={**AUTH, "content-type": "multipart/form-data; boundary=x"},
    )
    problem(broken, 400)


# The API key.

# Each write, and what it answers with the key (the seeded kitchen holds the apron).
WRITES = [
    ("POST", "/categories", {"json": {"slug": "tools", "name": "Tools"}}, 201),
    ("DELETE", "/categories/kitchen", {}, 409),
    ("POST", "/items", {"json": RAKE}, 201),
    ("PATCH", "/items/1", {"json": {"price": 1}}, 200),
    ("DELETE", "/items/1", {}, 204),
    ("PUT", "/items/1/image", {"data": {"alt": "x"}, "files": png_upload()}, 200),
]


@pytest.mark.parametrize(("method", "url", "options", "status"), WRITES)
@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "Send the shop's API key in the X-Api-Key header."),
        ({"X-Api-Key": "wrong"}, "The API key is not valid."),
        ({"X-Api-Key": ""}, "The API key is not valid."),
        ({"X-Api-Key": KEY + "x"}, "The API key is not valid."),
        ({"X-Api-Key": "tést-kéy".encode("latin-1")}, "The API key is not valid."),
        ({"x-api-key": KEY.upper()}, "The API key is not valid."),
    ],
)
def test_writes_need_the_key(
    client_for: Client,
    method: str,
    url: str,
    options: dict[str, Any],
    status: int,
    headers: dict[str, Any],
    detail: str,
) -> None:
    client = client_for(make_app())
    before = (client.get("/categories").json(), client.get("/items").json())
    response = client.request(method, url, headers=headers, **options)
    problem(response, 401, detail)
    assert response.headers["www-authenticate"] == 'ApiKey header="X-Api-Key"'
    assert (client.get("/categories").json(), client.get("/items").json()) == before


@pytest.mark.parametrize(("method", "url", "options", "status"), WRITES)
def test_writes_take_the_key(
    client_for: Client, method: str, url: str, options: dict[str, Any], status: int
) -> None:
    response = client_for(make_app()).request(method, url, headers=AUTH, **options)
    assert response.status_code == status, response.text


def test_key_is_checked_before_the_body(client_for: Client) -> None:
    # A client without the key learns nothing of what the body should be.
    problem(client_for(make_app()).post("/items", json={"name": ""}), 401)


@pytest.mark.parametrize("header", [None, "", "anything"])
def test_shop_without_a_key_takes_no_changes(client_for: Client, header: str | None) -> None:
    # An empty setting must not be matched by an empty (or absent) header.
    client = client_for(make_app(api_key=Secret("")))
    headers = {"X-Api-Key": header} if header is not None else {}
    response = client.post("/categories", json={"slug": "tools", "name": "T"}, headers=headers)
    problem(response, 401, "The shop has no API key set (SHOP_API_KEY): it takes no changes.")
    assert client.get("/categories").status_code == 200


def test_shop_without_a_key_warns_at_startup(
    client_for: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="shop"):
        client_for(make_app(api_key=Secret("")))
    assert [record.getMessage() for record in caplog.records if record.name == "shop"] == [
        "SHOP_API_KEY is not set: the shop refuses every change (401)."
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="shop"):
        client_for(make_app())
    assert not [record for record in caplog.records if record.name == "shop"]


# Errors outside the routes.


def test_unknown_path_and_method_are_problems_too(client_for: Client) -> None:
    client = client_for(make_app())
    problem(client.get("/nope"), 404, "Not Found")
    response = client.put("/items", headers=AUTH)
    problem(response, 405, "Method Not Allowed")
    assert response.headers["allow"] == "GET, HEAD, OPTIONS, POST"


# Settings.


def test_settings_from_the_environment() -> None:
    loaded = settings.ShopSettings.load(
        {"SHOP_API_KEY": "s3cret", "SHOP_PAGE_SIZE": "50", "SHOP_MAX_IMAGE_SIZE": "2048"}, None
    )
    assert loaded.api_key.reveal() == "s3cret"
    assert (loaded.page_size, loaded.max_image_size) == (50, 2048)
    assert "s3cret" not in repr(loaded)
    defaults = settings.ShopSettings.load({}, None)
    assert (defaults.api_key.reveal(), defaults.page_size, defaults.max_image_size) == (
        "",
        20,
        1024 * 1024,
    )


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"SHOP_PAGE_SIZE": "0"}, "SHOP_PAGE_SIZE"),
        ({"SHOP_PAGE_SIZE": "101"}, "SHOP_PAGE_SIZE"),
        ({"SHOP_PAGE_SIZE": "lots"}, "SHOP_PAGE_SIZE"),
        ({"SHOP_MAX_IMAGE_SIZE": "0"}, "SHOP_MAX_IMAGE_SIZE"),
    ],
)
def test_bad_settings_name_the_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        settings.ShopSettings.load(environ, None)


def test_settings_from_a_dotenv_reach_the_routes(tmp_path: Any) -> None:
    env = tmp_path / ".env"
    env.write_text("SHOP_PAGE_SIZE=2\nSHOP_API_KEY='from-dotenv'\n", encoding="utf-8")
    loaded = settings.ShopSettings.load({}, env)
    app = shop.create_app(store.ShopStore(), loaded)
    with TestClient(app) as client:
        assert client.get("/items").json()["per_page"] == 2
        created = client.post(
            "/categories", json={"slug": "a", "name": "A"}, headers={"X-Api-Key": "from-dotenv"}
        )
        assert created.status_code == 201


# The store.


def test_store_adds_one_of_racing_categories() -> None:
    shop_store = store.ShopStore([], [])
    added: list[Any] = []
    refused: list[str] = []
    start = threading.Barrier(8)
    category = modules["models"].Category("racers", "Racers")

    def add() -> None:
        start.wait()
        try:
            added.append(shop_store.add_category(category))
        except store.Conflict as conflict:
            refused.append(str(conflict))

    threads = [threading.Thread(target=add) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert added == [category]
    assert refused == ["A category with the slug 'racers' already exists."] * 7


def race_item_and_category(models: Any) -> tuple[Any, Any, bool]:
    """Add an item to a category while another thread removes the category: (the store, the
    item or the InvalidItem, whether the category was removed)."""
    shop_store = store.ShopStore([models.Category("attic", "Attic")], [])
    new = models.ItemIn("Box", 100, "attic", [models.Variant("BOX-1")])
    start = threading.Barrier(2)
    outcome: dict[str, Any] = {}

    def add() -> None:
        start.wait()
        try:
            outcome["item"] = shop_store.add_item(new)
        except store.InvalidItem as invalid:
            outcome["item"] = invalid

    def remove() -> None:
        start.wait()
        try:
            outcome["removed"] = shop_store.remove_category("attic")
        except store.Conflict:
            outcome["removed"] = False

    threads = [threading.Thread(target=add), threading.Thread(target=remove)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return shop_store, outcome["item"], outcome["removed"]


def test_store_never_keeps_an_item_without_its_category() -> None:
    # The category check and the insertion happen under one lock, as do the check for items
    # and the removal: however the two interleave, one of them is refused.
    for _ in range(20):
        shop_store, item, removed = race_item_and_category(modules["models"])
        if removed:
            assert isinstance(item, store.InvalidItem)
            assert shop_store.search(store.ItemFilters(), store.Page(1, 10)).total == 0
        else:
            assert shop_store.category("attic") is not None
            assert shop_store.item(item.id) == item


def test_dependency_override_replaces_the_store(client_for: Client) -> None:
    app = make_app()
    empty = store.ShopStore([], [])

    async def fake_store() -> Any:
        return empty

    app.dependency_overrides[dependencies.get_store] = fake_store
    client = client_for(app)
    assert client.get("/items").json() == {"items": [], "total": 0, "page": 1, "per_page": 20}
    assert client.get("/categories").json() == []


# The OpenAPI document and the docs page.


def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


def test_document_is_valid_openapi(client_for: Client) -> None:
    validate(document(client_for(make_app())))


def test_document_lists_the_operations(client_for: Client) -> None:
    doc = document(client_for(make_app()))
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"] == "Shop"
    assert doc["info"]["version"] == "1.0"
    operations = {
        (method.upper(), path): operation
        for path, item in doc["paths"].items()
        for method, operation in item.items()
    }
    # porch's own: 400 and 415 for a JSON body, 422 for anything typed (not a path parameter
    # annotated as its converter gives it: the converter answers 404 first); the routes' and
    # routers' own `responses`: the rest.
    expected = {
        ("GET", "/categories"): ("categories", "200", []),
        ("POST", "/categories"): ("categories", "201", ["400", "401", "409", "415", "422"]),
        ("GET", "/categories/{slug}"): ("categories", "200", ["404"]),
        ("DELETE", "/categories/{slug}"): ("categories", "204", ["401", "404", "409", "422"]),
        ("GET", "/items"): ("items", "200", ["422"]),
        ("POST", "/items"): ("items", "201", ["400", "401", "415", "422"]),
        ("GET", "/items/{item_id}"): ("items", "200", ["404"]),
        ("PATCH", "/items/{item_id}"): ("items", "200", ["400", "401", "404", "415", "422"]),
        ("DELETE", "/items/{item_id}"): ("items", "204", ["401", "404", "422"]),
        ("PUT", "/items/{item_id}/image"): (
            "items",
            "200",
            ["400", "401", "404", "413", "415", "422"],
        ),
        ("GET", "/items/{item_id}/image"): ("items", "200", ["404"]),
    }
    assert set(operations) == set(expected)
    for key, (tag, success, errors) in expected.items():
        operation = operations[key]
        assert operation["tags"] == [tag], key
        assert list(operation["responses"]) == [success, *errors], key
        for status in errors:
            content = operation["responses"][status]["content"]
            assert content == {PROBLEM: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}
        headers = [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]
        assert headers == (["X-Api-Key"] if "401" in errors else []), key
    assert operations[("GET", "/items")]["summary"] == "Search the items, a page at a time."
    assert operations[("POST", "/items")]["responses"]["201"]["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/Item"}}
    }


def test_document_states_the_search_parameters(client_for: Client) -> None:
    doc = document(client_for(make_app()))
    parameters = {p["name"]: p for p in doc["paths"]["/items"]["get"]["parameters"]}
    assert list(parameters) == [
        "q", "category", "min_price", "max_price", "in_stock", "tag", "sort", "page", "per_page"
    ]  # fmt: skip
    assert not any(parameter["required"] for parameter in parameters.values())
    assert all(parameter["in"] == "query" for parameter in parameters.values())
    assert sorted(parameters["sort"]["schema"]["enum"]) == ["-price", "name", "newest", "price"]
    assert parameters["sort"]["schema"]["default"] == "name"
    assert parameters["page"]["schema"]["minimum"] == 1
    assert parameters["page"]["schema"]["default"] == 1
    per_page = parameters["per_page"]["schema"]["anyOf"][0]
    assert (per_page["minimum"], per_page["maximum"]) == (1, 100)
    assert parameters["tag"]["schema"]["type"] == "array"
    assert parameters["tag"]["schema"]["maxItems"] == 10


def test_document_states_the_body_constraints(client_for: Client) -> None:
    doc = document(client_for(make_app()))
    schemas = doc["components"]["schemas"]
    item_in = schemas["ItemIn"]
    assert item_in["required"] == ["name", "price", "category", "variants"]
    assert item_in["additionalProperties"] is False
    assert item_in["properties"]["price"]["minimum"] == 1
    assert item_in["properties"]["variants"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Variant"},
        "minItems": 1,
        "maxItems": 20,
    }
    assert schemas["Variant"]["properties"]["sku"]["pattern"] == "^[A-Z0-9-]{3,20}$"
    assert "ProblemDetails" in schemas
    upload = doc["paths"]["/items/{item_id}/image"]["put"]["requestBody"]["content"]
    form = upload["multipart/form-data"]["schema"]
    assert form["properties"]["image"]["format"] == "binary"
    assert form["properties"]["alt"]["maxLength"] == 200
    assert sorted(form["required"]) == ["alt", "image"]


def test_docs_page(client_for: Client) -> None:
    response = client_for(make_app()).get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>Shop - API docs</title>" in response.text
    assert 'data-openapi-url="/openapi.json"' in response.text


def test_document_behind_a_proxy(client_for: Client) -> None:
    client = client_for(make_app(), root_path="/shop")
    assert document(client)["servers"] == [{"url": "/shop"}]


def test_example_app_is_the_seeded_shop() -> None:
    app = shop.app
    assert isinstance(app, App)
    assert sorted(
        item.name for item in app.state.store.search(store.ItemFilters(), store.Page(1, 10)).items
    ) == sorted(SEEDED.values())
    assert {route.name for route in app.routes} == {
        "categories.list_categories",
        "categories.get_category",
        "categories.create_category",
        "categories.delete_category",
        "items.list_items",
        "items.get_item",
        "items.create_item",
        "items.update_item",
        "items.delete_item",
        "items.put_image",
        "items.get_image",
    }


# Under `porch run`, on a real socket.


def test_shop_under_porch_run() -> None:
    args = ["run", "app:app", "--app-dir", "examples/shop"]
    with PorchProcess(args, cwd=ROOT, env={"SHOP_API_KEY": KEY, "SHOP_PAGE_SIZE": "2"}) as porch:
        porch.wait_ready()
        with httpx.Client(base_url=porch.url, timeout=10) as client:
            first = client.get("/items")
            assert ids(first) == [3, 2]
            assert first.json()["per_page"] == 2
            created = client.post("/items", json=RAKE, headers=AUTH)
            assert created.status_code == 201
            assert created.json()["id"] == 4
            upload = client.put(
                "/items/4/image", data={"alt": "A rake"}, files=png_upload(), headers=AUTH
            )
            assert upload.status_code == 200
            assert client.get("/items/4/image").content == PNG
            problem(client.post("/items", json=RAKE), 401)
            problem(client.get("/items", params={"page": 0}), 422)
            problem(client.get("/items/99"), 404)
            validate(client.get("/openapi.json").json())
            assert client.get("/docs").status_code == 200
        assert porch.stop() == 0
    assert "SHOP_API_KEY is not set" not in porch.output


# schemathesis, against the document the shop serves.

# In-process through the ASGI face: schemathesis calls ASGI applications itself, so there is no
# port, server thread or network in the way and the run is the same on every machine; the
# native path answers from the same dispatch core, and the tests above run on both. The schema
# is loaded when this module is imported, as schemathesis' own docs do: its fixture loader
# (schemathesis.pytest.from_fixture) fails under pytest 9.
SCHEMATHESIS = SchemathesisConfig.from_dict(
    {
        "seed": 20261206,
        # The writes are tested past the key; the 401s are tested above.
        "headers": {"X-Api-Key": KEY},
        "generation": {
            "mode": "all",  # valid requests and invalid ones
            "max-examples": 50,
            "deterministic": True,
            "database": "none",
        },
        "checks": {
            # The shop has rules no schema states (the category must exist, a SKU comes once
            # per item, min_price <= max_price), answered with 422 as FastAPI apps answer them:
            # data valid by the schema alone may be refused.
            "positive_data_acceptance": {"enabled": False},
        },
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", make_app(), config=SCHEMATHESIS)


@schema.parametrize()
def test_schemathesis(case: Any) -> None:
    # No 5xx, each status documented, each body as its schema says, each invalid request refused.
    case.call_and_validate()

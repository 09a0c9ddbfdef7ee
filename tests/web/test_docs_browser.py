"""The docs page (porch/web/docs.py) in headless Chromium: Swagger UI, served by the application
itself on a real porch server, runs an operation with "Try it out" and shows the answer; under
the page's Content-Security-Policy, with no console error and no request leaving the machine.

Chromium and Playwright as tests/browser.py finds them; without them the tests skip locally and
fail in CI.
"""

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import msgspec
import pytest

from porch import App, Header, Query
from tests.browser import launch, needs_browser
from tests.support import ThreadServer, serve

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [needs_browser, pytest.mark.timeout(90)]


class Item(msgspec.Struct):
    id: int
    name: str
    note: str


def shop() -> App:
    app = App(__name__, static_folder=None, title="Browser shop", version="1.0")

    @app.get("/items/<int:item_id>", tags=["items"])
    async def get_item(
        item_id: int,
        note: Annotated[str, Query(max_length=20, description="Said back")] = "none",
        x_tracing: Annotated[str | None, Header()] = None,
    ) -> Item:
        """Fetch one item."""
        return Item(item_id, f"item {item_id}", note)

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadServer]:
    # Served as it is, and mounted under /api: a root path, as behind a proxy.
    app = shop()
    app.mount("/api", shop())
    with serve(app) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator["Browser"]:
    with launch() as browser:
        yield browser


class Watched:
    """A page, and what it requested and what went wrong in it."""

    def __init__(self, page: "Page") -> None:
        self.page = page
        self.requests: list[str] = []
        self.problems: list[str] = []


@pytest.fixture
def watched(browser: "Browser", server: ThreadServer) -> Iterator[Watched]:
    context = browser.new_context(base_url=server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    seen = Watched(page)

    def console(message: Any) -> None:
        # CSP violations are console errors too ("Refused to load...").
        if message.type in ("error", "warning"):
            seen.problems.append(f"console {message.type}: {message.text}")

    def response(answer: Any) -> None:
        if answer.status >= 400:
            seen.problems.append(f"{answer.status}: {answer.url}")

    page.on("request", lambda request: seen.requests.append(request.url))
    page.on("console", console)
    page.on("response", response)
    page.on("pageerror", lambda error: seen.problems.append(f"script: {error}"))
    page.on("requestfailed", lambda request: seen.problems.append(f"failed: {request.url}"))
    yield seen
    context.close()


def try_it_out(page: "Page", item_id: str, note: str) -> None:
    """Expand GET /items/{item_id}, fill its parameters and run it."""
    block = page.locator("#operations-items-get_item")
    block.locator(".opblock-summary").click()
    block.get_by_role("button", name="Try it out").click()
    block.locator('tr[data-param-name="item_id"] input').fill(item_id)
    block.locator('tr[data-param-name="note"] input').fill(note)
    block.get_by_role("button", name="Execute").click()


@pytest.mark.parametrize("prefix", ["", "/api"], ids=["at-the-root", "under-a-prefix"])
def test_try_it_out_shows_the_answer(watched: Watched, server: ThreadServer, prefix: str) -> None:
    page = watched.page
    response = page.goto(prefix + "/docs")
    assert response is not None and response.status == 200
    assert "'self'" in response.headers["content-security-policy"]
    page.locator(".information-container .title").wait_for()
    assert page.locator(".information-container .title").inner_text().startswith("Browser shop")
    # The operation, from the document: its summary and its tag's group.
    block = page.locator("#operations-items-get_item")
    assert block.locator(".opblock-summary-description").inner_text() == "Fetch one item."
    assert block.locator(".opblock-summary-path").inner_text().replace("\u200b", "") == (
        "/items/{item_id}"
    )
    with page.expect_response(lambda answer: "/items/42" in answer.url) as answered:
        try_it_out(page, "42", "hello")
    assert answered.value.url == f"{server.url}{prefix}/items/42?note=hello"
    live = block.locator(".live-responses-table .response")
    assert live.locator(".response-col_status").inner_text().strip() == "200"
    body = live.locator(".response-col_description pre").first.inner_text()
    assert msgspec.json.decode(body) == {"id": 42, "name": "item 42", "note": "hello"}
    # The request URL Swagger UI shows is the one it sent, through the prefix.
    assert block.locator(".request-url pre").inner_text() == (
        f"{server.url}{prefix}/items/42?note=hello"
    )
    # Everything came from the server under test: no CDN, no validator badge, no telemetry.
    assert {urlsplit(url).hostname for url in watched.requests} == {"127.0.0.1"}
    loaded = {urlsplit(url).path for url in watched.requests}
    assert {
        f"{prefix}/docs",
        f"{prefix}/docs/swagger-ui.css",
        f"{prefix}/docs/swagger-ui-bundle.js",
        f"{prefix}/docs/docs.js",
        f"{prefix}/openapi.json",
        f"{prefix}/items/42",
    } <= loaded
    assert watched.problems == []

"""examples/teams end to end in headless Chromium (tests/browser.py: Debian's chromium driven by
Playwright), against a real `porch run app:app --app-dir examples/teams`."""

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser import launch, needs_browser
from tests.examples import sqlite_url
from tests.support import ROOT, PorchProcess

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [needs_browser, pytest.mark.timeout(60)]

HEADER_GREEN = "rgb(29, 92, 58)"  # .site-header's background in static/style.css (#1d5c3a)


@pytest.fixture(scope="module")
def site(migrated_teams: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PorchProcess]:
    """The teams example under `porch run`, from the repository's root as `make run` does, on a
    copy of a database that `porch db migrate` made."""
    database = tmp_path_factory.mktemp("teams-browser") / "app.db"
    shutil.copyfile(migrated_teams, database)
    with PorchProcess(
        ["run", "app:app", "--app-dir", "examples/teams"],
        cwd=ROOT,
        env={"DATABASE_URL": sqlite_url(database)},
    ) as porch:
        porch.wait_ready()
        yield porch


@pytest.fixture(scope="module")
def browser() -> Iterator["Browser"]:
    with launch() as browser:
        yield browser


@pytest.fixture
def page(browser: "Browser", site: PorchProcess) -> Iterator["Page"]:
    """A fresh page that records what goes wrong in it: script errors, dialogs, failed loads."""
    context = browser.new_context(base_url=site.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems: list[str] = []

    def console(message: Any) -> None:
        # Chromium logs every 4xx load, the form's deliberate 422 too; those are checked
        # below by status. Only the favicon's load is logged here and nowhere else.
        if message.type == "error" and "status of 422" not in message.text:
            problems.append(f"console: {message.text}")

    def response(answer: Any) -> None:
        if answer.status >= 400 and answer.status != 422:
            problems.append(f"{answer.status}: {answer.url}")

    def dialog(box: Any) -> None:
        problems.append(f"dialog: {box.message}")
        box.dismiss()

    page.on("console", console)
    page.on("response", response)
    page.on("dialog", dialog)
    page.on("pageerror", lambda error: problems.append(f"script: {error}"))

    def failed(request: Any) -> None:
        # A navigation cancels the loads still in flight (often the favicon's): ERR_ABORTED
        # is the browser's own doing. A server that breaks a load shows as another error
        # (ERR_CONNECTION_RESET, ERR_EMPTY_RESPONSE...), and a bad status as a response above.
        if request.failure != "net::ERR_ABORTED":
            problems.append(f"failed: {request.url} ({request.failure})")

    page.on("requestfailed", failed)
    yield page
    context.close()
    assert problems == []


def style(page: "Page", selector: str, prop: str) -> Any:
    return page.eval_on_selector(selector, f"e => getComputedStyle(e).{prop}")


def submit(page: "Page", button: str) -> Any:
    """Click the form's `button`: the response of the page the browser goes to."""
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name=button).click()
    return navigation.value


def team_names(page: "Page") -> list[str]:
    return page.locator(".teams li a").all_inner_texts()


def test_list_page_loads_with_its_style(page: "Page") -> None:
    response = page.goto("/")
    assert response is not None and response.status == 200
    assert page.title() == "Teams · Porch Club"
    assert page.locator("h1").inner_text() == "Teams"
    assert team_names(page)[:4] == ["Falcons", "Otters", "Harriers", "First XI"]
    # The style sheet arrived and applies: computed styles, not just a <link>.
    assert style(page, ".site-header", "backgroundColor") == HEADER_GREEN
    assert style(page, ".site-header", "display") == "flex"
    assert style(page, ".teams", "listStyleType") == "none"


def test_form_adds_a_team_that_the_list_shows(page: "Page", site: PorchProcess) -> None:
    page.goto("/")
    page.get_by_role("link", name="Add a team").first.click()
    page.wait_for_url("**/teams/new")
    assert page.locator("h1").inner_text() == "Add a team"
    page.fill("#name", "Kestrels")
    page.select_option("#level", "U11")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Add the team").click()
    # Post/Redirect/Get: the browser ends on the new team's page, fetched with GET.
    response = navigation.value
    assert response is not None and response.status == 200
    assert response.request.method == "GET"
    assert response.request.redirected_from is not None
    assert response.request.redirected_from.method == "POST"
    assert page.url.startswith(site.url + "/teams/")
    assert page.locator("h1").inner_text() == "Kestrels"
    assert page.locator("dd.level").inner_text() == "U11"

    page.get_by_role("link", name="All teams").click()
    page.wait_for_url(site.url + "/")
    names = team_names(page)
    assert "Kestrels" in names
    # Listed by level: U11 comes after the U09 team and before the U12 one.
    assert names.index("Falcons") < names.index("Kestrels") < names.index("Otters")


def test_validation_error_shows_its_message(page: "Page") -> None:
    page.goto("/teams/new")
    # A name the browser's own checks accept, that only the server can refuse.
    page.fill("#name", "falcons")
    page.select_option("#level", "U10")
    response = submit(page, "Add the team")
    assert response is not None and response.status == 422
    assert page.locator("#name-error").inner_text() == "A team called falcons already exists."
    assert page.locator(".error-summary").is_visible()
    assert style(page, "#name-error", "color") == "rgb(179, 38, 30)"
    # What the user typed and chose is still there.
    assert page.input_value("#name") == "falcons"
    assert page.input_value("#level") == "U10"
    assert page.get_attribute("#name", "aria-invalid") == "true"


def test_a_hostile_name_is_shown_as_text(page: "Page") -> None:
    page.goto("/teams/new")
    hostile = "<img src=x onerror=alert(1)>"
    page.fill("#name", hostile)
    page.select_option("#level", "Senior")
    with page.expect_navigation():
        page.get_by_role("button", name="Add the team").click()
    assert page.locator("h1").inner_text() == hostile
    page.goto("/")
    assert hostile in team_names(page)
    assert page.locator("main img").count() == 0


def test_server_checks_what_the_browser_would_not(page: "Page") -> None:
    page.goto("/teams/new")
    # As a browser without HTML5 form checks: the server's messages are the ones that count.
    page.eval_on_selector("form", "form => { form.noValidate = true }")
    response = submit(page, "Add the team")
    assert response is not None and response.status == 422
    assert page.locator("#name-error").inner_text() == "Enter the team's name."
    assert page.locator("#level-error").inner_text() == "Choose the team's level."
    assert page.locator(".error-summary li").all_inner_texts() == [
        "Enter the team's name.",
        "Choose the team's level.",
    ]


def test_players_are_added_on_the_team_page(page: "Page", site: PorchProcess) -> None:
    page.goto("/teams/3")
    assert page.locator(".players").count() == 0
    assert page.locator("p.empty").inner_text() == "No players yet."
    for name, number in [("Rosa", "7"), ("Ines", "")]:
        page.fill("#name", name)
        page.fill("#number", number)
        response = submit(page, "Add the player")
        assert response is not None and response.status == 200
        # Back on the team's page, at its players (the redirect's #players).
        assert page.url == site.url + "/teams/3#players"
    assert page.locator(".players .name").all_inner_texts() == ["Rosa", "Ines"]
    assert page.locator(".players .number").all_inner_texts() == ["7", ""]
    # A number another player wears: the server's message, by the field.
    page.fill("#name", "Noor")
    page.fill("#number", "7")
    response = submit(page, "Add the player")
    assert response is not None and response.status == 422
    assert (
        page.locator("#number-error").inner_text() == "Another player of this team wears number 7."
    )
    assert page.input_value("#name") == "Noor"
    assert page.locator(".players li").count() == 2

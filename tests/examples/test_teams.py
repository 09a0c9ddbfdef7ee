"""examples/teams: the club site's pages, form and JSON API, in-process on both of the App's
paths and once under `porch run app:app --app-dir examples/teams` on a real socket."""

import re
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from porch import App
from porch.testing import TestClient
from tests.examples import EXAMPLES, load_example
from tests.support import ROOT, PorchProcess

Client = Callable[..., TestClient]

modules = load_example("teams")
teams_app = modules["app"]
store = modules["store"]

XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
BAD_LEVEL = "The level must be one of U09, U10, U11, U12, U13, U14, U15, U16, U17, U18, Senior."
SEEDED = ["Falcons", "Otters", "Harriers", "First XI"]  # in level order: U09, U12, U16, Senior


def make_app(teams: list[tuple[str, str]] | None = None) -> App:
    """The site with a store of its own: seeded, or holding `teams`."""
    app: App = teams_app.create_app(store.TeamStore() if teams is None else store.TeamStore(teams))
    return app


def listed(html: str) -> list[tuple[str, str, str]]:
    """The teams a list page shows: (link, name, level), in order."""
    return re.findall(r'<a href="([^"]+)">([^<]*)</a>\s*<span class="level">([^<]*)</span>', html)


def messages(html: str) -> dict[str, str]:
    """The validation messages a form page shows, by field."""
    return dict(re.findall(r'<p class="message" id="(\w+)-error">([^<]*)</p>', html))


def post_form(client: TestClient, **fields: str) -> httpx.Response:
    return client.post("/teams/new", data=fields)


def post_api(client: TestClient, body: Any) -> httpx.Response:
    return client.post("/api/teams", json=body)


# The pages.


def test_list_shows_the_teams_in_level_order(client_for: Client) -> None:
    response = client_for(make_app()).get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert listed(response.text) == [
        ("/teams/1", "Falcons", "U09"),
        ("/teams/2", "Otters", "U12"),
        ("/teams/3", "Harriers", "U16"),
        ("/teams/4", "First XI", "Senior"),
    ]
    assert "No teams are available." not in response.text
    assert '<link rel="stylesheet" href="/static/style.css">' in response.text
    assert "<title>Teams · Porch Club</title>" in response.text


def test_list_orders_by_level_then_name(client_for: Client) -> None:
    app = make_app([("zebras", "Senior"), ("Bees", "U10"), ("ants", "U10"), ("Cubs", "U09")])
    names = [name for _, name, _ in listed(client_for(app).get("/").text)]
    assert names == ["Cubs", "ants", "Bees", "zebras"]


def test_empty_list_says_so(client_for: Client) -> None:
    response = client_for(make_app([])).get("/")
    assert response.status_code == 200
    assert '<p class="empty">No teams are available.</p>' in response.text
    assert listed(response.text) == []


def test_team_names_are_escaped_everywhere(client_for: Client) -> None:
    client = client_for(make_app([(XSS, "U10")]))
    for page in ("/", "/teams/1"):
        text = client.get(page).text
        assert XSS not in text
        assert ESCAPED in text
    assert client.get("/api/teams/1").json()["name"] == XSS


def test_team_page(client_for: Client) -> None:
    response = client_for(make_app()).get("/teams/2")
    assert response.status_code == 200
    assert "<title>Otters · Porch Club</title>" in response.text
    assert "<h1>Otters</h1>" in response.text
    assert '<dd class="level">U12</dd>' in response.text
    assert '<a href="/">All teams</a>' in response.text


@pytest.mark.parametrize("url", ["/teams/99", "/teams/0", "/teams/abc", "/teams/1/more"])
def test_unknown_team_is_404(client_for: Client, url: str) -> None:
    response = client_for(make_app()).get(url)
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"


def test_unknown_team_page_says_which(client_for: Client) -> None:
    response = client_for(make_app()).get("/teams/99")
    assert "No team has the id 99." in response.text


def test_head_of_pages(client_for: Client) -> None:
    response = client_for(make_app()).head("/")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"] == "text/html; charset=utf-8"


def test_static_css_is_served(client_for: Client) -> None:
    client = client_for(make_app())
    response = client.get("/static/style.css")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert response.content == (EXAMPLES / "teams" / "static" / "style.css").read_bytes()
    assert client.get("/static/nope.css").status_code == 404
    assert client.get("/static/../app.py").status_code == 404


# The form.


def test_form_lists_every_level(client_for: Client) -> None:
    response = client_for(make_app()).get("/teams/new")
    assert response.status_code == 200
    options = re.findall(r'<option value="([^"]*)"( selected)?>', response.text)
    assert [value for value, _ in options] == ["", *store.LEVELS]
    assert not any(selected for _, selected in options)
    assert store.LEVELS == (
        "U09", "U10", "U11", "U12", "U13", "U14", "U15", "U16", "U17", "U18", "Senior"
    )  # fmt: skip
    assert '<form method="post" action="/teams/new">' in response.text
    assert messages(response.text) == {}
    assert "error-summary" not in response.text


def test_form_adds_a_team_and_redirects_to_it(client_for: Client) -> None:
    client = client_for(make_app())
    response = post_form(client, name="  Kestrels \t Blue ", level="U11")
    # Post/Redirect/Get: 303 makes the browser GET the team's page.
    assert response.status_code == 303
    assert response.headers["location"] == "/teams/5"
    assert response.content == b""
    page = client.get("/teams/5")
    assert "<h1>Kestrels Blue</h1>" in page.text
    assert '<dd class="level">U11</dd>' in page.text
    assert ("/teams/5", "Kestrels Blue", "U11") in listed(client.get("/").text)


def test_form_success_from_the_empty_list(client_for: Client) -> None:
    client = client_for(make_app([]))
    response = post_form(client, name="Owls", level="Senior")
    assert response.headers["location"] == "/teams/1"
    assert listed(client.get("/").text) == [("/teams/1", "Owls", "Senior")]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"name": "", "level": ""},
            {"name": "Enter the team's name.", "level": "Choose the team's level."},
        ),
        ({"level": "U10"}, {"name": "Enter the team's name."}),
        ({"name": "   ", "level": "U10"}, {"name": "Enter the team's name."}),
        ({"name": "X", "level": "U10"}, {"name": "The name must be 2 to 60 characters long."}),
        ({"name": "X" * 61, "level": "U10"}, {"name": "The name must be 2 to 60 characters long."}),
        ({"name": "fALCONS", "level": "U10"}, {"name": "A team called fALCONS already exists."}),
        (
            {"name": " First   xi ", "level": "U10"},
            {"name": "A team called First xi already exists."},
        ),
        ({"name": "Swifts"}, {"level": "Choose the team's level."}),
        ({"name": "Swifts", "level": "U19"}, {"level": BAD_LEVEL}),
        ({"name": "Swifts", "level": "u10"}, {"level": BAD_LEVEL}),
    ],
)
def test_form_validation_messages(
    client_for: Client, fields: dict[str, str], expected: dict[str, str]
) -> None:
    client = client_for(make_app())
    response = post_form(client, **fields)
    assert response.status_code == 422
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    shown = {field: text.replace("&#39;", "'") for field, text in messages(response.text).items()}
    assert shown == expected
    assert 'role="alert"' in response.text
    for field in expected:
        assert f'aria-describedby="{field}-error"' in response.text
    # Nothing was added.
    assert len(listed(client.get("/").text)) == 4


def test_names_of_2_and_60_characters_are_fine(client_for: Client) -> None:
    client = client_for(make_app())
    assert post_form(client, name="Ox", level="U10").status_code == 303
    assert post_form(client, name="Y" * 60, level="U10").status_code == 303


def test_form_keeps_the_input_escaped(client_for: Client) -> None:
    client = client_for(make_app())
    typed = f'"><img src=x onerror=alert(1)>{XSS}'
    response = post_form(client, name=typed, level="U19")
    assert response.status_code == 422
    assert XSS not in response.text
    assert "<img" not in response.text
    assert (
        'value="&#34;&gt;&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(1)&lt;/script&gt;"'
        in response.text
    )
    # A valid level the user chose stays chosen when only the name is wrong.
    response = post_form(client, name="x", level="U14")
    assert 'value="x"' in response.text
    assert '<option value="U14" selected>' in response.text
    assert len(re.findall(r" selected>", response.text)) == 1


def test_form_that_is_not_a_form_is_a_4xx(client_for: Client) -> None:
    client = client_for(make_app())
    response = client.post(
        "/teams/new", content=b"{}", headers={"content-type": "application/json"}
    )
    assert response.status_code == 415
    response = client.post(
        "/teams/new",
        content=b"name=%FF%FE&level=U10",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400


def test_multipart_form_works_too(client_for: Client) -> None:
    client = client_for(make_app())
    response = client.post(
        "/teams/new", data={"name": "Ravens", "level": "U13"}, files={"x": ("a.txt", b"a")}
    )
    assert response.status_code == 303


# The JSON API.


def test_api_lists_teams(client_for: Client) -> None:
    response = client_for(make_app()).get("/api/teams")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == [
        {"id": 1, "name": "Falcons", "level": "U09"},
        {"id": 2, "name": "Otters", "level": "U12"},
        {"id": 3, "name": "Harriers", "level": "U16"},
        {"id": 4, "name": "First XI", "level": "Senior"},
    ]
    assert client_for(make_app([])).get("/api/teams").json() == []


def test_api_gets_a_team(client_for: Client) -> None:
    client = client_for(make_app())
    assert client.get("/api/teams/3").json() == {"id": 3, "name": "Harriers", "level": "U16"}
    response = client.get("/api/teams/99")
    assert response.status_code == 404
    # JSON whatever the client accepts: this is an API.
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": {"status": 404, "detail": "No team has the id 99."}}
    assert client.get("/api/teams/abc").status_code == 404


def test_api_creates_a_team(client_for: Client) -> None:
    client = client_for(make_app())
    response = post_api(client, {"name": " Swans ", "level": "U17", "ignored": True})
    assert response.status_code == 201
    assert response.headers["location"] == "/api/teams/5"
    assert response.json() == {"id": 5, "name": "Swans", "level": "U17"}
    assert client.get(response.headers["location"]).json() == response.json()
    # The pages see what the API added, and the API what the form adds.
    assert ("/teams/5", "Swans", "U17") in listed(client.get("/").text)
    assert post_form(client, name="Wrens", level="U15").status_code == 303
    assert client.get("/api/teams/6").json() == {"id": 6, "name": "Wrens", "level": "U15"}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"name": "Enter the team's name.", "level": "Choose the team's level."}),
        ({"name": "A", "level": "U10"}, {"name": "The name must be 2 to 60 characters long."}),
        ({"name": "otters", "level": "U10"}, {"name": "A team called otters already exists."}),
        ({"name": 12, "level": "U10"}, {"name": "The name must be text."}),
        ({"name": None, "level": "U10"}, {"name": "Enter the team's name."}),
        ({"name": "Geese", "level": 10}, {"level": BAD_LEVEL}),
        ({"name": "Geese", "level": ["U10"]}, {"level": BAD_LEVEL}),
    ],
)
def test_api_validation_is_422_with_field_messages(
    client_for: Client, body: dict[str, Any], fields: dict[str, str]
) -> None:
    client = client_for(make_app())
    response = post_api(client, body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": {"status": 422, "detail": "The team is not valid.", "fields": fields}
    }
    assert len(client.get("/api/teams").json()) == 4


@pytest.mark.parametrize("content", [b"[]", b'"Geese"', b"3", b"null"])
def test_api_body_that_is_not_an_object_is_422(client_for: Client, content: bytes) -> None:
    response = client_for(make_app()).post(
        "/api/teams", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["detail"] == 'Send a JSON object: {"name": ..., "level": ...}.'


@pytest.mark.parametrize("content", [b"", b"{", b'{"name": "Geese",}', b"\xff\xfe"])
def test_api_bad_json_is_400(client_for: Client, content: bytes) -> None:
    response = client_for(make_app()).post(
        "/api/teams", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["status"] == 400
    assert error["detail"].startswith("Invalid JSON body")


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data", None]
)
def test_api_takes_only_json(client_for: Client, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = client_for(make_app()).post(
        "/api/teams", content=b'{"name": "Geese", "level": "U10"}', headers=headers
    )
    assert response.status_code == 415
    assert response.json()["error"]["status"] == 415


def test_api_accepts_json_with_parameters_and_suffix(client_for: Client) -> None:
    client = client_for(make_app())
    for number, content_type in enumerate(
        ["application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"]
    ):
        response = client.post(
            "/api/teams",
            content=f'{{"name": "Geese {number}", "level": "U10"}}'.encode(),
            headers={"content-type": content_type},
        )
        assert response.status_code == 201, content_type


def test_api_methods(client_for: Client) -> None:
    client = client_for(make_app())
    response = client.delete("/api/teams/1")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"
    assert client.put("/api/teams").headers["allow"] == "GET, HEAD, OPTIONS, POST"


# The store.


def test_store_adds_one_of_many_racing_duplicates() -> None:
    teams = store.TeamStore([])
    added: list[Any] = []
    refused: list[Any] = []
    start = threading.Barrier(8)

    def add(number: int) -> None:
        start.wait()
        try:
            added.append(teams.add(f"Racers{' ' * number}", "U10"))
        except store.InvalidTeam as invalid:
            refused.append(invalid.errors)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(added) == 1
    assert refused == [{"name": "A team called Racers already exists."}] * 7
    assert teams.all() == added


def test_store_ids_and_errors() -> None:
    teams = store.TeamStore([("Aa", "U10")])
    with pytest.raises(store.InvalidTeam) as caught:
        teams.add("", "U20")
    assert caught.value.errors == {
        "name": "Enter the team's name.",
        "level": BAD_LEVEL,
    }
    assert str(caught.value).startswith("name: Enter the team's name.; level: ")
    # A refused team uses no id.
    assert teams.add("Bb", "U10").id == 2
    assert teams.get(2) == store.Team(2, "Bb", "U10")
    assert teams.get(3) is None


def test_example_app_is_the_seeded_site() -> None:
    app = teams_app.app
    assert isinstance(app, App)
    assert [team.name for team in app.state.teams.all()] == SEEDED
    assert app.template_folder == str(EXAMPLES / "teams" / "templates")
    names = {route.name for route in app.routes}
    assert names == {
        "teams", "team", "new_team", "create_team", "api.teams", "api.team", "api.create_team"
    }  # fmt: skip


# Under `porch run`, on a real socket.


def test_teams_under_porch_run() -> None:
    with PorchProcess(["run", "app:app", "--app-dir", "examples/teams"], cwd=ROOT) as porch:
        porch.wait_ready()
        with httpx.Client(base_url=porch.url, timeout=10) as client:
            page = client.get("/")
            assert page.status_code == 200
            assert [name for _, name, _ in listed(page.text)] == SEEDED
            css = client.get("/static/style.css")
            assert css.status_code == 200
            assert css.headers["content-type"] == "text/css; charset=utf-8"
            assert css.headers["etag"]

            response = client.post("/teams/new", data={"name": "Kites", "level": "U10"})
            assert response.status_code == 303
            assert response.headers["location"] == "/teams/5"
            assert "<h1>Kites</h1>" in client.get("/teams/5").text

            response = client.post("/teams/new", data={"name": XSS, "level": "nope"})
            assert response.status_code == 422
            assert ESCAPED in response.text
            assert "The level must be one of" in response.text

            assert client.get("/teams/99").status_code == 404

            created = client.post("/api/teams", json={"name": "Herons", "level": "U18"})
            assert created.status_code == 201
            assert created.headers["location"] == "/api/teams/6"
            assert client.get("/api/teams/6").json() == created.json()
            assert len(client.get("/api/teams").json()) == 6
            assert client.post("/api/teams", json={"name": "h"}).status_code == 422
            bad = client.post(
                "/api/teams", content=b"{", headers={"content-type": "application/json"}
            )
            assert bad.status_code == 400


def test_porch_run_stops_cleanly_after_def_handlers() -> None:
    with PorchProcess(["run", "app:app", "--app-dir", "examples/teams"], cwd=ROOT) as porch:
        porch.wait_ready()
        assert httpx.get(porch.url + "/", timeout=10).status_code == 200  # a def handler
        assert porch.stop() == 0
    assert "still running" not in porch.output

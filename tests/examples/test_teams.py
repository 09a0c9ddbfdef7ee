"""examples/teams: the club site's pages, forms and JSON API, in-process on both of the App's
paths, each test on a copy of a database that the real `porch db migrate` made; its migrations;
and the site under `porch run app:app --app-dir examples/teams` on a real socket."""

import re
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from porch import App
from porch.db import database_of
from porch.testing import TestClient
from tests.examples import EXAMPLES, load_example, porch_db, sqlite_url
from tests.support import ROOT, PorchProcess

Client = Callable[..., TestClient]
MakeApp = Callable[..., App]

modules = load_example("teams")
teams_app = modules["app"]
club = modules["club"]
models = modules["models"]

XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
BAD_LEVEL = "The level must be one of U09, U10, U11, U12, U13, U14, U15, U16, U17, U18, Senior."
SEEDED = ["Falcons", "Otters", "Harriers", "First XI"]  # in level order: U09, U12, U16, Senior
SEEDED_BY_ID = SEEDED  # the data migration adds them in that order
# What a browser sends for a page: a page route that reads the database (a typed parameter)
# answers its errors as problem details to a client that does not prefer HTML.
BROWSER = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
BAD_NUMBER = "The number must be a whole number from 1 to 99."


@pytest.fixture
def make_app(migrated_teams: Path, tmp_path: Path) -> Iterator[MakeApp]:
    """make_app() is the site on a copy of the migrated database (the seeded teams, no
    players); make_app(TEAMS) holds only TEAMS, (name, level) pairs added in that order through
    the site's own rules (ids from 1). Each call, a database of its own."""
    apps: list[App] = []

    def make(teams: list[tuple[str, str]] | None = None) -> App:
        url = sqlite_url(copy_of(migrated_teams, tmp_path / f"app-{len(apps)}.db"))
        if teams is not None:
            with using(url) as session:
                session.execute(sa.delete(models.Team))
                for name, level in teams:
                    club.add_team(session, name, level)
        app: App = teams_app.create_app(url)
        apps.append(app)
        return app

    yield make
    for app in apps:
        database_of(app).engine.dispose()


def copy_of(database: Path, to: Path) -> Path:
    shutil.copyfile(database, to)
    return to


class using:
    """`with using(URL) as session:` a session of its own on URL, committed at the end."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url, poolclass=sa.NullPool)

    def __enter__(self) -> Session:
        self.session = Session(self.engine)
        return self.session

    def __exit__(self, kind: object, *_: object) -> None:
        if kind is None:
            self.session.commit()
        self.session.close()
        self.engine.dispose()


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


def test_list_shows_the_teams_in_level_order(client_for: Client, make_app: MakeApp) -> None:
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


def test_list_orders_by_level_then_name(client_for: Client, make_app: MakeApp) -> None:
    app = make_app([("zebras", "Senior"), ("Bees", "U10"), ("ants", "U10"), ("Cubs", "U09")])
    names = [name for _, name, _ in listed(client_for(app).get("/").text)]
    assert names == ["Cubs", "ants", "Bees", "zebras"]


def test_empty_list_says_so(client_for: Client, make_app: MakeApp) -> None:
    response = client_for(make_app([])).get("/")
    assert response.status_code == 200
    assert '<p class="empty">No teams are available.</p>' in response.text
    assert listed(response.text) == []


def test_team_names_are_escaped_everywhere(client_for: Client, make_app: MakeApp) -> None:
    client = client_for(make_app([(XSS, "U10")]))
    for page in ("/", "/teams/1"):
        text = client.get(page).text
        assert XSS not in text
        assert ESCAPED in text
    assert client.get("/api/teams/1").json()["name"] == XSS


def test_team_page(client_for: Client, make_app: MakeApp) -> None:
    response = client_for(make_app()).get("/teams/2")
    assert response.status_code == 200
    assert "<title>Otters · Porch Club</title>" in response.text
    assert "<h1>Otters</h1>" in response.text
    assert '<dd class="level">U12</dd>' in response.text
    assert '<a href="/">All teams</a>' in response.text


@pytest.mark.parametrize("url", ["/teams/99", "/teams/0", "/teams/abc", "/teams/1/more"])
def test_unknown_team_is_404(client_for: Client, url: str, make_app: MakeApp) -> None:
    response = client_for(make_app()).get(url, headers=BROWSER)
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"


def test_unknown_team_page_says_which(client_for: Client, make_app: MakeApp) -> None:
    response = client_for(make_app()).get("/teams/99", headers=BROWSER)
    assert "No team has the id 99." in response.text


def test_head_of_pages(client_for: Client, make_app: MakeApp) -> None:
    response = client_for(make_app()).head("/")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"] == "text/html; charset=utf-8"


def test_static_css_is_served(client_for: Client, make_app: MakeApp) -> None:
    client = client_for(make_app())
    response = client.get("/static/style.css")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert response.content == (EXAMPLES / "teams" / "static" / "style.css").read_bytes()
    assert client.get("/static/nope.css").status_code == 404
    assert client.get("/static/../app.py").status_code == 404


# The form.


def test_form_lists_every_level(client_for: Client, make_app: MakeApp) -> None:
    response = client_for(make_app()).get("/teams/new")
    assert response.status_code == 200
    options = re.findall(r'<option value="([^"]*)"( selected)?>', response.text)
    assert [value for value, _ in options] == ["", *club.LEVELS]
    assert not any(selected for _, selected in options)
    assert club.LEVELS == (
        "U09", "U10", "U11", "U12", "U13", "U14", "U15", "U16", "U17", "U18", "Senior"
    )  # fmt: skip
    assert '<form method="post" action="/teams/new">' in response.text
    assert messages(response.text) == {}
    assert "error-summary" not in response.text


def test_form_adds_a_team_and_redirects_to_it(client_for: Client, make_app: MakeApp) -> None:
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


def test_form_success_from_the_empty_list(client_for: Client, make_app: MakeApp) -> None:
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
    client_for: Client, fields: dict[str, str], expected: dict[str, str], make_app: MakeApp
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


def test_names_of_2_and_60_characters_are_fine(client_for: Client, make_app: MakeApp) -> None:
    client = client_for(make_app())
    assert post_form(client, name="Ox", level="U10").status_code == 303
    assert post_form(client, name="Y" * 60, level="U10").status_code == 303


def test_form_keeps_the_input_escaped(client_for: Client, make_app: MakeApp) -> None:
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


def test_form_that_is_not_a_form_is_a_4xx(client_for: Client, make_app: MakeApp) -> None:
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


def test_multipart_form_works_too(client_for: Client, make_app: MakeApp) -> None:
    client = client_for(make_app())
    response = client.post(
        "/teams/new", data={"name": "Ravens", "level": "U13"}, files={"x": ("a.txt", b"a")}
    )
    assert response.status_code == 303


# The JSON API.


def test_api_lists_teams(client_for: Client, make_app: MakeApp) -> None:
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


def test_api_gets_a_team(client_for: Client, make_app: MakeApp) -> None:
    client = client_for(make_app())
    assert client.get("/api/teams/3").json() == {"id": 3, "name": "Harriers", "level": "U16"}
    response = client.get("/api/teams/99")
    assert response.status_code == 404
    # JSON whatever the client accepts: this is an API.
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": {"status": 404, "detail": "No team has the id 99."}}
    assert client.get("/api/teams/abc").status_code == 404


def test_api_creates_a_team(client_for: Client, make_app: MakeApp) -> None:
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
    client_for: Client, body: dict[str, Any], fields: dict[str, str], make_app: MakeApp
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
def test_api_body_that_is_not_an_object_is_422(
    client_for: Client, content: bytes, make_app: MakeApp
) -> None:
    response = client_for(make_app()).post(
        "/api/teams", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["detail"] == 'Send a JSON object: {"name": ..., "level": ...}.'


@pytest.mark.parametrize("content", [b"", b"{", b'{"name": "Geese",}', b"\xff\xfe"])
def test_api_bad_json_is_400(client_for: Client, content: bytes, make_app: MakeApp) -> None:
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
def test_api_takes_only_json(
    client_for: Client, content_type: str | None, make_app: MakeApp
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = client_for(make_app()).post(
        "/api/teams", content=b'{"name": "Geese", "level": "U10"}', headers=headers
    )
    assert response.status_code == 415
    assert response.json()["error"]["status"] == 415


def test_api_accepts_json_with_parameters_and_suffix(client_for: Client, make_app: MakeApp) -> None:
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


def test_api_methods(client_for: Client, make_app: MakeApp) -> None:
    client = client_for(make_app())
    response = client.delete("/api/teams/1")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"
    assert client.put("/api/teams").headers["allow"] == "GET, HEAD, OPTIONS, POST"


# The players.


def players(html: str) -> list[tuple[str, str]]:
    """The players a team's page shows: (number, name), in order."""
    return re.findall(
        r'<li><span class="number">([^<]*)</span> <span class="name">([^<]*)</span></li>', html
    )


def post_player(client: TestClient, team_id: int, **fields: str) -> httpx.Response:
    return client.post(f"/teams/{team_id}/players", data=fields)


def test_a_team_without_players_says_so(client_for: Client, make_app: MakeApp) -> None:
    response = client_for(make_app()).get("/teams/1")
    assert '<p class="empty">No players yet.</p>' in response.text
    assert players(response.text) == []
    assert '<form method="post" action="/teams/1/players">' in response.text


def test_form_adds_players_shown_by_number(client_for: Client, make_app: MakeApp) -> None:
    client = client_for(make_app())
    for name, number in [("Zoe  Hart", "9"), ("Ada", ""), ("Bea", "4"), ("Al", " ")]:
        response = post_player(client, 2, name=name, number=number)
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/teams/2#players"
    page = client.get("/teams/2").text
    # By number, then those without one by name; names tidied as the teams' are.
    assert players(page) == [("4", "Bea"), ("9", "Zoe Hart"), ("", "Ada"), ("", "Al")]
    assert "No players yet." not in page
    # Another team's page shows none of them; the API shows the same players.
    assert players(client.get("/teams/1").text) == []
    assert client.get("/api/teams/2/players").json() == [
        {"id": 3, "name": "Bea", "number": 4},
        {"id": 1, "name": "Zoe Hart", "number": 9},
        {"id": 2, "name": "Ada", "number": None},
        {"id": 4, "name": "Al", "number": None},
    ]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"name": "", "number": ""}, {"name": "Enter the player's name."}),
        ({"name": "A", "number": "7"}, {"name": "The name must be 2 to 60 characters long."}),
        ({"name": "Abe", "number": "0"}, {"number": BAD_NUMBER}),
        ({"name": "Abe", "number": "100"}, {"number": BAD_NUMBER}),
        ({"name": "Abe", "number": "7.5"}, {"number": BAD_NUMBER}),
        ({"name": "Abe", "number": "٣"}, {"number": BAD_NUMBER}),
        ({"name": "Abe", "number": "seven"}, {"number": BAD_NUMBER}),
        (
            {"name": "Abe", "number": "10"},
            {"number": "Another player of this team wears number 10."},
        ),
        ({"number": "-1"}, {"name": "Enter the player's name.", "number": BAD_NUMBER}),
    ],
)
def test_player_form_validation_messages(
    client_for: Client, make_app: MakeApp, fields: dict[str, str], expected: dict[str, str]
) -> None:
    client = client_for(make_app())
    assert post_player(client, 3, name="Taken", number="10").status_code == 303
    response = post_player(client, 3, **fields)
    assert response.status_code == 422
    shown = {field: text.replace("&#39;", "'") for field, text in messages(response.text).items()}
    assert shown == expected
    assert "The player could not be added:" in response.text
    # The page is the team's, with what was typed kept, and nothing added.
    assert "<h1>Harriers</h1>" in response.text
    assert players(response.text) == [("10", "Taken")]
    if fields.get("name"):
        assert f'value="{fields["name"]}"' in response.text


def test_a_number_is_one_player_of_each_team(client_for: Client, make_app: MakeApp) -> None:
    client = client_for(make_app())
    assert post_player(client, 1, name="One", number="5").status_code == 303
    assert post_player(client, 2, name="Two", number="5").status_code == 303
    assert post_player(client, 1, name="Three", number="5").status_code == 422


def test_player_names_are_escaped(client_for: Client, make_app: MakeApp) -> None:
    client = client_for(make_app())
    assert post_player(client, 1, name=XSS, number="").status_code == 303
    page = client.get("/teams/1").text
    assert XSS not in page
    assert players(page) == [("", ESCAPED)]


def test_players_of_an_unknown_team_are_404(client_for: Client, make_app: MakeApp) -> None:
    client = client_for(make_app())
    assert post_player(client, 99, name="Lost", number="1").status_code == 404
    response = client.get("/api/teams/99/players")
    assert response.status_code == 404
    assert response.json() == {"error": {"status": 404, "detail": "No team has the id 99."}}
    response = client.post("/api/teams/99/players", json={"name": "Lost"})
    assert response.status_code == 404


def test_api_adds_players(client_for: Client, make_app: MakeApp) -> None:
    client = client_for(make_app())
    response = client.post("/api/teams/4/players", json={"name": " Kit ", "number": 11})
    assert response.status_code == 201
    assert response.json() == {"id": 1, "name": "Kit", "number": 11}
    assert client.post("/api/teams/4/players", json={"name": "Lee"}).status_code == 201
    assert client.get("/api/teams/4/players").json() == [
        {"id": 1, "name": "Kit", "number": 11},
        {"id": 2, "name": "Lee", "number": None},
    ]
    assert players(client.get("/teams/4").text) == [("11", "Kit"), ("", "Lee")]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"name": "Enter the player's name."}),
        ({"name": "Kit", "number": 11}, {"number": "Another player of this team wears number 11."}),
        ({"name": "Kit", "number": -12}, {"number": BAD_NUMBER}),
        ({"name": "Kit", "number": 12.0}, {"number": BAD_NUMBER}),
        ({"name": "Kit", "number": True}, {"number": BAD_NUMBER}),
        ({"name": ["Kit"], "number": 0}, {"name": "The name must be text.", "number": BAD_NUMBER}),
    ],
)
def test_api_player_validation_is_422(
    client_for: Client, make_app: MakeApp, body: dict[str, Any], fields: dict[str, str]
) -> None:
    client = client_for(make_app())
    assert (
        client.post("/api/teams/4/players", json={"name": "Kit", "number": 11}).status_code == 201
    )
    response = client.post("/api/teams/4/players", json=body)
    assert response.status_code == 422
    assert response.json() == {
        "error": {"status": 422, "detail": "The player is not valid.", "fields": fields}
    }
    assert len(client.get("/api/teams/4/players").json()) == 1


# The club's rules, on a session of their own.


def test_rules_say_every_field_that_is_wrong(teams_url: str) -> None:
    with using(teams_url) as session:
        with pytest.raises(club.Invalid) as caught:
            club.add_team(session, "", "U20")
        assert caught.value.errors == {"name": "Enter the team's name.", "level": BAD_LEVEL}
        assert str(caught.value).startswith("name: Enter the team's name.; level: ")
        team = club.add_team(session, "Bb", "U10")
        assert (team.id, team.name, team.level) == (5, "Bb", "U10")


def test_the_constraint_refuses_what_the_check_did_not_see(teams_url: str) -> None:
    # Two requests at once both find no team called "Owls"; the second insert meets the
    # unique constraint on the casefolded name, and gets the same field message.
    with using(teams_url) as first:
        club.add_team(first, "Owls", "U10")
    with using(teams_url) as second:
        original = club.has_team_named
        try:
            club.has_team_named = lambda session, name: False
            with pytest.raises(club.Invalid) as caught:
                club.add_team(second, "OWLS", "U11")
        finally:
            club.has_team_named = original
        assert caught.value.errors == {"name": "A team called OWLS already exists."}
        # The session was rolled back, and is usable again.
        assert club.add_team(second, "Larks", "U11").name == "Larks"


@pytest.fixture
def teams_url(migrated_teams: Path, tmp_path: Path) -> str:
    return sqlite_url(copy_of(migrated_teams, tmp_path / "app.db"))


def test_example_app_is_the_seeded_site() -> None:
    app = teams_app.app
    assert isinstance(app, App)
    # Without DATABASE_URL: SQLite in examples/teams/app.db, which `make run` migrates.
    assert database_of(app).url == sqlite_url(EXAMPLES / "teams" / "app.db")
    assert app.template_folder == str(EXAMPLES / "teams" / "templates")
    names = {route.name for route in app.routes}
    assert names == {
        "teams", "team", "new_team", "create_team", "add_player",
        "api.teams", "api.team", "api.create_team", "api.players", "api.add_player",
    }  # fmt: skip


# The migrations, with the real `porch db`.


def test_migrations_match_the_models_and_seed_the_teams(teams_url: str) -> None:
    assert "the models match the migrations" in porch_db("teams", "check", database_url=teams_url)
    history = porch_db("teams", "history", database_url=teams_url)
    assert "teams and players" in history
    assert "the seeded teams" in history
    with using(teams_url) as session:
        seeded = session.execute(sa.select(models.Team.id, models.Team.name)).all()
    assert sorted(seeded) == list(enumerate(SEEDED_BY_ID, 1))


def test_migrations_go_down_and_up_again(teams_url: str) -> None:
    with using(teams_url) as session:
        team = session.get_one(models.Team, 2)
        club.add_player(session, team, "Kit", 7)
        club.add_team(session, "Wrens", "U15")
    # Down one: the seeded teams go, with the players added to them; a team added since stays.
    porch_db("teams", "downgrade", "-1", database_url=teams_url)
    with using(teams_url) as session:
        assert session.scalars(sa.select(models.Team.name)).all() == ["Wrens"]
        assert session.scalars(sa.select(models.Player)).all() == []
    porch_db("teams", "downgrade", "base", database_url=teams_url)
    assert sa.inspect(sa.create_engine(teams_url)).get_table_names() == ["alembic_version"]
    porch_db("teams", "migrate", database_url=teams_url)
    porch_db("teams", "check", database_url=teams_url)
    with using(teams_url) as session:
        assert (
            session.scalars(sa.select(models.Team.name).order_by(models.Team.id)).all()
            == SEEDED_BY_ID
        )


# Under `porch run`, on a real socket, on a database that `porch db migrate` made.


def run_teams(database_url: str) -> PorchProcess:
    """`porch run app:app --app-dir examples/teams` from the repository's root, as `make run`."""
    return PorchProcess(
        ["run", "app:app", "--app-dir", "examples/teams"],
        cwd=ROOT,
        env={"DATABASE_URL": database_url},
    )


def test_teams_under_porch_run(teams_url: str) -> None:
    with run_teams(teams_url) as porch:
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

            assert client.get("/teams/99", headers=BROWSER).status_code == 404

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

            added = client.post("/teams/6/players", data={"name": "Ivy", "number": "3"})
            assert added.status_code == 303
            assert players(client.get("/teams/6").text) == [("3", "Ivy")]
    # What the server added is in the database for the next start, as a restart finds it.
    with using(teams_url) as session:
        assert session.scalars(sa.select(models.Player.name)).all() == ["Ivy"]
        assert session.get_one(models.Team, 5).name == "Kites"


def test_racing_duplicates_add_one_team(teams_url: str) -> None:
    # Eight clients add the same name (in different cases) at once, on eight of the worker's
    # threads: one is added, and the seven others get the form's message, never a 500.
    names = ["Racers", "RACERS", "racers", "Racers ", " Racers", "rAcErS", "RaCeRs", "Racers  "]
    start = threading.Barrier(len(names))
    answers: list[httpx.Response] = []
    with run_teams(teams_url) as porch:
        porch.wait_ready()

        def add(name: str) -> None:
            with httpx.Client(base_url=porch.url, timeout=30) as client:
                start.wait()
                answers.append(client.post("/api/teams", json={"name": name, "level": "U10"}))

        threads = [threading.Thread(target=add, args=(name,)) for name in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        teams = httpx.get(porch.url + "/api/teams", timeout=10).json()
    # (Once in about 30 runs, before porch.db.engines.use_wal: a 503, "database is locked",
    # two of the server's first connections racing to switch the database to WAL.)
    assert sorted(answer.status_code for answer in answers) == [201] + [422] * 7, porch.output
    refused = [answer.json()["error"]["fields"] for answer in answers if answer.status_code == 422]
    assert all(fields["name"].endswith(" already exists.") for fields in refused), refused
    assert [team["name"].casefold() for team in teams].count("racers") == 1


def test_porch_run_stops_cleanly_after_def_handlers(teams_url: str) -> None:
    with run_teams(teams_url) as porch:
        porch.wait_ready()
        assert httpx.get(porch.url + "/", timeout=10).status_code == 200  # a def handler
        assert porch.stop() == 0
    assert "still running" not in porch.output

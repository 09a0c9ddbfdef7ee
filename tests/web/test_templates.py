"""Templates (porch/web/templates.py): render(), autoescaping, the template globals, errors,
inheritance and reloading; every request through both of the App's paths."""

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from porch import App, Request, Response, render
from porch.http.headers import HeaderBlock
from porch.testing import TestClient
from porch.web.templates import PLAIN_TEXT_EXTENSIONS, TemplateResponse, autoescape, media_type

Client = Callable[..., TestClient]

XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def write(folder: Path, files: dict[str, str]) -> None:
    """Write `files` (relative name -> text) under `folder`."""
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def make_app(tmp_path: Path, files: dict[str, str], **options: Any) -> App:
    """An App whose templates/ (and static/) folders are under tmp_path, holding `files`."""
    write(tmp_path, files)
    return App(
        "tests.web.test_templates",
        template_folder=str(tmp_path / "templates"),
        static_folder=str(tmp_path / "static"),
        **options,
    )


def test_render_with_context_request_url_for_and_static_url(
    client_for: Client, tmp_path: Path
) -> None:
    app = make_app(
        tmp_path,
        {
            "templates/team.html": (
                "<h1>{{ team }}</h1><p>{{ request.method }} {{ request.path }}"
                " {{ request.query.get('q') }}</p>"
                "<a href=\"{{ url_for('team', team_id=7) }}\">self</a>"
                "<link href=\"{{ static_url('css/site style.css') }}\">"
            ),
            "static/css/site style.css": "body { color: red }",
        },
    )

    @app.get("/teams/<int:team_id>", name="team")
    def team(team_id: int) -> object:
        return render("team.html", team=f"Team {team_id}")

    client = client_for(app)
    response = client.get("/teams/7", params={"q": "x"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == (
        '<h1>Team 7</h1><p>GET /teams/7 x</p><a href="/teams/7">self</a>'
        '<link href="/static/css/site%20style.css">'
    )
    # The URL static_url gives is where the static folder serves the file.
    css = client.get("/static/css/site%20style.css")
    assert css.status_code == 200
    assert css.text == "body { color: red }"


def test_async_handler_renders_too(client_for: Client, tmp_path: Path) -> None:
    app = make_app(tmp_path, {"templates/hello.html": "Hello {{ name }}"})

    @app.get("/")
    async def index(request: Request) -> object:
        return render("hello.html", name=request.query.get("name", "you"))

    assert client_for(app).get("/?name=Ann").text == "Hello Ann"


@pytest.mark.parametrize("name", ["page.html", "page.htm", "page.xml", "page.svg", "page.jinja"])
def test_markup_templates_escape(client_for: Client, tmp_path: Path, name: str) -> None:
    app = make_app(tmp_path, {f"templates/{name}": "<b>{{ team }}</b>|{{ team | safe }}"})

    @app.get("/")
    def index() -> object:
        return render(name, team=XSS)

    response = client_for(app).get("/")
    assert response.status_code == 200
    # Escaped where printed; `| safe` is the explicit way out.
    assert response.text == f"<b>{ESCAPED}</b>|{XSS}"


def test_plain_text_templates_do_not_escape(client_for: Client, tmp_path: Path) -> None:
    app = make_app(tmp_path, {"templates/team.txt": "Team: {{ team }} & co"})

    @app.get("/")
    def index() -> object:
        return render("team.txt", team=XSS)

    response = client_for(app).get("/")
    assert response.text == f"Team: {XSS} & co"
    # Never sent as HTML: unescaped text must not be read as markup by a browser.
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_media_type_follows_the_name_or_is_given(client_for: Client, tmp_path: Path) -> None:
    app = make_app(
        tmp_path,
        {"templates/feed.xml": "<feed>{{ title }}</feed>", "templates/logo.svg": "<svg/>"},
    )

    @app.get("/feed")
    def feed() -> object:
        return render("feed.xml", media_type="application/atom+xml", title="A & B")

    @app.get("/logo")
    def logo() -> object:
        return render("logo.svg")

    client = client_for(app)
    response = client.get("/feed")
    assert response.headers["content-type"] == "application/atom+xml"
    assert response.text == "<feed>A &amp; B</feed>"
    assert client.get("/logo").headers["content-type"] == "image/svg+xml"


def test_status_and_headers(client_for: Client, tmp_path: Path) -> None:
    app = make_app(tmp_path, {"templates/created.html": "made {{ what }}"})

    @app.post("/things")
    def create() -> object:
        return render(
            "created.html", status=201, headers={"Location": "/things/1", "X-A": "b"}, what="it"
        )

    @app.put("/things/1")
    def replace() -> object:
        return render("created.html", what="again"), 202, {"X-B": "c"}

    client = client_for(app)
    response = client.post("/things")
    assert response.status_code == 201
    assert response.headers["location"] == "/things/1"
    assert response.headers["x-a"] == "b"
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == "made it"
    # A rendered template inside (body, status, headers), as any other body.
    response = client.put("/things/1")
    assert response.status_code == 202
    assert response.headers["x-b"] == "c"
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == "made again"


def test_inheritance_and_include(client_for: Client, tmp_path: Path) -> None:
    app = make_app(
        tmp_path,
        {
            "templates/base.html": (
                "<title>{% block title %}Site{% endblock %}</title>"
                "<main>{% block content %}{% endblock %}</main>{% include 'footer.html' %}"
            ),
            "templates/footer.html": "<footer>{{ request.path }}</footer>",
            "templates/pages/child.html": (
                "{% extends 'base.html' %}{% block title %}{{ name }} - {{ super() }}"
                "{% endblock %}{% block content %}<p>{{ name }}</p>{% endblock %}"
            ),
        },
    )

    @app.get("/child")
    def child() -> object:
        return render("pages/child.html", name=XSS)

    response = client_for(app).get("/child")
    assert response.text == (
        f"<title>{ESCAPED} - Site</title><main><p>{ESCAPED}</p></main><footer>/child</footer>"
    )


def test_missing_template_is_a_logged_500_naming_it(
    client_for: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(tmp_path, {"templates/child.html": "{% extends 'gone.html' %}"})

    @app.get("/missing")
    def missing() -> object:
        return render("nowhere.html")

    @app.get("/child")
    def child() -> object:
        return render("child.html")

    client = client_for(app)
    folder = str(tmp_path / "templates")
    with caplog.at_level(logging.ERROR, logger="porch.error"):
        response = client.get("/missing")
    assert response.status_code == 500
    # The client learns nothing about the server's files; the log says it all.
    assert "nowhere" not in response.text
    assert folder not in response.text
    [record] = [r for r in caplog.records if r.name == "porch.error"]
    assert record.exc_info is not None
    message = str(record.exc_info[1])
    assert message == f"template 'nowhere.html' not found in {folder}"
    assert "GET /missing" in record.getMessage()

    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="porch.error"):
        assert client.get("/child").status_code == 500
    [record] = [r for r in caplog.records if r.name == "porch.error"]
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == (
        f"template 'gone.html' (used by 'child.html') not found in {folder}"
    )


def test_missing_template_in_debug_shows_its_name_to_local_clients(
    client_for: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORCH_DEBUG_TOKEN", "the-token")
    app = make_app(tmp_path, {}, debug=True)

    @app.get("/missing")
    def missing() -> object:
        return render("nowhere.html")

    response = client_for(app, headers={"X-Porch-Debug-Token": "the-token"}).get("/missing")
    assert response.status_code == 500
    assert "TemplateNotFound" in response.text
    assert "nowhere.html" in response.text
    assert str(tmp_path / "templates") in response.text


def test_path_outside_the_folder_is_not_found(client_for: Client, tmp_path: Path) -> None:
    app = make_app(tmp_path, {"templates/page.html": "in", "secret.html": "SECRET"})

    @app.get("/")
    def index(request: Request) -> object:
        return render(request.query.get("t", "page.html"))

    client = client_for(app)
    assert client.get("/").text == "in"
    response = client.get("/", params={"t": "../secret.html"})
    assert response.status_code == 500
    assert "SECRET" not in response.text


def test_undefined_names_print_nothing_in_both_modes(client_for: Client, tmp_path: Path) -> None:
    # A template that works in production must work the same in debug mode.
    for debug in (False, True):
        folder = tmp_path / str(debug)
        app = make_app(
            folder, {"templates/page.html": "[{% if error %}{{ error }}{% endif %}{{ missing }}]"}
        )
        app.debug = debug

        @app.get("/")
        def index() -> object:
            return render("page.html")

        assert client_for(app).get("/").text == "[]"


@pytest.mark.parametrize("debug", [True, False])
def test_debug_mode_reloads_changed_templates(
    client_for: Client, tmp_path: Path, debug: bool
) -> None:
    app = make_app(tmp_path, {"templates/page.html": "first {{ n }}"}, debug=debug)

    @app.get("/")
    def index() -> object:
        return render("page.html", n=1)

    client = client_for(app)
    assert client.get("/").text == "first 1"
    page = tmp_path / "templates" / "page.html"
    page.write_text("second {{ n }}", encoding="utf-8")
    # A later mtime, even on a file system whose clock ticks in whole seconds.
    stat = page.stat()
    os.utime(page, (stat.st_atime, stat.st_mtime + 5))
    # Out of debug mode, a template is read once: no stat per request.
    assert client.get("/").text == ("second 1" if debug else "first 1")


def test_render_in_error_handler_and_after_request(client_for: Client, tmp_path: Path) -> None:
    app = make_app(
        tmp_path,
        {"templates/404.html": "<h1>Not here: {{ request.path }}</h1>", "templates/ok.html": "ok"},
    )

    @app.errorhandler(404)
    def not_found(request: Request, exc: Exception) -> object:
        return render("404.html", status=404)

    @app.get("/ok")
    def ok() -> object:
        return render("ok.html")

    @app.after_request
    def stamp(request: Request, response: Response) -> None:
        assert isinstance(response.body, bytes)
        response.headers["x-seen-length"] = str(len(response.body))

    client = client_for(app)
    response = client.get("/nope/<b>")
    assert response.status_code == 404
    assert response.text == "<h1>Not here: /nope/&lt;b&gt;</h1>"
    response = client.get("/ok")
    # The hook sees the rendered page, not an unrendered template.
    assert response.headers["x-seen-length"] == "2"
    assert response.text == "ok"


def test_head_request_renders_headers_without_body(client_for: Client, tmp_path: Path) -> None:
    app = make_app(tmp_path, {"templates/page.html": "a page"})

    @app.get("/")
    def index() -> object:
        return render("page.html")

    response = client_for(app).head("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.content == b""


def test_mounted_app_templates_see_its_root_path(client_for: Client, tmp_path: Path) -> None:
    inner = make_app(
        tmp_path,
        {
            "templates/page.html": "{{ url_for('page') }} {{ static_url('a.css') }}",
            "static/a.css": "a{}",
        },
    )

    @inner.get("/page")
    def page() -> object:
        return render("page.html")

    outer = App("tests.web.test_templates")
    outer.mount("/club", inner)
    client = client_for(outer)
    assert client.get("/club/page").text == "/club/page /club/static/a.css"
    assert client.get("/club/static/a.css").text == "a{}"


def test_render_outside_an_app_fails_clearly() -> None:
    template = render("page.html")
    assert repr(template) == "<Template 'page.html'>"

    class Bare:
        app = None

    with pytest.raises(RuntimeError, match="needs the request's application"):
        template.__porch_response__(Bare())  # type: ignore[arg-type]


def test_autoescape_and_media_type_by_name() -> None:
    assert autoescape("a.html") and autoescape("a.XML") and autoescape("a.j2")
    assert autoescape(None)  # templates made from strings
    assert not autoescape("a.txt") and not autoescape("mail/body.TXT") and not autoescape("a.csv")
    assert media_type("a.html") == "text/html"
    assert media_type("a.txt") == "text/plain"
    assert media_type("a.jinja") == "text/html"


# Unescaped templates are never served as HTML (reflected XSS); every page says nosniff.

MARKUP_TYPES = [
    "text/html",
    "text/html; charset=utf-8",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/xml",
    "application/xml",
    "application/atom+xml",
    "TEXT/HTML",
]


def test_ini_template_is_not_html(client_for: Client, tmp_path: Path) -> None:
    # The attack: .ini renders without autoescaping and mimetypes knows no type for it.
    app = make_app(tmp_path, {"templates/app.ini": "[user]\nname = {{ name }}\n"})

    @app.get("/config")
    def config(request: Request) -> object:
        return render("app.ini", name=request.query.get("name", ""))

    response = client_for(app).get("/config", params={"name": XSS})
    assert response.status_code == 200
    assert response.text == f"[user]\nname = {XSS}"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("extension", sorted(PLAIN_TEXT_EXTENSIONS))
def test_no_unescaped_template_is_served_as_markup(
    client_for: Client, tmp_path: Path, extension: str
) -> None:
    name = f"page.{extension}"
    app = make_app(tmp_path, {f"templates/{name}": "{{ x }}"})

    @app.get("/")
    def index() -> object:
        return render(name, x=XSS)

    response = client_for(app).get("/")
    assert response.text == XSS  # not escaped: so never markup
    kind = response.headers["content-type"].partition(";")[0]
    assert "html" not in kind and "xml" not in kind, kind
    assert response.headers["x-content-type-options"] == "nosniff"
    assert media_type(name) == kind


@pytest.mark.parametrize("kind", MARKUP_TYPES)
def test_markup_media_type_for_an_unescaped_template_is_an_error(kind: str) -> None:
    with pytest.raises(ValueError, match="without autoescaping") as caught:
        render("mail.txt", media_type=kind)
    assert "mail.txt" in str(caught.value)
    render("mail.txt", media_type="text/markdown")  # any other type is the app's to choose
    render("page.html", media_type=kind)  # escaped: fine


@pytest.mark.parametrize("how", ["headers", "tuple", "hook"])
def test_markup_content_type_from_headers_is_an_error_too(
    client_for: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    app = make_app(tmp_path, {"templates/note.txt": "{{ x }}"})

    @app.get("/")
    def index() -> object:
        if how == "headers":
            return render("note.txt", headers={"Content-Type": "text/html"}, x=XSS)
        if how == "tuple":
            return render("note.txt", x=XSS), 200, {"Content-Type": "text/html"}
        return render("note.txt", x=XSS)

    if how == "hook":

        @app.after_request
        def retype(request: Request, response: Response) -> None:
            response.headers["content-type"] = "image/svg+xml"

    with caplog.at_level(logging.ERROR, logger="porch.error"):
        response = client_for(app).get("/")
    assert response.status_code == 500
    assert XSS not in response.text
    [record] = [r for r in caplog.records if r.name == "porch.error"]
    assert record.exc_info is not None
    assert "without autoescaping" in str(record.exc_info[1])


def test_unknown_extension_with_escaping_stays_html(client_for: Client, tmp_path: Path) -> None:
    app = make_app(tmp_path, {"templates/page.jinja": "{{ x }}"})

    @app.get("/")
    def index() -> object:
        return render("page.jinja", x=XSS)

    response = client_for(app).get("/")
    assert response.text == ESCAPED
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_nosniff_on_every_rendered_page(client_for: Client, tmp_path: Path) -> None:
    app = make_app(
        tmp_path,
        {"templates/page.html": "page", "templates/feed.xml": "<feed/>", "templates/404.html": "?"},
    )

    @app.get("/page")
    def page() -> object:
        return render("page.html")

    @app.get("/feed")
    def feed() -> object:
        return render("feed.xml", media_type="application/atom+xml", headers={"X-A": "b"})

    @app.get("/created")
    def created() -> object:
        return render("page.html"), 201, {"X-B": "c"}

    @app.get("/own")
    def own() -> object:
        return render("page.html", headers={"X-Content-Type-Options": "nosniff"})

    @app.errorhandler(404)
    def not_found(request: Request, exc: Exception) -> object:
        return render("404.html", status=404)

    @app.after_request
    def stamp(request: Request, response: Response) -> None:
        if request.path == "/page":
            response.headers["x-stamp"] = "1"

    client = client_for(app)
    for target in ("/page", "/feed", "/created", "/own", "/missing"):
        response = client.get(target)
        assert response.headers.get_list("x-content-type-options") == ["nosniff"], target
    assert client.get("/page").headers["x-stamp"] == "1"


def test_plain_page_keeps_its_pre_encoded_headers() -> None:
    # PERF: the usual page costs no header encoding per request.
    native = TemplateResponse("<p>page</p>").finish(None)  # type: ignore[arg-type]
    assert isinstance(native.headers, HeaderBlock)
    assert list(native.headers) == [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"x-content-type-options", b"nosniff"),
    ]
    assert native.headers is TemplateResponse("other", 404).finish(None).headers  # type: ignore[arg-type]

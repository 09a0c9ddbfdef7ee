"""Finding the application: module:attribute, factories, and interface detection."""

import re
import sys
from pathlib import Path

import pytest

from porch.server.loader import AppLoadError, detect_interface, import_from_string, load_app
from porch.server.settings import Settings


@pytest.fixture
def app_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in list(sys.modules):
        if name.startswith("loadertest_"):
            del sys.modules[name]


def write(app_dir: Path, name: str, source: str) -> None:
    (app_dir / f"{name}.py").write_text(source)


def test_import_dotted_attribute(app_dir: Path) -> None:
    write(app_dir, "loadertest_ok", "class Holder:\n    app = 'the app'\n")
    assert import_from_string("loadertest_ok:Holder.app") == "the app"


@pytest.mark.parametrize("spec", ["loadertest_ok", ":app", "loadertest_ok:", ""])
def test_spec_must_be_module_colon_attribute(spec: str) -> None:
    with pytest.raises(AppLoadError, match="module:attribute"):
        import_from_string(spec)


def test_missing_module_and_attribute(app_dir: Path) -> None:
    with pytest.raises(AppLoadError, match='Could not import module "loadertest_missing"'):
        import_from_string("loadertest_missing:app")
    write(app_dir, "loadertest_attr", "app = 1\n")
    with pytest.raises(AppLoadError, match='Attribute "nope" not found'):
        import_from_string("loadertest_attr:nope")


def test_syntax_error_names_the_file_and_line(app_dir: Path) -> None:
    write(app_dir, "loadertest_syntax", "x = 1\ndef broken(:\n")
    with pytest.raises(AppLoadError) as caught:
        import_from_string("loadertest_syntax:app")
    message = str(caught.value)
    assert "SyntaxError" in message
    assert "loadertest_syntax.py:2" in message
    assert "frozen" not in message
    assert "\n" not in message


def test_error_inside_the_module_names_its_line(app_dir: Path) -> None:
    write(app_dir, "loadertest_raises", "a = 1\nraise RuntimeError('no database')\n")
    with pytest.raises(AppLoadError) as caught:
        import_from_string("loadertest_raises:app")
    assert "RuntimeError: no database" in str(caught.value)
    assert "loadertest_raises.py:2" in str(caught.value)


def test_missing_dependency_is_not_taken_for_a_missing_module(app_dir: Path) -> None:
    write(app_dir, "loadertest_dep", "import loadertest_not_installed\napp = 1\n")
    with pytest.raises(AppLoadError) as caught:
        import_from_string("loadertest_dep:app")
    assert "No module named 'loadertest_not_installed'" in str(caught.value)
    assert "loadertest_dep.py:1" in str(caught.value)


def test_factory(app_dir: Path) -> None:
    write(app_dir, "loadertest_factory", "def make():\n    return lambda e, s: [b'x']\n")
    app = load_app(Settings(app="loadertest_factory:make", factory=True, app_dir=""))
    assert app({}, None) == [b"x"]
    write(app_dir, "loadertest_badfactory", "def make(required):\n    return None\n")
    with pytest.raises(AppLoadError, match="factory"):
        load_app(Settings(app="loadertest_badfactory:make", factory=True, app_dir=""))


def test_not_callable(app_dir: Path) -> None:
    write(app_dir, "loadertest_value", "app = 42\n")
    with pytest.raises(AppLoadError, match="not callable"):
        load_app(Settings(app="loadertest_value:app", app_dir=""))


async def asgi_function(scope, receive, send):  # type: ignore[no-untyped-def]
    pass


def wsgi_function(environ, start_response):  # type: ignore[no-untyped-def]
    return []


class ASGIClass:
    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        pass


class WSGIClass:
    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        return []


class ThreeArgumentMiddleware:
    """An ASGI middleware whose __call__ is a plain def returning the wrapped coroutine."""

    def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        return asgi_function(scope, receive, send)


class Native:
    def __porch_http__(self, head, body):  # type: ignore[no-untyped-def]
        return None

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        pass


@pytest.mark.parametrize(
    ("app", "interface"),
    [
        (asgi_function, "asgi"),
        (wsgi_function, "wsgi"),
        (ASGIClass(), "asgi"),
        (WSGIClass(), "wsgi"),
        (ThreeArgumentMiddleware(), "asgi"),
        (Native(), "native"),
    ],
)
def test_detect_interface(app: object, interface: str) -> None:
    assert detect_interface(app) == interface


def test_real_frameworks_are_detected() -> None:
    import flask
    import starlette.applications

    assert detect_interface(flask.Flask(__name__)) == "wsgi"
    assert detect_interface(starlette.applications.Starlette()) == "asgi"


@pytest.mark.parametrize(
    ("app", "interface", "message"),
    [
        (lambda: None, "auto", "takes 0 positional argument(s), not 2 as a WSGI application "
         "does; if it makes the application, add --factory"),
        (lambda environ: [], "wsgi", "takes 1 positional argument(s), not 2"),
        (wsgi_function, "asgi", "takes 2 positional argument(s), not 3 as an ASGI application"),
    ],
)  # fmt: skip
def test_what_cannot_be_called_as_the_interface_stops_startup(
    app: object, interface: str, message: str
) -> None:
    import asyncio

    from porch.server.loader import make_adapter

    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(AppLoadError, match=re.escape(message)):
            make_adapter(app, Settings(app="m:app", interface=interface), loop)
        for good in (asgi_function, wsgi_function, ASGIClass(), WSGIClass()):
            make_adapter(good, Settings(app="m:app"), loop)
    finally:
        loop.close()

"""The application's settings (porch/web/settings.py): typed, from the environment and a .env
file, with the variable named when a value does not fit; secrets never shown."""

import datetime
import logging
import subprocess
import sys
from pathlib import Path
from typing import Annotated, ClassVar

import msgspec
import pytest

from porch import App, Secret, Settings
from porch.testing import TestClient
from porch.web.settings import SettingsError, read_env_file
from tests.support import ROOT


class Config(Settings):
    page_size: int = 20
    name: str = "shop"
    ratio: float = 1.5
    start: datetime.date | None = None
    hosts: list[str] = []
    api_key: Secret[str] = Secret("none")
    level: Annotated[int, msgspec.Meta(ge=1, le=5)] = 3


class Prefixed(Settings):
    env_prefix: ClassVar[str] = "SHOP_"
    page_size: int = 20


class Required(Settings):
    database_url: str


def test_defaults_then_env_file_then_environment(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# the shop's settings\n"
        "export PAGE_SIZE=30\n"
        "NAME='corner shop'\n"
        'HOSTS=["a.example", "b.example"]\n'
        "RATIO=2.5 # a comment\n"
        "API_KEY=s3cret\n"
    )
    assert Config.load({}, env_file=tmp_path / "missing") == Config()
    config = Config.load({"PAGE_SIZE": "50", "START": "2026-12-06", "DEBUG": "true"}, env_file)
    assert config.page_size == 50  # the environment wins over .env
    assert (config.name, config.ratio, config.hosts) == (
        "corner shop",
        2.5,
        ["a.example", "b.example"],
    )
    assert config.start == datetime.date(2026, 12, 6)
    assert config.debug is True
    assert config.api_key.reveal() == "s3cret"


def test_a_bad_value_names_its_variable(tmp_path: Path) -> None:
    for environ, message in [
        ({"PAGE_SIZE": "many"}, "PAGE_SIZE='many': Expected `int`, got `str`"),
        ({"LEVEL": "9"}, "LEVEL='9': Expected `int` <= 5"),
        ({"HOSTS": "a,b"}, "HOSTS='a,b': "),
        ({"START": "tomorrow"}, "START='tomorrow'"),
    ]:
        with pytest.raises(SettingsError, match=message):
            Config.load(environ, env_file=None)
    with pytest.raises(SettingsError, match="DATABASE_URL is required and not set"):
        Required.load({}, env_file=None)
    broken = tmp_path / ".env"
    broken.write_text("JUST A LINE\n")
    with pytest.raises(SettingsError, match=r"\.env, line 1: expected KEY=value"):
        read_env_file(broken)


def test_prefix() -> None:
    assert Prefixed.load({"SHOP_PAGE_SIZE": "7", "PAGE_SIZE": "9"}, env_file=None).page_size == 7


def test_secrets_are_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    config = Config.load({"API_KEY": "hunter2"}, env_file=None)
    shown = [repr(config), str(config), repr(config.api_key), str(config.api_key), f"{config}"]
    assert all("hunter2" not in text for text in shown)
    assert "Secret('********')" in repr(config)
    with caplog.at_level(logging.INFO):
        logging.getLogger("porch.test").info("settings: %s %r", config, config.api_key)
    assert "hunter2" not in caplog.text
    assert config.api_key == Secret("hunter2")


def test_app_reads_its_settings_and_handlers_get_them_by_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAGE_SIZE", "12")
    app = App(__name__, settings=Config)
    assert isinstance(app.settings, Config) and app.settings.page_size == 12

    @app.get("/size")
    async def size(config: Config) -> int:
        return config.page_size

    with TestClient(app) as client:
        assert client.get("/size").json() == 12
    # The default: the built-in base, read from nothing.
    assert isinstance(App(__name__).settings, Settings)


def test_a_bad_setting_stops_the_application_naming_the_variable(tmp_path: Path) -> None:
    (tmp_path / "shopapp.py").write_text(
        "from porch import App, Settings\n\n"
        "class Config(Settings):\n"
        "    page_size: int = 20\n\n"
        "app = App(__name__, settings=Config)\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "porch", "run", "shopapp:app", "--port", "0"],
        cwd=tmp_path,
        env={"PAGE_SIZE": "lots", "PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "PAGE_SIZE='lots': Expected `int`, got `str`" in result.stderr + result.stdout


class Optional(Settings):
    api_key: Secret[str] | None = None
    pin: Secret[int] = Secret(0)


def test_optional_secrets_and_errors_that_keep_them() -> None:
    assert Optional.load({}, env_file=None).api_key is None
    loaded = Optional.load({"API_KEY": "letmein"}, env_file=None).api_key
    assert loaded is not None and loaded.reveal() == "letmein"
    with pytest.raises(SettingsError) as raised:
        Optional.load({"PIN": "hunter2"}, env_file=None)
    assert "hunter2" not in str(raised.value)
    assert "PIN='********'" in str(raised.value)


def test_an_app_reads_the_built_in_settings_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://db.example/shop")
    assert App(__name__).settings.database_url == "postgresql://db.example/shop"

"""Settings: one definition of each setting, its variable and its checks (settings.py)."""

import dataclasses
import os
from pathlib import Path

import pytest

from porch.server.settings import (
    ENV_PREFIX,
    Settings,
    env_name,
    field_named,
    flag_name,
    parse_value,
    value_type,
)

FIELDS = dataclasses.fields(Settings)


def test_every_field_is_fully_described():
    for item in FIELDS:
        meta = item.metadata
        assert meta["help"].endswith((".", ")")), item.name
        assert meta["scope"] in ("server", "app", "static"), item.name
        for flag in meta["flags"]:
            assert flag.startswith("-"), (item.name, flag)
        if meta["flags"]:
            # The main flag is the field's name, so that flag, field and variable agree.
            assert flag_name(item) == "--" + item.name.replace("_", "-") or item.name in (
                "list_directories",  # --list
                "reload_dirs",  # --reload-dir, repeated
                "access_log",  # --no-access-log: on unless turned off
                "access_log_path",  # --access-log PATH, as issue #12 and gunicorn's FILE
            ), item.name
        assert value_type(item) in (bool, int, float, str), item.name


def test_arguments_are_the_application_and_the_directory():
    arguments = {item.name for item in FIELDS if not item.metadata["flags"]}
    assert arguments == {"app", "directory"}


def test_flags_are_unique():
    flags = [flag for item in FIELDS for spec in item.metadata["flags"] for flag in spec.split("/")]
    assert len(flags) == len(set(flags))


def test_env_names():
    assert env_name("limit_request_body") == "PORCH_LIMIT_REQUEST_BODY"
    assert all(env_name(item.name).startswith(ENV_PREFIX) for item in FIELDS)


@pytest.mark.parametrize(
    ("variable", "raw", "expected"),
    [
        ("PORCH_WORKERS", "4", {"workers": 4}),
        ("PORCH_WORKERS", " 4 ", {"workers": 4}),
        ("PORCH_TIMEOUT_KEEP_ALIVE", "2.5", {"timeout_keep_alive": 2.5}),
        ("PORCH_ACCESS_LOG", "0", {"access_log": False}),
        ("PORCH_ACCESS_LOG", "false", {"access_log": False}),
        ("PORCH_ACCESS_LOG", "Off", {"access_log": False}),
        ("PORCH_RELOAD", "1", {"reload": True}),
        ("PORCH_RELOAD", "yes", {"reload": True}),
        ("PORCH_RELOAD", "TRUE", {"reload": True}),
        ("PORCH_MAX_REQUESTS", "1000", {"max_requests": 1000}),
        ("PORCH_HOST", "0.0.0.0", {"host": "0.0.0.0"}),
        ("PORCH_APP", "main:app", {"app": "main:app"}),
        ("PORCH_LOG_LEVEL", "debug", {"log_level": "debug"}),
        ("PORCH_RELOAD_DIRS", f"src{os.pathsep}lib", {"reload_dirs": ["src", "lib"]}),
        ("PORCH_RELOAD_DIRS", f"src{os.pathsep}", {"reload_dirs": ["src"]}),
        # An empty variable is an unset one, except for strings, where "" is a value.
        ("PORCH_WORKERS", "", {"workers": 1}),
        ("PORCH_ACCESS_LOG", "", {"access_log": True}),
        ("PORCH_MAX_REQUESTS", "", {"max_requests": None}),
        ("PORCH_UDS", "", {"uds": None}),
        ("PORCH_ROOT_PATH", "", {"root_path": ""}),
        ("PORCH_FORWARDED_ALLOW_IPS", "", {"forwarded_allow_ips": ""}),
    ],
)
def test_from_env(variable, raw, expected):
    settings = Settings.from_env({variable: raw})
    for name, value in expected.items():
        assert getattr(settings, name) == value


@pytest.mark.parametrize(
    ("variable", "raw", "message"),
    [
        ("PORCH_WORKERS", "four", "PORCH_WORKERS='four' is not a valid int"),
        ("PORCH_WORKERS", "2.5", "PORCH_WORKERS='2.5' is not a valid int"),
        (
            "PORCH_TIMEOUT_KEEP_ALIVE",
            "soon",
            "PORCH_TIMEOUT_KEEP_ALIVE='soon' is not a valid float",
        ),
        ("PORCH_ACCESS_LOG", "maybe", "PORCH_ACCESS_LOG='maybe' is not a valid bool"),
    ],
)
def test_from_env_refuses_bad_values(variable, raw, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env({variable: raw})


def test_from_env_reads_os_environ_and_keywords_win(monkeypatch):
    monkeypatch.setenv("PORCH_WORKERS", "3")
    monkeypatch.setenv("PORCH_PORT", "9000")
    settings = Settings.from_env(port=9001)
    assert (settings.workers, settings.port) == (3, 9001)
    assert Settings.from_env({}).workers == 1  # the mapping given replaces os.environ


def test_to_env_round_trips():
    settings = Settings(
        host="::1",
        port=0,
        workers=3,
        reload_dirs=["src", "lib"],
        max_requests=500,
        timeout_keep_alive=1.5,
        access_log=False,
        proxy_headers=False,
        forwarded_allow_ips="*",
        app="main:app",
        factory=True,
        root_path="/api",
        list_directories=True,
    )
    environ = settings.to_env()
    assert environ["PORCH_ACCESS_LOG"] == "0"
    assert "PORCH_UDS" not in environ  # None is no variable
    assert Settings.from_env(environ) == settings
    assert Settings.from_env(Settings().to_env()) == Settings()


def test_defaults_live_in_the_fields():
    settings = Settings()
    for item in FIELDS:
        default = (
            item.default if item.default is not dataclasses.MISSING else item.default_factory()
        )  # type: ignore[misc]
        assert getattr(settings, item.name) == default
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8000, 1)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"workers": 0}, "--workers must be at least 1"),
        ({"threads": 0}, "--threads must be at least 1"),
        ({"backlog": 0}, "--backlog must be at least 1"),
        ({"limit_request_line": 0}, "--limit-request-line must be at least 1"),
        ({"limit_request_body": -1}, "--limit-request-body must not be negative"),
        ({"timeout_graceful_shutdown": -1.0}, "--timeout-graceful-shutdown must not be negative"),
        ({"max_requests": 0}, "--max-requests must be at least 1"),
        ({"max_requests_jitter": -1}, "--max-requests-jitter must not be negative"),
        ({"limit_concurrency": 0}, "--limit-concurrency must be at least 1"),
        ({"port": -1}, "--port must be between 0 and 65535"),
        ({"port": 65536}, "--port must be between 0 and 65535"),
        ({"ssl_keyfile": "key.pem"}, "--ssl-certfile and --ssl-keyfile must be given together"),
        ({"log_level": "verbose"}, "--log-level must be one of critical, error"),
        ({"interface": "cgi"}, "--interface must be one of auto, asgi, wsgi, native"),
        ({"lifespan": "maybe"}, "--lifespan must be one of auto, on, off"),
        ({"forwarded_allow_ips": "10.0.0.1,nope"}, "'nope' is not an address or CIDR"),
    ],
)
def test_validate_refuses_what_cannot_work(changes, message):
    with pytest.raises(ValueError) as caught:
        Settings(**changes).validate()
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_validate_accepts_the_defaults_and_edge_values():
    Settings().validate()
    Settings(port=0, limit_request_body=0, timeout_keep_alive=0, max_requests=1).validate()
    Settings(forwarded_allow_ips="*").validate()
    Settings(forwarded_allow_ips="10.0.0.0/8, 192.168.1.1 ,::1").validate()
    # Untrusted proxies are never parsed: the value does not matter then.
    Settings(proxy_headers=False, forwarded_allow_ips="nope").validate()


def test_parse_value_of_a_list_and_field_lookup():
    assert parse_value(field_named("reload_dirs"), os.pathsep.join(["a", "", "b"])) == ["a", "b"]
    with pytest.raises(KeyError):
        field_named("nonexistent")


def test_every_setting_is_documented() -> None:
    # docs/server.md's reference names each setting's flag and environment variable.
    text = (Path(__file__).resolve().parents[2] / "docs" / "server.md").read_text()
    for item in dataclasses.fields(Settings):
        assert f"`{env_name(item.name)}`" in text, item.name
        if item.metadata["flags"]:
            assert f"`{flag_name(item)}" in text, item.name

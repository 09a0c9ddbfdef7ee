"""The `porch` command (porch/cli): flags from settings.py, PORCH_* variables, clear errors."""

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

import porch.cli
from porch.server.settings import Settings, env_name
from porch.version import __version__
from tests.support import ROOT, PorchProcess, listening_socket

APP = "tests.apps_process.lifecycle:app"
SCOPES = {"run": ("server", "app"), "serve": ("server", "static")}
START = 30.0


def porch_command(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT):
    """`python -m porch ARGS` to completion: (status, output)."""
    full_env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}", **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "porch", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=START,
    )
    return done.returncode, done.stdout + done.stderr


def help_flags(command: str) -> set[str]:
    """The flags that `porch COMMAND --help` lists."""
    status, output = porch_command(command, "--help")
    assert status == 0
    flags = set()
    for line in output.splitlines():
        spec = re.match(r"^  (-\S.*?)(?:  |$)", line)
        if spec:
            flags |= set(re.findall(r"(?<![\w-])--?[a-zA-Z][\w-]*", spec.group(1)))
    return flags


@pytest.mark.parametrize("command", ["run", "serve"])
def test_help_lists_exactly_the_settings_of_the_command(command):
    expected = {"-h", "--help"}
    for item in dataclasses.fields(Settings):
        if item.metadata["scope"] in SCOPES[command]:
            for spec in item.metadata["flags"]:
                expected |= set(spec.split("/"))
    assert help_flags(command) == expected
    _, output = porch_command(command, "--help")
    for item in dataclasses.fields(Settings):
        shown = env_name(item.name) in output
        in_scope = item.metadata["scope"] in SCOPES[command]
        assert shown == in_scope, item.name  # the arguments' variables are in the docstring


def test_help_shows_the_arguments():
    assert "Usage: porch run [OPTIONS] [APP]" in porch_command("run", "--help")[1]
    assert "Usage: porch serve [OPTIONS] [DIRECTORY]" in porch_command("serve", "--help")[1]
    status, output = porch_command("--version")
    assert status == 0 and output.startswith("porch, version ")


@pytest.fixture
def captured(monkeypatch):
    """porch.cli's run() replaced: the settings (and app) it would have served."""
    calls: list[tuple[Settings, object]] = []

    def fake_run(settings: Settings, app: object = None) -> int:
        calls.append((settings, app))
        return 0

    monkeypatch.setattr(porch.cli, "run", fake_run)
    for name in list(os.environ):
        if name.startswith("PORCH_"):
            monkeypatch.delenv(name)
    return calls


@pytest.mark.parametrize(
    "environ",
    [
        {"PORCH_WORKERS": "3", "PORCH_ACCESS_LOG": "0", "PORCH_TIMEOUT_KEEP_ALIVE": "2.5"},
        {"PORCH_RELOAD_DIRS": os.pathsep.join(["src", "lib"]), "PORCH_RELOAD": "yes"},
        {"PORCH_PROXY_HEADERS": "false", "PORCH_FORWARDED_ALLOW_IPS": "*"},
        {"PORCH_MAX_REQUESTS": "", "PORCH_LIMIT_REQUEST_BODY": "10", "PORCH_LOG_LEVEL": "debug"},
        {"PORCH_APP": "main:app", "PORCH_INTERFACE": "wsgi", "PORCH_ROOT_PATH": ""},
    ],
)
def test_variables_mean_what_settings_py_says(captured, environ):
    args = ["run"] if "PORCH_APP" in environ else ["run", "main:app"]
    result = CliRunner().invoke(porch.cli.cli, args, env=environ)
    assert result.exit_code == 0, result.output
    ((settings, _),) = captured
    assert settings == Settings.from_env(
        environ, **({} if "PORCH_APP" in environ else {"app": "main:app"})
    )


def test_flags_beat_variables(captured):
    environ = {"PORCH_WORKERS": "3", "PORCH_ACCESS_LOG": "0", "PORCH_RELOAD_DIRS": "a"}
    args = ["run", "main:app", "--workers", "2", "--access-log", "-", "--reload-dir", "b"]
    result = CliRunner().invoke(porch.cli.cli, args, env=environ)
    assert result.exit_code == 0, result.output
    settings = captured[0][0]
    # --access-log PATH turns on the log that the variable turned off.
    assert (settings.workers, settings.access_log, settings.reload_dirs) == (2, True, ["b"])


def test_variables_of_the_other_command_are_ignored(captured, tmp_path):
    environ = {"PORCH_APP": "main:app", "PORCH_DIRECTORY": str(tmp_path)}
    result = CliRunner().invoke(porch.cli.cli, ["serve"], env=environ)
    assert result.exit_code == 0, result.output
    settings, app = captured[0]
    assert settings.app == "" and settings.directory == str(tmp_path)
    assert app is not None  # the static files application
    assert CliRunner().invoke(porch.cli.cli, ["run"], env=environ).exit_code == 0
    assert captured[1][0].directory == "."


def test_porch_workers_variable_end_to_end():
    with PorchProcess(["run", APP], cwd=ROOT, env={"PORCH_WORKERS": "2"}) as proc:
        proc.wait_output("serving", count=2, timeout=START)
        assert "(2 workers" in proc.output
        assert len(proc.children()) == 2
        assert proc.stop() == 0


def test_porch_limit_request_body_variable_end_to_end():
    with PorchProcess(["run", APP], cwd=ROOT, env={"PORCH_LIMIT_REQUEST_BODY": "10"}) as proc:
        proc.wait_ready(timeout=START)
        assert httpx.post(proc.url + "/pid", content=b"x" * 10).status_code == 200
        assert httpx.post(proc.url + "/pid", content=b"x" * 11).status_code == 413
        assert proc.stop() == 0


@pytest.mark.parametrize(("environ", "logged"), [({}, True), ({"PORCH_ACCESS_LOG": "0"}, False)])
def test_porch_access_log_variable_end_to_end(environ, logged):
    with PorchProcess(["run", APP], cwd=ROOT, env=environ) as proc:
        proc.wait_ready(timeout=START)
        assert httpx.get(proc.url + "/pid").status_code == 200
        assert proc.stop() == 0
    assert ('"GET /pid HTTP/1.1" 200' in proc.output) == logged


def single_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["run", APP, "--bogus"], 2, "Error: No such option '--bogus'"),
        (["run", APP, "--workers", "0"], 2, "Error: --workers must be at least 1"),
        (["run", APP, "--port", "99999"], 2, "Error: --port must be between 0 and 65535"),
        (["run", APP, "--port", "http"], 2, "'http' is not a valid integer"),
        (["run", APP, "--ssl-certfile", "cert.pem"], 2, "must be given together"),
        (
            ["run", APP, "--ssl-certfile", "missing.pem", "--ssl-keyfile", "missing.pem"],
            1,
            "Error: Could not load the TLS certificate or key: [Errno 2] No such file",
        ),
        (
            ["run", APP, "--forwarded-allow-ips", "10.0.0.1,proxy.local"],
            2,
            "Error: --forwarded-allow-ips: 'proxy.local' is not an address or CIDR",
        ),
        (["run", APP, "--log-level", "loud"], 2, "'loud' is not one of"),
        (["run"], 2, "Error: Missing the application (module:attribute)"),
        (["run", "app"], 2, "must be given as module:attribute (not 'app')"),
        (["run", APP, "--uds", "/nonexistent/dir/porch.sock"], 1, "Could not listen on"),
        (["serve", "/nonexistent/dir"], 2, "Error: '/nonexistent/dir' is not a directory"),
        (["serve", str(ROOT / "pyproject.toml")], 2, "is not a directory"),
        (["nonsense"], 2, "No such command 'nonsense'"),
    ],
)
def test_bad_command_lines_get_one_line_errors(args, status, message):
    code, output = porch_command(*args)
    assert code == status, output
    assert message in single_line(output)


def test_bad_variable_gets_a_one_line_error():
    code, output = porch_command("run", APP, env={"PORCH_WORKERS": "many"})
    assert code == 2
    assert "Error: PORCH_WORKERS='many' is not a valid int" in single_line(output)


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ("tests.apps_process.nowhere:app", 'Could not import module "tests.apps_process.nowhere"'),
        ("tests.apps_process.broken_import:app", "RuntimeError: boom at import"),
        (APP.replace(":app", ":missing"), 'Attribute "missing" not found in module'),
        (
            "tests.apps_process.own_pool:create",
            "tests.apps_process.own_pool:create takes 0 positional argument(s), not 2 as a WSGI "
            "application does; if it makes the application, add --factory",
        ),
    ],
)
@pytest.mark.parametrize("workers", ["1", "2"])
def test_application_that_cannot_load_exits_3(app, message, workers):
    code, output = porch_command("run", app, "--port", "0", "--workers", workers)
    assert code == 3, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if "ERROR" in line]
    assert message in errors[0]
    if workers == "1":
        assert len(output.strip().splitlines()) == 1, output


def test_address_in_use_is_one_line():
    taken = listening_socket()
    try:
        port = taken.getsockname()[1]
        code, output = porch_command("run", APP, "--port", str(port))
    finally:
        taken.close()
    assert code == 1
    assert f"Could not listen on 127.0.0.1:{port}: Address already in use" in single_line(output)


def read_url(proc: subprocess.Popen, pattern: str) -> str:
    """The URL in the line where porch says it listens."""
    assert proc.stderr is not None
    deadline = time.monotonic() + START
    lines = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        lines.append(line)
        found = re.search(pattern, line)
        if found:
            return found.group(1)
    raise AssertionError("".join(lines))


@pytest.mark.parametrize("command", ["run", "serve"])
def test_porch_says_where_it_listens(tmp_path, command):
    (tmp_path / "hello.txt").write_text("hello")
    target = [APP] if command == "run" else [str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "porch", command, *target, "--port", "0"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        # Version, address, what serves there, and where the access log goes.
        interface = "ASGI" if command == "run" else "native"
        url = read_url(
            proc,
            rf"^\S+ \S+ \[\d+\] INFO Porch {re.escape(__version__)} listening on "
            rf"(http://127\.0\.0\.1:\d+) \({interface}, access log to stdout\)$",
        )
        path = "/pid" if command == "run" else "/hello.txt"
        response = httpx.get(url + path)
        assert response.status_code == 200
        if command == "serve":
            assert response.text == "hello"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(START) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()


# porch db: the application is found as porch run finds it; its errors are one line too.

DB_APP = """
from porch import App
from porch.db import Database


def create():
    app = App(__name__)
    Database(app, url="sqlite:///" + __file__ + ".db")
    return app
"""


def test_db_help_lists_the_settings_that_find_the_application():
    assert help_flags("db") == {
        "-h",
        "--help",
        "--app",
        "--app-dir",
        "--factory",
        "-d",
        "--directory",
    }
    _, output = porch_command("db", "--help")
    assert "PORCH_APP" in output and "PORCH_APP_DIR" in output
    for command in ("init", "makemigrations", "migrate", "downgrade", "history", "current"):
        assert f"  {command} " in output
    assert "  check " in output


def test_db_finds_the_application_as_run_does(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "project.py").write_text(DB_APP)
    environ = {"PORCH_APP": "project:create", "PORCH_APP_DIR": "site", "PORCH_FACTORY": "1"}
    code, output = porch_command("db", "init", env=environ, cwd=tmp_path)
    assert code == 0, output
    # Beside the application's module by default, as Flask-Migrate and Django do.
    assert "Created site/migrations" in output
    assert (tmp_path / "site" / "migrations" / "env.py").is_file()
    code, output = porch_command(
        "db", "--app", "project:create", "--app-dir", "site", "--factory", "current", cwd=tmp_path
    )
    assert (code, output.strip()) == (0, "At base: no migrations applied")
    code, output = porch_command("db", "-d", "elsewhere", "init", env=environ, cwd=tmp_path)
    assert code == 0 and (tmp_path / "elsewhere" / "env.py").is_file(), output


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["db", "current"], 2, "Error: Missing the application: porch db --app module:attribute"),
        (
            ["db", "--app", "tests.apps_process.nowhere:app", "current"],
            1,
            'Error: Could not import module "tests.apps_process.nowhere"',
        ),
        (["db", "--app", APP, "current"], 1, f"Error: {APP} is not a porch App"),
        (
            ["db", "--app", "tests.apps_process.failing_startup_hook:app", "current"],
            1,
            "has no Database: db = Database(app)",
        ),
        (
            ["db", "--app", "project:create", "--factory", "current"],
            1,
            "Error: No migrations folder at ",
        ),
        (["db", "--app", "project:create", "--factory", "downgrade"], 2, "Missing argument"),
        (["db", "nonsense"], 2, "No such command 'nonsense'"),
    ],
)
def test_db_errors_are_one_line(tmp_path, args, status, message):
    (tmp_path / "project.py").write_text(DB_APP)
    code, output = porch_command(
        *args, cwd=tmp_path, env={"PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"}
    )
    assert code == status, output
    assert message in single_line(output)


def test_db_unknown_revision_is_one_line(tmp_path):
    (tmp_path / "project.py").write_text(DB_APP)
    environ = {"PORCH_APP": "project:create", "PORCH_FACTORY": "1"}
    assert porch_command("db", "init", env=environ, cwd=tmp_path)[0] == 0
    code, output = porch_command("db", "migrate", "0ddba11", env=environ, cwd=tmp_path)
    assert code == 1
    assert single_line(output) == "Error: Can't locate revision identified by '0ddba11'"


def test_log_format_json_writes_one_object_a_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "porch", "run", APP, "--port", "0", "--log-format", "json",
         "--no-access-log", "--workers", "2"],
        cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        url = read_url(proc, r'"message":"Porch \S+ listening on (http://127\.0\.0\.1:\d+) ')
        assert httpx.get(url + "/pid").status_code == 200
        proc.send_signal(signal.SIGTERM)
        _, output = proc.communicate(timeout=20)
    finally:
        proc.kill()
    records = [json.loads(line) for line in output.splitlines()]
    assert {"time", "level", "logger", "worker", "message"} <= set(records[0])
    assert any(r["message"].startswith("Worker ") and r["level"] == "info" for r in records)
    assert all(r["time"].endswith("Z") and isinstance(r["worker"], int) for r in records)


def test_the_banner_says_where_logs_go_in_colour_on_a_terminal_only(monkeypatch):
    from porch.server.server import banner
    from porch.server.settings import Settings

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert banner(Settings(), "http://h:1", "ASGI") == (
        f"Porch {__version__} listening on \x1b[1;36mhttp://h:1\x1b[0m (ASGI, access log to stdout)"
    )
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b" not in banner(Settings(), "http://h:1")
    monkeypatch.delenv("NO_COLOR")
    assert "\x1b" not in banner(Settings(log_format="json"), "http://h:1")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert banner(Settings(access_log=False), "http://h:1", "WSGI").endswith(
        "listening on http://h:1 (WSGI, no access log)"
    )
    assert banner(Settings(access_log_path="/var/log/a.log"), "http://h:1").endswith(
        "(access log to /var/log/a.log)"
    )

"""The App's ASGI face (porch/web/asgi.py): its lifespan logs a failing startup or shutdown hook
with the hook's traceback, once, under porch run, under uvicorn and with TestClient."""

import logging
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

from porch.testing import TestClient
from tests.apps_process import failing_startup_hook
from tests.support import IN_CI, ROOT, PorchProcess

HOOKS = Path(failing_startup_hook.__file__)
TARGET = "tests.apps_process.failing_startup_hook:app"


def line_of(text: str) -> int:
    """The line of the hooks' module that holds `text`."""
    lines = HOOKS.read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


def check_logged_once(output: str) -> None:
    """`output` shows the failing hook's traceback, with its file and line, exactly once."""
    where = f'File "{HOOKS}", line {line_of("no database")}, in connect_database'
    assert output.count("Traceback (most recent call last)") == 1, output
    assert output.count(where) == 1, output
    assert "RuntimeError: no database" in output


def test_failing_startup_hook_is_logged_with_its_traceback_under_porch_run() -> None:
    proc = PorchProcess(["run", TARGET, "--no-access-log"], cwd=ROOT)
    try:
        code = proc.wait_exit(timeout=20)
    finally:
        proc.stop()
    assert code == 3, proc.output
    check_logged_once(proc.output)
    assert "Exception in the application's startup" in proc.output
    assert "Application startup failed: RuntimeError: no database" in proc.output
    assert proc.output.index("Traceback") < proc.output.index("Application startup failed")


def test_failing_startup_hook_is_logged_with_its_traceback_under_uvicorn() -> None:
    try:
        import uvicorn  # noqa: F401
    except ImportError:
        if IN_CI:
            raise
        pytest.skip("uvicorn is not installed")
    result = subprocess.run(
        [sys.executable, "-m", "uvicorn", TARGET, "--port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 3, output
    check_logged_once(output)
    assert "Application startup failed. Exiting." in output


@pytest.mark.parametrize("path", ["native", "asgi"])
def test_failing_startup_hook_is_logged_with_its_traceback_by_test_client(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = TestClient(failing_startup_hook.app, path=path)
    with (
        caplog.at_level(logging.ERROR, logger="porch.error"),
        pytest.raises(RuntimeError, match="startup failed: RuntimeError: no database"),
    ):
        client.__enter__()
    logged = [record for record in caplog.records if record.exc_info]
    assert len(logged) == 1
    assert logged[0].getMessage() == "Exception in the application's startup"
    assert logged[0].exc_info is not None
    frame = traceback.extract_tb(logged[0].exc_info[2])[-1]
    assert (frame.filename, frame.lineno, frame.name) == (
        str(HOOKS),
        line_of("no database"),
        "connect_database",
    )


@pytest.mark.parametrize("path", ["native", "asgi"])
def test_failing_shutdown_hook_is_logged_with_its_traceback(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = TestClient(failing_startup_hook.failing_shutdown, path=path)
    client.__enter__()
    with (
        caplog.at_level(logging.ERROR, logger="porch.error"),
        pytest.raises(RuntimeError, match="shutdown failed: RuntimeError: could not flush"),
    ):
        client.__exit__(None, None, None)
    logged = [record for record in caplog.records if record.exc_info]
    assert [record.getMessage() for record in logged] == ["Exception in the application's shutdown"]
    assert logged[0].exc_info is not None
    frame = traceback.extract_tb(logged[0].exc_info[2])[-1]
    assert (frame.lineno, frame.name) == (line_of("could not flush"), "flush_queue")

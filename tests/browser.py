"""Headless Chromium for the browser tests: Debian's chromium driven by Playwright.

Only Playwright's Python package is needed (not `playwright install`): it drives the system's
chromium through `executable_path`. Without either, the tests skip locally and fail in CI.
"""

import contextlib
import os
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.support import IN_CI

if TYPE_CHECKING:
    from playwright.sync_api import Browser

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None  # type: ignore[assignment]

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags, Chromium tries hosts this machine cannot reach.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MISSING = [
    what
    for what, present in (
        ("the playwright package (pip install playwright)", sync_playwright is not None),
        (f"chromium ({CHROMIUM}; apt-get install chromium)", os.access(CHROMIUM, os.X_OK)),
    )
    if not present
]
# Locally a missing browser skips; in CI it fails (CI must install it).
needs_browser = pytest.mark.skipif(
    bool(MISSING) and not IN_CI, reason="missing " + ", ".join(MISSING)
)


@contextlib.contextmanager
def launch() -> Iterator["Browser"]:
    """Headless Chromium, closed on the way out."""
    if MISSING:
        pytest.fail("the browser tests need " + " and ".join(MISSING))
    assert sync_playwright is not None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()

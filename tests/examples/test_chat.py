"""examples/chat under `porch run`: rooms over WebSockets and who is online as server-sent
events, with the websockets client and httpx, then in two headless Chromium pages that each
see what the other says."""

import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.browser import launch, needs_browser
from tests.support import ROOT, PorchProcess

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def chat() -> Iterator[PorchProcess]:
    with PorchProcess(["run", "app:app", "--app-dir", "examples/chat"], cwd=ROOT) as porch:
        porch.wait_ready()
        yield porch


def online_now(url: str, wanted: list[str]) -> None:
    """Wait until the /online stream says exactly `wanted`."""
    with httpx.stream("GET", f"{url}/online", timeout=10) as response:
        buffer = ""
        for text in response.iter_text():
            buffer += text
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                data = [line[6:] for line in block.splitlines() if line.startswith("data: ")]
                if data and json.loads(data[0]) == wanted:
                    return
    raise AssertionError(f"never online: {wanted}")


def test_rooms_and_presence(chat: PorchProcess) -> None:
    base = chat.url.replace("http://", "ws://")
    with (
        connect(f"{base}/ws/rooms/lobby?name=ann") as ann,
        connect(f"{base}/ws/rooms/lobby?name=bob") as bob,
        connect(f"{base}/ws/rooms/other?name=cy") as cy,
    ):
        online_now(chat.url, ["ann", "bob", "cy"])
        ann.send("hi <b>bob</b>")
        expected = {"name": "ann", "text": "hi <b>bob</b>"}
        assert json.loads(bob.recv(timeout=5)) == expected
        assert json.loads(ann.recv(timeout=5)) == expected  # everyone in the room, ann too
        bob.send("   ")  # nothing said: nothing sent
        bob.send("hello")
        assert json.loads(ann.recv(timeout=5)) == {"name": "bob", "text": "hello"}
        with pytest.raises(TimeoutError):
            cy.recv(timeout=0.3)  # another room hears nothing
    online_now(chat.url, [])
    with pytest.raises(InvalidStatus) as nameless:
        connect(f"{base}/ws/rooms/lobby?name=")
    assert nameless.value.response.status_code == 422


@needs_browser
def test_two_browsers_see_each_other(chat: PorchProcess) -> None:
    problems: list[str] = []
    with launch() as browser:
        pages: list[Page] = []
        for name in ("ann", "bob"):
            page = browser.new_page()
            page.set_default_timeout(10_000)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.goto(f"{chat.url}/?name={name}&room=lobby")
            page.wait_for_selector("body[data-connected=yes]")
            pages.append(page)
        ann, bob = pages
        for page in pages:
            page.wait_for_function(
                "document.querySelectorAll('#online li').length === 2"
                " && document.getElementById('online').textContent.includes('ann')"
                " && document.getElementById('online').textContent.includes('bob')"
            )
        ann.fill("input[name=text]", "hello <i>bob</i>")
        ann.press("input[name=text]", "Enter")
        bob.wait_for_function(
            "document.getElementById('messages').textContent.includes('hello <i>bob</i>')"
        )
        assert bob.locator("#messages i").count() == 0  # shown as text, never as HTML
        bob.fill("input[name=text]", "hi ann")
        bob.click("#say button")
        ann.wait_for_function("document.getElementById('messages').textContent.includes('hi ann')")
        bob.close()
        start = time.monotonic()
        ann.wait_for_function("document.querySelectorAll('#online li').length === 1")
        assert time.monotonic() - start < 10
    assert problems == []

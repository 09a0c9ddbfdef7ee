"""examples/hello/app.py: five lines of code, served in-process on both paths and by
`porch run app:app --app-dir examples/hello`."""

from collections.abc import Callable

import httpx

from porch.testing import TestClient
from tests.examples import EXAMPLES, load_example
from tests.support import ROOT, PorchProcess

Client = Callable[..., TestClient]


def test_hello_is_five_lines_of_code() -> None:
    source = (EXAMPLES / "hello" / "app.py").read_text(encoding="utf-8")
    assert len([line for line in source.splitlines() if line.strip()]) == 5


def test_hello_answers(client_for: Client) -> None:
    app = load_example("hello")["app"].app
    response = client_for(app).get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == "Hello, world!"
    assert client_for(app).get("/nope").status_code == 404


def test_hello_under_porch_run() -> None:
    with PorchProcess(["run", "app:app", "--app-dir", "examples/hello"], cwd=ROOT) as porch:
        porch.wait_ready()
        response = httpx.get(porch.url + "/", timeout=10)
        assert response.status_code == 200
        assert response.text == "Hello, world!"
        assert response.headers["server"] == "porch"

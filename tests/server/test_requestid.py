"""Request ids (porch/server/requestid.py): a trusted proxy's X-Request-ID or a new one, sent
back on the response, given to the application on every interface, and in its log records."""

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.wire import captured_log
from tests.support import PorchProcess, serve

SEEN: list[str] = []


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    request_id = scope["extensions"].get("porch.request_id", {}).get("id", "")
    logging.getLogger("someapp").warning("handling %s", scope["path"])
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": request_id.encode()})


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    logging.getLogger("someapp").warning("handling %s", environ["PATH_INFO"])
    start_response("200 OK", [])
    return [environ["porch.request_id"].encode()]


def native_app() -> Any:
    from porch import App, Request

    app = App(__name__)

    @app.get("/<path:rest>")
    def echo(request: Request, rest: str) -> str:
        logging.getLogger("someapp").warning("handling /%s", rest)
        return request.id

    return app


APPS = {"asgi": asgi_app, "wsgi": wsgi_app, "native": native_app}


@pytest.fixture(params=list(APPS))
def app(request: pytest.FixtureRequest) -> Any:
    made = APPS[request.param]
    return made() if request.param == "native" else made


def test_each_response_carries_the_id_the_application_saw(app: Any) -> None:
    from porch.server.requestid import install_record_factory

    install_record_factory()
    with (
        captured_log("someapp") as records,
        serve(app, request_id=True) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        answers = [client.get(f"/r{n}") for n in range(3)]
    ids = [answer.headers["x-request-id"] for answer in answers]
    assert [answer.text for answer in answers] == ids  # what the application was given
    assert len(set(ids)) == 3
    prefix = ids[0].rpartition("-")[0]
    assert all(i.startswith(prefix + "-") for i in ids)  # one worker's prefix, then a count
    # The application's own log records, made while each request ran, carry its id.
    assert [(r.getMessage(), r.request_id) for r in records] == [  # type: ignore[attr-defined]
        (f"handling /r{n}", ids[n]) for n in range(3)
    ]


@pytest.mark.parametrize(
    ("sent", "taken"),
    [
        ("7b0c2f3e-5d1a-4c1e-9d6f-1a2b3c4d5e6f", True),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", True),
        ("has space", False),
        ('quote"', False),
        ("x" * 129, False),
        ("", False),
    ],
)
def test_a_trusted_proxys_id_is_kept_when_well_formed(sent: str, taken: bool) -> None:
    with serve(asgi_app, request_id=True, proxy_headers=True) as server:  # 127.0.0.1 trusted
        answer = httpx.get(server.url + "/", headers={"x-request-id": sent})
    assert (answer.headers["x-request-id"] == sent) is taken
    assert answer.text == answer.headers["x-request-id"]


def test_an_untrusted_clients_id_is_not_taken() -> None:
    settings = {"request_id": True, "proxy_headers": True, "forwarded_allow_ips": "10.9.9.9"}
    with serve(asgi_app, **settings) as server:
        answer = httpx.get(server.url + "/", headers={"x-request-id": "forged-by-client"})
    assert answer.headers["x-request-id"] != "forged-by-client"
    with serve(asgi_app, request_id=True, proxy_headers=False) as server:
        answer = httpx.get(server.url + "/", headers={"x-request-id": "forged-by-client"})
    assert answer.headers["x-request-id"] != "forged-by-client"


def test_off_with_no_request_id() -> None:
    with serve(asgi_app, request_id=False) as server:
        answer = httpx.get(server.url + "/")
    assert "x-request-id" not in answer.headers
    assert answer.text == ""


APP = """
import logging

async def app(scope, receive, send):
    if scope["type"] == "http":
        logging.getLogger("porch.someapp").warning("inside the request")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
"""


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_porch_run_logs_the_id_in_both_logs(tmp_path: Path, log_format: str) -> None:
    (tmp_path / "idapp.py").write_text(APP)
    args = ["run", "idapp:app", "--log-format", log_format, "--access-log-format", "json"]
    with PorchProcess(args, cwd=tmp_path) as process:
        process.wait_ready()
        request_id = httpx.get(process.url + "/x").headers["x-request-id"]
        assert process.stop() == 0
    lines = process.output.splitlines()
    access = [
        json.loads(line) for line in lines if line.startswith('{"time"') and '"status"' in line
    ]
    assert [entry["request_id"] for entry in access] == [request_id]
    (warning,) = [line for line in lines if "inside the request" in line]
    if log_format == "json":
        assert json.loads(warning)["request_id"] == request_id
    else:
        assert f" WARNING [{request_id}] inside the request" in warning
    # Lines written outside any request have no id.
    (banner,) = [line for line in lines if "listening on" in line]
    assert request_id not in banner and "request_id" not in banner

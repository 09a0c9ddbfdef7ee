"""`porch run` on a unix socket and over TLS (porch/server/launch.py, server.py), in real
processes, the token of `--debug`, and the configuration errors that launch.run() finds before
serving."""

import logging
import os
import re
import signal
import socket
import ssl
import stat
import time
from pathlib import Path

import httpx
import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from porch.server.launch import ConfigError, run
from porch.server.settings import Settings
from tests.support import ROOT, PorchProcess, RawClient, listening_socket, wait_until

APP = "tests.apps_process.lifecycle:app"
START = 30.0


def uds_client(path: Path) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(uds=str(path)), base_url="http://porch")


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["one-process", "workers"])
def test_unix_socket(tmp_path, workers):
    path = tmp_path / "porch.sock"
    args = ["run", APP, "--uds", str(path), "--no-access-log", *workers]
    with PorchProcess(args, cwd=ROOT, bind=False) as proc:
        proc.wait_ready(timeout=START)
        if workers:
            proc.wait_output("serving", count=2, timeout=START)
        assert f"listening on unix:{path}" in proc.output
        assert stat.S_ISSOCK(path.stat().st_mode)
        assert stat.S_IMODE(path.stat().st_mode) == 0o666  # any local user may connect
        with uds_client(path) as client:
            pids = {client.get("/pid").text for _ in range(20)}
            assert client.get("/scheme").text == "http"
        assert pids <= {str(pid) for pid in proc.children()} | {str(proc.proc.pid)}
        assert proc.stop() == 0


def test_unix_socket_replaces_a_stale_socket_but_never_a_file(tmp_path):
    stale = tmp_path / "stale.sock"
    leftover = socket.socket(socket.AF_UNIX)
    leftover.bind(str(stale))  # what a killed server leaves behind
    leftover.close()
    with PorchProcess(["run", APP, "--uds", str(stale)], cwd=ROOT, bind=False) as proc:
        proc.wait_ready(timeout=START)
        with uds_client(stale) as client:
            assert client.get("/pid").status_code == 200
        assert proc.stop() == 0

    precious = tmp_path / "data.txt"
    precious.write_text("keep me")
    proc = PorchProcess(["run", APP, "--uds", str(precious)], cwd=ROOT, bind=False)
    assert proc.wait_exit(timeout=START) == 1
    assert precious.read_text() == "keep me"
    assert proc.output.strip().splitlines() == [
        f"Error: Could not listen on {precious}: Address already in use"
    ]


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A CA, and a certificate for 127.0.0.1 with its key in plain and encrypted PEM files."""
    directory = tmp_path_factory.mktemp("tls")
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    certificate.cert_chain_pems[0].write_to_path(directory / "cert.pem")
    for blob in certificate.cert_chain_pems[1:]:
        blob.write_to_path(directory / "cert.pem", append=True)
    certificate.private_key_pem.write_to_path(directory / "key.pem")
    key = serialization.load_pem_private_key(certificate.private_key_pem.bytes(), None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret"),
    )
    (directory / "encrypted-key.pem").write_bytes(encrypted)
    context = ssl.create_default_context()
    authority.configure_trust(context)
    return directory, context


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["one-process", "workers"])
def test_tls(certificates, workers):
    directory, context = certificates
    tls = [
        "--ssl-certfile",
        str(directory / "cert.pem"),
        "--ssl-keyfile",
        str(directory / "key.pem"),
    ]
    with PorchProcess(["run", APP, *tls, *workers], cwd=ROOT) as proc:
        proc.wait_ready(timeout=START)
        if workers:
            proc.wait_output("serving", count=2, timeout=START)
        url = f"https://127.0.0.1:{proc.port}"
        assert f"listening on {url}" in proc.output
        with httpx.Client(verify=context) as client:
            response = client.get(url + "/scheme")
            assert response.status_code == 200
            assert response.text == "https"
            assert response.extensions["http_version"] == b"HTTP/1.1"
        # Plain HTTP on the TLS port is refused without harm to the server.
        with RawClient(proc.port) as raw:
            raw.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert not raw.read_until_close(timeout=5).startswith(b"HTTP/1.1 200")
        with httpx.Client(verify=context) as client:
            assert client.get(url + "/pid").status_code == 200
        assert proc.stop() == 0


def test_tls_request_in_flight_finishes_on_sigterm(certificates, tmp_path):
    directory, context = certificates
    tls = [
        "--ssl-certfile",
        str(directory / "cert.pem"),
        "--ssl-keyfile",
        str(directory / "key.pem"),
    ]
    env = {"TESTAPP_REQUEST_LOG": str(tmp_path / "log")}
    with PorchProcess(["run", APP, *tls], cwd=ROOT, env=env) as proc:
        proc.wait_ready(timeout=START)
        raw = socket.create_connection(("127.0.0.1", proc.port))
        client = context.wrap_socket(raw, server_hostname="127.0.0.1")
        client.sendall(b"GET /slow?seconds=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert wait_until(lambda: (tmp_path / "log").exists(), START)
        proc.proc.send_signal(signal.SIGTERM)
        client.settimeout(10)
        received = b""
        while chunk := client.recv(65536):
            received += chunk
        assert received.startswith(b"HTTP/1.1 200 OK\r\n")
        assert received.endswith(b"slow done")
        client.close()
        assert proc.wait_exit(timeout=10) == 0


def test_tls_idle_keep_alive_connection_does_not_hold_shutdown(certificates):
    # Closing TLS waits for the client's close_notify, which an idle pooled client never sends.
    directory, context = certificates
    tls = [
        "--ssl-certfile",
        str(directory / "cert.pem"),
        "--ssl-keyfile",
        str(directory / "key.pem"),
    ]
    args = ["run", APP, *tls, "--timeout-graceful-shutdown", "4"]
    with PorchProcess(args, cwd=ROOT) as proc, httpx.Client(verify=context) as client:
        proc.wait_ready(timeout=START)
        assert client.get(f"https://127.0.0.1:{proc.port}/pid").status_code == 200
        signalled = time.monotonic()
        proc.proc.send_signal(signal.SIGTERM)  # the pooled connection sits idle meanwhile
        assert proc.wait_exit(timeout=15) == 0
        assert time.monotonic() - signalled < 2.5, proc.output


def test_tls_key_password(certificates):
    directory, context = certificates
    tls = [
        "--ssl-certfile",
        str(directory / "cert.pem"),
        "--ssl-keyfile",
        str(directory / "encrypted-key.pem"),
    ]
    wrong = PorchProcess(["run", APP, *tls, "--ssl-keyfile-password", "nope"], cwd=ROOT)
    assert wrong.wait_exit(timeout=START) == 1
    lines = wrong.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: Could not load the TLS certificate")
    with PorchProcess(["run", APP, *tls, "--ssl-keyfile-password", "s3cret"], cwd=ROOT) as proc:
        proc.wait_ready(timeout=START)
        with httpx.Client(verify=context) as client:
            assert client.get(f"https://127.0.0.1:{proc.port}/pid").status_code == 200
        assert proc.stop() == 0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"ssl_certfile": "missing.pem", "ssl_keyfile": "missing.pem"}, "TLS certificate"),
        ({"ssl_certfile": "cert.pem"}, "must be given together"),
        ({"workers": 0}, "--workers must be at least 1"),
        ({"forwarded_allow_ips": "10.0.0.0/33"}, "'10.0.0.0/33' is not an address or CIDR"),
        ({"port": 70000}, "--port must be between 0 and 65535"),
        ({"log_level": "loud"}, "--log-level must be one of"),
    ],
)
def test_run_refuses_settings_that_cannot_work(settings, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(Settings(app="tests.apps_process.lifecycle:app", **settings))


@pytest.fixture
def restore_logging():
    """run() sets up porch's loggers; give other tests theirs back."""
    loggers = [logging.getLogger(name) for name in ("porch", "porch.access")]
    saved = [(logger.handlers[:], logger.level, logger.propagate) for logger in loggers]
    yield
    for logger, (handlers, level, propagate) in zip(loggers, saved, strict=True):
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


@pytest.mark.usefixtures("restore_logging")
def test_run_says_when_the_address_is_taken():
    taken = listening_socket()
    port = taken.getsockname()[1]
    try:
        with pytest.raises(ConfigError, match=f"Could not listen on 127.0.0.1:{port}: "):
            run(Settings(app="tests.apps_process.lifecycle:app", port=port))
    finally:
        taken.close()


@pytest.mark.usefixtures("restore_logging")
def test_serving_on_an_inherited_descriptor_that_is_not_one():
    with pytest.raises(ConfigError, match="Could not listen on descriptor"):
        read_end, write_end = os.pipe()
        try:
            run(Settings(app="tests.apps_process.lifecycle:app", fd=read_end))
        finally:
            os.close(read_end)
            os.close(write_end)


# `porch run --debug` makes the debug page's token, prints it once, and hands it to the
# application in every worker and after every reload.

DEBUG_APP = """
from porch import App

app = App(__name__)

@app.get("/boom")
def boom():
    raise ValueError("debug-marker")
"""
TOKEN_LINE = re.compile(r"WARNING Debug mode: .* with the token (\S+) \(.*X-Porch-Debug-Token")


def debug_page_opens(url: str, token: str) -> bool:
    with httpx.Client(base_url=url, timeout=10) as client:
        locked = client.get("/boom")
        assert locked.status_code == 500 and "debug-marker" not in locked.text
        page = client.get("/boom", headers={"X-Porch-Debug-Token": token})
        return page.status_code == 500 and "ValueError: debug-marker" in page.text


@pytest.mark.parametrize(
    "mode", [[], ["--workers", "2"], ["--reload"]], ids=["one-process", "workers", "reload"]
)
def test_run_debug_prints_the_token_every_process_shares(tmp_path, mode):
    (tmp_path / "debugapp.py").write_text(DEBUG_APP)
    args = ["run", "debugapp:app", "--app-dir", str(tmp_path), "--debug", *mode]
    env = {"PORCH_DEBUG": "", "PORCH_DEBUG_TOKEN": ""}
    with PorchProcess(args, cwd=tmp_path, env=env) as proc:
        proc.wait_output("listening on", count=2 if mode == ["--reload"] else 1, timeout=START)
        if mode == ["--workers", "2"]:
            proc.wait_output("serving", count=2, timeout=START)
        tokens = TOKEN_LINE.findall(proc.output)
        assert len(tokens) == 1, proc.output  # one clear line, whatever the processes
        token = tokens[0]
        assert len(token) >= 20
        # Each worker answers some of these: all of them know the token.
        assert all(debug_page_opens(proc.url, token) for _ in range(6))
        if mode == ["--reload"]:
            (tmp_path / "debugapp.py").write_text(DEBUG_APP + "\n# changed\n")
            proc.wait_output("listening on", count=3, timeout=START)
            assert debug_page_opens(proc.url, token)  # the restarted server has it too
        assert TOKEN_LINE.findall(proc.output) == [token]


def test_run_debug_keeps_a_token_given_in_the_environment(tmp_path):
    (tmp_path / "debugapp.py").write_text(DEBUG_APP)
    args = ["run", "debugapp:app", "--app-dir", str(tmp_path), "--debug"]
    env = {"PORCH_DEBUG": "", "PORCH_DEBUG_TOKEN": "chosen-by-me"}
    with PorchProcess(args, cwd=tmp_path, env=env) as proc:
        proc.wait_ready(timeout=START)
        assert debug_page_opens(proc.url, "chosen-by-me")
        assert "chosen-by-me" not in proc.output


GC_APP = """
import gc
{setup}

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = f"{{gc.get_threshold()[0]}} {{gc.get_freeze_count() > 0}}".encode()
    await send({{"type": "http.response.start", "status": 200, "headers": []}})
    await send({{"type": "http.response.body", "body": body}})
"""


@pytest.mark.parametrize(
    ("setup", "expected"),
    [("", "10000 True"), ("gc.set_threshold(2000)", "2000 True")],
)
def test_a_served_process_tunes_its_garbage_collector(tmp_path, setup, expected):
    # server.tune_garbage_collector: a young generation of 10,000 and what the application made
    # at startup frozen; a threshold the application set itself is kept.
    (tmp_path / "gc_app.py").write_text(GC_APP.format(setup=setup))
    with PorchProcess(["run", "gc_app:app", "--no-access-log"], cwd=tmp_path) as process:
        process.wait_ready()
        assert httpx.get(process.url).text == expected

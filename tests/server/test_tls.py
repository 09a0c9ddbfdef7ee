"""TLS (`porch/server/tls.py`): certificates, ALPN, and the https scheme on every interface."""

import socket
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from porch.http.native import RequestHead, Response
from porch.server.settings import Settings
from porch.server.tls import make_ssl_context
from tests.support import needs_tool, serve


class Certificates:
    def __init__(self, folder: Path) -> None:
        ca = trustme.CA()
        issued = ca.issue_cert("127.0.0.1", "localhost")
        self.ca = folder / "ca.pem"
        self.cert = folder / "cert.pem"
        self.key = folder / "key.pem"
        ca.cert_pem.write_to_path(str(self.ca))
        with open(self.cert, "wb") as file:
            for pem in issued.cert_chain_pems:
                file.write(pem.bytes())
        issued.private_key_pem.write_to_path(str(self.key))
        self.encrypted_key = folder / "key-encrypted.pem"
        key = serialization.load_pem_private_key(issued.private_key_pem.bytes(), password=None)
        self.encrypted_key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"s3cret"),
            )
        )

    def settings(self) -> dict[str, Any]:
        return {"ssl_certfile": str(self.cert), "ssl_keyfile": str(self.key)}

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return Certificates(tmp_path_factory.mktemp("certs"))


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/file":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": scope["query_string"].decode()})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": f"{scope['scheme']} {len(body)}".encode()})


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{environ['wsgi.url_scheme']} {len(body)}".encode()]


class NativeApp:
    async def __porch_http__(self, head: RequestHead, body: Any) -> Response:
        data = await body.read()
        return Response(200, [], f"{head.scheme} {len(data)}".encode())


@pytest.mark.parametrize("app", [asgi_app, wsgi_app, NativeApp()], ids=["asgi", "wsgi", "native"])
def test_https_scheme_on_every_interface(certs: Certificates, app: Any) -> None:
    with serve(app, **certs.settings()) as server:
        assert server.url.startswith("https://")
        with httpx.Client(verify=certs.client_context()) as client:
            assert client.get(server.url).text == "https 0"
            assert client.post(server.url, content=b"x" * 300_000).text == "https 300000"


def test_alpn_selects_http11(certs: Certificates) -> None:
    context = certs.client_context()
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        serve(asgi_app, **certs.settings()) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.selected_alpn_protocol() == "http/1.1"
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        tls.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"https 0")


def test_large_file_over_tls(certs: Certificates, tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    content = bytes(range(256)) * 12289  # ~3 MiB: no sendfile through TLS
    path.write_bytes(content)
    with (
        serve(asgi_app, **certs.settings()) as server,
        httpx.Client(verify=certs.client_context()) as client,
    ):
        for _ in range(2):
            assert client.get(server.url + f"/file?{path}").content == content


def test_plain_http_on_a_tls_port_is_refused(certs: Certificates) -> None:
    with serve(asgi_app, **certs.settings()) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
            raw.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            try:
                data = raw.recv(65536)
            except ConnectionResetError:
                data = b""
        assert not data.startswith(b"HTTP/1.1 200")
        # The server is still fine afterwards.
        with httpx.Client(verify=certs.client_context()) as client:
            assert client.get(server.url).status_code == 200


@needs_tool("curl")
def test_curl_over_tls(certs: Certificates) -> None:
    with serve(asgi_app, **certs.settings()) as server:
        result = subprocess.run(
            ["curl", "-sS", "--cacert", str(certs.ca), server.url + "/", server.url + "/"],
            capture_output=True,
            timeout=20,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"https 0https 0"


def test_context_from_settings(certs: Certificates) -> None:
    assert make_ssl_context(Settings()) is None
    context = make_ssl_context(Settings(**certs.settings()))
    assert context is not None
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_encrypted_key(certs: Certificates) -> None:
    settings = Settings(
        ssl_certfile=str(certs.cert),
        ssl_keyfile=str(certs.encrypted_key),
        ssl_keyfile_password="s3cret",
    )
    assert make_ssl_context(settings) is not None
    settings.ssl_keyfile_password = "wrong"
    with pytest.raises(ValueError, match="Could not load the TLS certificate or key"):
        make_ssl_context(settings)


def test_missing_files_are_a_clear_error(tmp_path: Path, certs: Certificates) -> None:
    with pytest.raises(ValueError, match="Could not load the TLS certificate or key"):
        make_ssl_context(
            Settings(ssl_certfile=str(tmp_path / "no.pem"), ssl_keyfile=str(certs.key))
        )
    with pytest.raises(ValueError, match="Could not load the TLS certificate or key"):
        make_ssl_context(Settings(ssl_certfile=str(certs.key), ssl_keyfile=str(certs.key)))


def test_idle_pooled_tls_connection_does_not_hold_shutdown(certs: Certificates) -> None:
    server = serve(asgi_app, timeout_graceful_shutdown=10.0, **certs.settings())
    running = server.__enter__()
    with httpx.Client(verify=certs.client_context()) as client:
        assert client.get(running.url).status_code == 200
        # The client keeps its connection in the pool, idle, and never sends close_notify.
        started = time.monotonic()
        server.__exit__(None, None, None)
        assert not running.thread.is_alive()
        assert time.monotonic() - started < 3.0

"""An nginx configuration that runs from a temporary directory, touching nothing in /etc or /var."""

from collections.abc import Mapping
from pathlib import Path

CONF = """\
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;

events {{
    worker_connections 4096;
}}

http {{
    access_log {access_log};
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {workdir}/temp/body;
    proxy_temp_path {workdir}/temp/proxy;
    fastcgi_temp_path {workdir}/temp/fastcgi;
    uwsgi_temp_path {workdir}/temp/uwsgi;
    scgi_temp_path {workdir}/temp/scgi;
    types {{
        text/html html;
        text/plain txt;
    }}
    default_type application/octet-stream;

    server {{
        listen {host}:{port};
        root {root};
    }}
}}
"""


def write_nginx_conf(workdir: Path, values: Mapping[str, str]) -> None:
    """Write {workdir}/nginx.conf: one worker serving {root} on {port}, no access log."""
    _write(workdir, values, "off")


def write_logged_nginx_conf(workdir: Path, values: Mapping[str, str]) -> None:
    """The same, with nginx's own access log line (combined) to {workdir}/access.log, written
    from a 64 KiB buffer at least every 100 ms, as porch writes its own."""
    _write(workdir, values, f"{workdir}/access.log combined buffer=64k flush=100ms")


def _write(workdir: Path, values: Mapping[str, str], access_log: str) -> None:
    (workdir / "temp").mkdir(exist_ok=True)
    text = CONF.format(
        workdir=workdir,
        host=values["host"],
        port=values["port"],
        root=values["root"],
        access_log=access_log,
    )
    (workdir / "nginx.conf").write_text(text)

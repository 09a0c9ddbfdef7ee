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
    access_log off;
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
    (workdir / "temp").mkdir(exist_ok=True)
    text = CONF.format(
        workdir=workdir, host=values["host"], port=values["port"], root=values["root"]
    )
    (workdir / "nginx.conf").write_text(text)

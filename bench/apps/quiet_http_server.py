"""`python -m http.server PORT --bind HOST --directory DIR`, with its per-request log line off.

The standard library server has no switch for its access log, so this runs the same
ThreadingHTTPServer and SimpleHTTPRequestHandler with `log_message` silenced: every server in the
benchmark runs without an access log.
"""

import functools
import http.server
import sys
from typing import Any


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """SimpleHTTPRequestHandler without the line per request on stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing."""


def main() -> None:
    """Serve DIR on HOST:PORT until interrupted."""
    if len(sys.argv) != 4:
        sys.exit("usage: quiet_http_server.py HOST PORT DIR")
    host, port, directory = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    handler = functools.partial(QuietHandler, directory=directory)
    with http.server.ThreadingHTTPServer((host, port), handler) as server:
        print(f"Serving {directory} on http://{host}:{port}/", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()

"""`python -m bench.idle`: what idle keep-alive connections cost a server in resident memory.

Each server runs the bare ASGI app of asgi-plaintext (bench/apps/asgiapp.py) in one worker
pinned to a core, with its keep-alive timeout raised past the measurement. This opens
CONNECTIONS connections, sends one request on each and reads its answer, then leaves them
idle, and reports what the server's processes gained in resident memory (VmRSS, summed over
its process tree), per connection. Issue 13's memory scenario: porch beside uvicorn and granian.
"""

import argparse
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.processes import ServerError, free_port, pinned, running
from bench.runner import raise_file_limit
from bench.scenarios import APPS, HOST

CONNECTIONS = 10_000
KEEP_ALIVE = 600  # seconds: longer than any measurement
BIN = Path(sys.executable).parent
REQUEST = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"


@dataclass(frozen=True)
class IdleServer:
    label: str
    command: str  # {bin}, {host}, {port} filled in


SERVERS = (
    IdleServer(
        "porch",
        "{bin}/porch run asgiapp:app --host {host} --port {port} --no-access-log "
        f"--timeout-keep-alive {KEEP_ALIVE}",
    ),
    IdleServer(
        "uvicorn",
        "{bin}/uvicorn asgiapp:app --host {host} --port {port} --http httptools --loop uvloop "
        f"--no-access-log --timeout-keep-alive {KEEP_ALIVE} --backlog 8192",
    ),
    IdleServer(
        "granian",
        "{bin}/granian --interface asgi --host {host} --port {port} --workers 1 "
        "--no-access-log --backlog 8192 asgiapp:app",
    ),
)


def resident_kb(pid: int) -> int:
    """VmRSS of a process and all its descendants, in KiB."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        pending.extend(int(child) for child in children)
    return total


def measure(
    server: IdleServer, connections: int, cpu: int, workdir: Path, opening: bytes = REQUEST
) -> tuple[int, int]:
    """The server's resident memory (KiB) with one connection, and with `connections` idle,
    each opened with `opening` (a request, or a WebSocket handshake) and its answer read."""
    port = free_port(HOST)
    argv = server.command.format(bin=BIN, host=HOST, port=port).split()
    log = workdir / f"{server.label}.log"
    sockets: list[socket.socket] = []
    with running(pinned(cpu, argv), cwd=APPS, log=log, host=HOST, port=port) as process:
        try:
            first = socket.create_connection((HOST, port))
            first.sendall(opening)
            first.recv(65536)
            time.sleep(0.5)
            before = resident_kb(process.pid)
            sockets.append(first)
            for _ in range(connections - 1):
                sock = socket.create_connection((HOST, port))
                sock.sendall(opening)
                sockets.append(sock)
            for sock in sockets[1:]:
                if not sock.recv(65536):
                    raise ServerError(f"{server.label} closed an idle connection")
            time.sleep(1.0)
            return before, resident_kb(process.pid)
        finally:
            for sock in sockets:
                sock.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.idle", description=__doc__)
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument("--cpu", type=int, default=0, help="the core the server runs on")
    args = parser.parse_args(argv)
    if raise_file_limit() < args.connections + 100:
        sys.exit(f"bench.idle: {args.connections} connections need more open files")
    print(f"{args.connections:,} idle keep-alive connections, one worker each")
    print(f"{'Server':<10} {'RSS before':>12} {'RSS idle':>12} {'per connection':>16}")
    for server in SERVERS:
        with tempfile.TemporaryDirectory(prefix="porch-idle-") as workdir:
            before, after = measure(server, args.connections, args.cpu, Path(workdir))
        per = (after - before) * 1024 / (args.connections - 1)
        print(
            f"{server.label:<10} {before / 1024:>9.1f} MiB {after / 1024:>9.1f} MiB {per:>13,.0f} B"
        )


if __name__ == "__main__":
    main()

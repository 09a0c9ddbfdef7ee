"""`python -m bench.attacks`: two attacks on a worker, against porch and its peers side by side.

1. The pipelined reader: one connection sends PIPELINED requests for a large answer and reads
   none of them (a small receive buffer, no recv()). Measured: the resident memory of the
   server's processes before, and at its peak over FLOOD_SECONDS.
2. Slow bodies: SLOW_BODIES connections each declare a large body to a blocking handler and send
   a byte of it now and then. Measured: the latency of GET /small (a blocking handler too) on
   fresh connections while they are open; a request not answered in 2 s counts as a timeout.

Each server runs alone, pinned to one CPU; the attacker runs on the other. The results go to
the terminal and to docs/attacks.md. The applications are bench/apps/attack*.py.
"""

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.machine import describe_machine
from bench.processes import ServerError, free_port, pinned, running

REPO = Path(__file__).resolve().parent.parent
APPS = Path(__file__).resolve().parent / "apps"
DOCS = REPO / "docs" / "attacks.md"
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
PIPELINED = 3000
FLOOD_SECONDS = 5.0
SLOW_BODIES = 45
PROBES = 40
PROBE_TIMEOUT = 2.0
STATIC_FILE = "64k.bin"  # porch serves files up to 64 KiB from memory
# The bounds: porch's peak memory within 2x the peer's, and the blocking route under
# 100 ms (median) while the slow bodies are open.
MEMORY_RATIO = 2.0
LATENCY_LIMIT = 0.1
STAMP = "%Y-%m-%d %H:%M:%S UTC"


@dataclass(frozen=True)
class Contender:
    """A server in one attack: its label, command line, and the peer it is compared with."""

    label: str
    command: str  # placeholders: {bin} {host} {port} {files}
    target: str  # what the attack asks for
    peer: str | None = None  # the label of the server porch must stand beside

    def argv(self, port: int, files: Path) -> list[str]:
        """The command line, filled in."""
        values = {"bin": str(BIN), "host": HOST, "port": str(port), "files": str(files)}
        return [word.format_map(values) for word in self.command.split()]


PORCH = "{bin}/porch run --host {host} --port {port} --no-access-log "
UVICORN = "{bin}/uvicorn --host {host} --port {port} --no-access-log --log-level warning "
GUNICORN = "{bin}/gunicorn -k gthread --threads 10 -w 1 -b {host}:{port} --log-level warning "

MEMORY = (
    Contender("porch App", PORCH + "attack:app", "/big", "uvicorn ASGI"),
    Contender("porch ASGI", PORCH + "attack:asgi", "/big", "uvicorn ASGI"),
    Contender("uvicorn ASGI", UVICORN + "attack:asgi", "/big"),
    Contender("porch WSGI", PORCH + "attack:wsgi", "/big", "gunicorn gthread"),
    Contender("gunicorn gthread", GUNICORN + "attack:wsgi", "/big"),
    Contender(
        "porch serve",
        "{bin}/porch serve {files} --host {host} --port {port} --no-access-log",
        "/" + STATIC_FILE,
        "uvicorn StaticFiles",
    ),
    Contender(
        "uvicorn StaticFiles",
        "env ATTACK_FILES={files} " + UVICORN + "attack_static:app",
        "/" + STATIC_FILE,
    ),
)

SLOW = (
    Contender("porch App (def)", PORCH + "attack:app", "/upload"),
    Contender("FastAPI (def) on uvicorn", UVICORN + "attack_fastapi:app", "/upload"),
    Contender("porch WSGI", PORCH + "attack:wsgi", "/upload"),
    Contender("gunicorn gthread", GUNICORN + "attack:wsgi", "/upload"),
)


def group_memory(leader: int) -> int:
    """The resident memory of every process in the process group `leader` leads, in bytes."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if int(fields[2]) != leader:  # after the name: state, ppid, pgrp
                continue
            with open(f"/proc/{entry}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return total


def get(port: int, target: str, timeout: float = PROBE_TIMEOUT) -> float | None:
    """Seconds to GET `target` on a fresh connection; None if no whole answer in `timeout`."""
    started = time.monotonic()
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(f"GET {target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".encode())
            received = b""
            while chunk := sock.recv(1 << 20):
                received += chunk
    except OSError:
        return None
    return time.monotonic() - started if received.startswith(b"HTTP/1.1 200") else None


def pipelined_reader(port: int, leader: int, target: str) -> tuple[int, int]:
    """Run attack 1; the group's resident memory before it and at its peak."""
    for _ in range(3):
        get(port, target, timeout=10)  # what the first answers allocate, later ones reuse
    time.sleep(0.5)
    before = peak = group_memory(leader)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        sock.connect((HOST, port))
        sock.setblocking(False)
        payload = f"GET {target} HTTP/1.1\r\nHost: a\r\n\r\n".encode() * PIPELINED
        sent = 0
        deadline = time.monotonic() + FLOOD_SECONDS
        while time.monotonic() < deadline:
            if sent < len(payload):
                with contextlib.suppress(BlockingIOError):
                    sent += sock.send(payload[sent : sent + 16384])
            peak = max(peak, group_memory(leader))
            time.sleep(0.02)
    finally:
        sock.close()
    return before, peak


def slow_bodies(port: int, target: str) -> list[float | None]:
    """Run attack 2; the probe latencies (None: not answered in PROBE_TIMEOUT)."""
    sockets = []
    try:
        for _ in range(SLOW_BODIES):
            sock = socket.create_connection((HOST, port), timeout=5)
            head = f"POST {target} HTTP/1.1\r\nHost: a\r\nContent-Length: 5000000\r\n\r\n"
            sock.sendall(head.encode() + b"x")
            sockets.append(sock)
        time.sleep(0.3)
        latencies = []
        for _ in range(PROBES):
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.send(b"x")
            latencies.append(get(port, "/small"))
            time.sleep(0.02)
        return latencies
    finally:
        for sock in sockets:
            sock.close()


@contextlib.contextmanager
def serving(contender: Contender, files: Path, cpu: int, logs: Path) -> Iterator[tuple[int, int]]:
    """The contender started, pinned to `cpu`: its port and process group."""
    port = free_port(HOST)
    log = logs / f"{contender.label.replace(' ', '-').replace('/', '-')}.log"
    argv = pinned(cpu, contender.argv(port, files))
    with running(argv, cwd=APPS, log=log, host=HOST, port=port) as process:
        yield port, process.pid


def mib(size: float) -> str:
    return f"{size / 2**20:.0f} MiB"


def main(argv: Sequence[str] | None = None) -> None:
    """Run both attacks on every contender; print the tables, write docs/attacks.md."""
    parser = argparse.ArgumentParser(prog="python -m bench.attacks", description=__doc__)
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/attacks.md")
    args = parser.parse_args(argv)
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("two CPUs are needed: one for the server, one for the attacker")
    server_cpu, client_cpu = cpus[0], cpus[1]
    os.sched_setaffinity(0, {client_cpu})
    machine = describe_machine()
    memory: dict[str, tuple[int, int] | str] = {}
    latency: dict[str, list[float | None] | str] = {}
    with tempfile.TemporaryDirectory(prefix="porch-attacks-") as scratch:
        files, logs = Path(scratch) / "files", Path(scratch) / "logs"
        files.mkdir()
        logs.mkdir()
        (files / STATIC_FILE).write_bytes(os.urandom(65536))
        for contender in MEMORY:
            try:
                with serving(contender, files, server_cpu, logs) as (port, leader):
                    memory[contender.label] = pipelined_reader(port, leader, contender.target)
            except (ServerError, subprocess.SubprocessError, OSError) as exc:
                memory[contender.label] = f"not measured: {exc}"
            print_memory(contender.label, memory[contender.label])
        for contender in SLOW:
            try:
                with serving(contender, files, server_cpu, logs) as (port, _):
                    latency[contender.label] = slow_bodies(port, contender.target)
            except (ServerError, subprocess.SubprocessError, OSError) as exc:
                latency[contender.label] = f"not measured: {exc}"
            print_latency(contender.label, latency[contender.label])
    page = render(memory, latency, machine)
    if not args.no_docs:
        DOCS.write_text(page)
        print(f"\nwrote {DOCS.relative_to(REPO)}")


def print_memory(label: str, result: tuple[int, int] | str) -> None:
    if isinstance(result, str):
        print(f"{label:28} {result}")
    else:
        before, peak = result
        grew = mib(peak - before)
        print(f"{label:28} before {mib(before):>9}  peak {mib(peak):>9}  grew {grew}")


def summary(latencies: list[float | None]) -> tuple[float | None, float | None, int]:
    """Median and worst latency of the answered probes, and how many timed out."""
    answered = [value for value in latencies if value is not None]
    if not answered:
        return None, None, len(latencies)
    return statistics.median(answered), max(answered), len(latencies) - len(answered)


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f} ms"


def print_latency(label: str, result: list[float | None] | str) -> None:
    if isinstance(result, str):
        print(f"{label:28} {result}")
        return
    median, worst, timeouts = summary(result)
    print(f"{label:28} median {ms(median):>9}  worst {ms(worst):>9}  timeouts {timeouts}")


def render(
    memory: dict[str, tuple[int, int] | str],
    latency: dict[str, list[float | None] | str],
    machine: dict[str, Any],
) -> str:
    """docs/attacks.md."""
    lines = [
        "# Attacks",
        "",
        f"Generated by `python -m bench.attacks` on {time.strftime(STAMP, time.gmtime())}. "
        "Do not edit: `make bench-attacks` rewrites this page (see bench/attacks.py).",
        "",
        f"Machine: {machine['cpu']}, {machine['python']}, load average at start "
        f"{', '.join(map(str, machine['load_average']))}. Each server runs alone on one CPU "
        "(`taskset`), the attacker on the other.",
        "",
        "## A client that pipelines requests and reads no answer",
        "",
        f"One connection (4 KiB receive buffer, never read) sends `GET` {PIPELINED:,} times "
        f"for a 1 MiB answer (a 64 KiB file for the static servers); the resident memory of the "
        f"server's processes is sampled every 20 ms for {FLOOD_SECONDS:g} s. Target: porch's peak "
        f"within {MEMORY_RATIO:g}x its peer's.",
        "",
        "| Server | Before | Peak | Grew | Peak vs peer | Result |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for contender in MEMORY:
        result = memory.get(contender.label, "not run")
        if isinstance(result, str):
            lines.append(f"| {contender.label} | {result} | | | | |")
            continue
        before, peak = result
        ratio, verdict = "", ""
        peer = memory.get(contender.peer or "")
        if isinstance(peer, tuple):
            value = peak / peer[1]
            ratio = f"{value:.2f}x {contender.peer}"
            verdict = "**PASS**" if value <= MEMORY_RATIO else "**FAIL**"
        lines.append(
            f"| {contender.label} | {mib(before)} | {mib(peak)} | {mib(peak - before)} | "
            f"{ratio} | {verdict} |"
        )
    lines += [
        "",
        "## Slow request bodies to blocking handlers",
        "",
        f"{SLOW_BODIES} connections each declare a 5 MB body to a blocking handler (a `def` "
        "handler, a WSGI application) and send one byte of it every 30 ms or so; meanwhile "
        f"{PROBES} requests for `GET /small`, a blocking handler too, each on a fresh "
        f"connection. A probe not answered within {PROBE_TIMEOUT:g} s is a timeout. Target for "
        f"porch: a median under {LATENCY_LIMIT * 1000:g} ms and no timeout.",
        "",
        "| Server | Median | Worst | Timeouts | Result |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for contender in SLOW:
        result = latency.get(contender.label, "not run")
        if isinstance(result, str):
            lines.append(f"| {contender.label} | {result} | | | |")
            continue
        median, worst, timeouts = summary(result)
        verdict = ""
        if contender.label.startswith("porch"):
            passed = median is not None and median < LATENCY_LIMIT and timeouts == 0
            verdict = "**PASS**" if passed else "**FAIL**"
        lines.append(f"| {contender.label} | {ms(median)} | {ms(worst)} | {timeouts} | {verdict} |")
    lines += [
        "",
        "Porch receives a blocking handler's body on the event loop before a thread is taken "
        "(in memory up to 1 MiB, in a temporary file past it), and closes a body slower than "
        "`--min-request-body-rate` (240 bytes/s after 5 s): a slow client costs a connection, "
        "never a thread. gunicorn's threads each wait for their slow body, as its documentation "
        "says: it expects a buffering proxy (nginx) in front.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

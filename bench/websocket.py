"""`python -m bench.websocket`: WebSocket round trips per second, and what idle WebSocket
connections cost in memory (issue 11).

Each server runs the same ASGI echo app (bench/apps/wsecho.py) in one worker pinned to one
core. The load is this module's own client (`--client`), pinned to the other core: wrk speaks
no WebSocket. It opens CLIENTS connections (no compression offered), and on each sends a small
text message, waits for its echo, and sends the next; it counts the echoes of the measured
seconds and samples their latency. Its per-message work is a prebuilt frame written and a few
bytes parsed, so that the server, not the client, is what is measured. A server whose echo is
wrong is reported, not measured. Then `bench.idle`'s measure opens IDLE WebSocket connections
on each server and reports the resident memory each costs.
"""

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.idle import IdleServer, measure
from bench.processes import ServerError, free_port, pinned, running
from bench.runner import raise_file_limit
from bench.scenarios import APPS, HOST

CLIENTS = 64
IDLE = 10_000
MESSAGE = b"Hello, world!"
BIN = Path(sys.executable).parent
HANDSHAKE = (
    b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
    % base64.b64encode(b"porch-bench-key!")
)
TARGET = 1.25  # porch's round trips against uvicorn's

SERVERS = (
    IdleServer("porch", "{bin}/porch run wsecho:app --host {host} --port {port} --no-access-log"),
    IdleServer(
        "uvicorn",
        "{bin}/uvicorn wsecho:app --host {host} --port {port} --http httptools --loop uvloop "
        "--no-access-log --backlog 8192",
    ),
    IdleServer(
        "granian",
        "{bin}/granian --interface asgi --host {host} --port {port} --workers 1 "
        "--no-access-log --backlog 8192 wsecho:app",
    ),
)


def masked(payload: bytes) -> bytes:
    """A client's text frame (RFC 6455 §5.2), masked with a fixed key."""
    key = b"\x01\x02\x03\x04"
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes((0x81, 0x80 | len(payload))) + key + body


class EchoClient(asyncio.Protocol):
    """One connection: the handshake, then a message at a time, each sent when the last
    one's echo is back."""

    frame = masked(MESSAGE)
    echo = bytes((0x81, len(MESSAGE))) + MESSAGE

    def __init__(self, stats: "Stats") -> None:
        self.stats = stats
        self.buffer = b""
        self.open = False
        self.sent_at = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(HANDSHAKE)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.open:
            head, found, rest = self.buffer.partition(b"\r\n\r\n")
            if not found:
                return
            if not head.startswith(b"HTTP/1.1 101 "):
                self.stats.wrong = head.split(b"\r\n")[0].decode(errors="replace")
                return
            self.open = True
            self.buffer = rest
            self.send()
            return
        size = len(self.echo)
        while len(self.buffer) >= size:
            answer, self.buffer = self.buffer[:size], self.buffer[size:]
            if answer != self.echo:
                self.stats.wrong = f"echo {answer!r}"
                return
            self.stats.answered(time.perf_counter() - self.sent_at)
            self.send()

    def send(self) -> None:
        assert self.transport is not None
        self.sent_at = time.perf_counter()
        self.transport.write(self.frame)


class Stats:
    def __init__(self) -> None:
        self.counting = False
        self.count = 0
        self.latencies: list[float] = []
        self.wrong = ""

    def answered(self, latency: float) -> None:
        if self.counting:
            self.count += 1
            if self.count % 16 == 0:
                self.latencies.append(latency)


async def load(port: int, clients: int, warmup: float, duration: float) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    stats = Stats()
    transports = []
    for _ in range(clients):
        transport, _ = await loop.create_connection(lambda: EchoClient(stats), HOST, port)
        transports.append(transport)
    await asyncio.sleep(warmup)
    stats.counting = True
    started = time.perf_counter()
    await asyncio.sleep(duration)
    stats.counting = False
    elapsed = time.perf_counter() - started
    for transport in transports:
        transport.close()
    latencies = sorted(stats.latencies) or [0.0]
    return {
        "per_second": stats.count / elapsed,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "wrong": stats.wrong,
    }


def client_main(port: int, clients: int, warmup: float, duration: float) -> None:
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    print(json.dumps(runner(load(port, clients, warmup, duration))))


def echo_rate(
    server: IdleServer, clients: int, duration: float, cpus: tuple[int, int], workdir: Path
) -> dict[str, object]:
    """Round trips per second of `server`, with the client on the other core."""
    port = free_port(HOST)
    argv = server.command.format(bin=BIN, host=HOST, port=port).split()
    log = workdir / f"{server.label}.log"
    with running(pinned(cpus[0], argv), cwd=APPS, log=log, host=HOST, port=port):
        client = [sys.executable, "-m", "bench.websocket", "--client", str(port)]
        client += ["--clients", str(clients), "--duration", str(duration)]
        done = subprocess.run(
            pinned(cpus[1], client),
            capture_output=True,
            text=True,
            timeout=duration + 60,
            cwd=Path(__file__).resolve().parents[1],
            check=False,
        )
    if done.returncode != 0:
        raise ServerError(f"the client failed: {done.stderr.strip()[-500:]}")
    result: dict[str, object] = json.loads(done.stdout)
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.websocket", description=__doc__)
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--idle", type=int, default=IDLE, help="idle connections (0: skip)")
    parser.add_argument("--client", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client is not None:
        client_main(args.client, args.clients, 2.0, args.duration)
        return
    cpus = (0, 1) if (os.cpu_count() or 1) > 1 else (0, 0)
    raise_file_limit()
    rates: dict[str, list[float]] = {server.label: [] for server in SERVERS}
    p99: dict[str, list[float]] = {server.label: [] for server in SERVERS}
    failures: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="porch-ws-") as temp:
        for round_number in range(args.rounds):
            for server in SERVERS:
                if server.label in failures:
                    continue
                try:
                    result = echo_rate(server, args.clients, args.duration, cpus, Path(temp))
                except ServerError as exc:
                    failures[server.label] = str(exc)
                    continue
                if result["wrong"]:
                    failures[server.label] = f"answered wrongly: {result['wrong']}"
                    continue
                rates[server.label].append(float(result["per_second"]))  # type: ignore[arg-type]
                p99[server.label].append(float(result["p99_ms"]))  # type: ignore[arg-type]
                print(
                    f"round {round_number + 1}/{args.rounds} · {server.label}: "
                    f"{result['per_second']:,.0f} round trips/s, p99 {result['p99_ms']:.2f} ms",
                    flush=True,
                )
    print(f"\nWebSocket echo, {args.clients} clients, one core each side")
    print(f"{'Server':<10} {'round trips/s':>14} {'vs uvicorn':>11} {'p99':>10}")
    best = {label: max(values) for label, values in rates.items() if values}
    for label in rates:
        if label in failures:
            print(f"{label:<10} not measured: {failures[label]}")
            continue
        ratio = best[label] / best["uvicorn"] if "uvicorn" in best else 0.0
        print(f"{label:<10} {best[label]:>14,.0f} {ratio:>10.2f}x {min(p99[label]):>7.2f} ms")
    if "porch" in best and "uvicorn" in best:
        ratio = best["porch"] / best["uvicorn"]
        verdict = "PASS" if ratio >= TARGET else "FAIL"
        print(f"target porch >= {TARGET}x uvicorn: {verdict} ({ratio:.2f}x)")
    if args.idle:
        print(f"\n{args.idle:,} idle WebSocket connections, one worker each")
        print(f"{'Server':<10} {'RSS before':>12} {'RSS idle':>12} {'per connection':>16}")
        for server in SERVERS:
            with tempfile.TemporaryDirectory(prefix="porch-ws-idle-") as workdir:
                try:
                    before, after = measure(server, args.idle, cpus[0], Path(workdir), HANDSHAKE)
                except ServerError as exc:
                    print(f"{server.label:<10} not measured: {exc}")
                    continue
            per = (after - before) * 1024 / (args.idle - 1)
            print(
                f"{server.label:<10} {before / 1024:>9.1f} MiB {after / 1024:>9.1f} MiB "
                f"{per:>13,.0f} B"
            )


if __name__ == "__main__":
    main()

"""Running wrk on its own core, with the scenario's request, and reading its summary."""

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.processes import pinned, stop_group
from bench.request import Request

REPORT_SCRIPT = Path(__file__).parent / "wrk_report.lua"
MARKER = "BENCH-RESULT "
THREADS = 1


class WrkError(Exception):
    """wrk could not run, or printed no summary."""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: what was sent, what came back, and how long it took."""

    requests: int
    duration_s: float
    bytes: int
    # connect/read/write/timeout are socket errors; status counts answers outside 2xx-3xx.
    errors: dict[str, int]
    latency_us: dict[str, float]

    @property
    def requests_per_second(self) -> float:
        """Completed requests per second."""
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def error_count(self) -> int:
        """Socket errors and non-2xx/3xx answers together."""
        return sum(self.errors.values())

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the result."""
        return {
            "requests": self.requests,
            "duration_s": self.duration_s,
            "bytes": self.bytes,
            "requests_per_second": self.requests_per_second,
            "errors": self.errors,
            "latency_us": self.latency_us,
        }


def find_wrk() -> str | None:
    """The path of wrk, or None when it is not installed."""
    return shutil.which("wrk")


def wrk_command(
    wrk: str, origin: str, request: Request, *, connections: int, duration: int
) -> tuple[list[str], dict[str, str]]:
    """wrk's command line (`origin` is `http://host:port`) and the variables its script reads
    the method and body from."""
    argv = [wrk, f"-t{THREADS}", f"-c{connections}", f"-d{duration}s", "-s", str(REPORT_SCRIPT)]
    for name, value in request.headers:
        argv += ["-H", f"{name}: {value}"]
    argv.append(origin + request.path)
    # wrk takes headers as flags but a method and a body only from its Lua script.
    # os.fsdecode: the environment gives the script the body's exact bytes back.
    return argv, {"BENCH_METHOD": request.method, "BENCH_BODY": os.fsdecode(request.body)}


def run_wrk(
    origin: str, request: Request, *, connections: int, duration: int, cpu: int
) -> WrkResult:
    """Send `request` to `origin` for `duration` seconds on `connections` keep-alive
    connections."""
    wrk = find_wrk()
    if wrk is None:
        raise WrkError("wrk is not installed")
    argv, env = wrk_command(wrk, origin, request, connections=connections, duration=duration)
    process = subprocess.Popen(
        pinned(cpu, argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, **env},
    )
    try:
        output, _ = process.communicate(timeout=duration + 30)
    except subprocess.TimeoutExpired:
        raise WrkError(f"wrk did not finish within {duration + 30} s") from None
    finally:
        stop_group(process)
    return parse_output(output.decode(errors="replace"), process.returncode)


def parse_output(text: str, status: int | None) -> WrkResult:
    """The summary line that wrk_report.lua prints."""
    for line in text.splitlines():
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER) :])
            return WrkResult(
                requests=int(data["requests"]),
                duration_s=data["duration_us"] / 1e6,
                bytes=int(data["bytes"]),
                errors={key: int(value) for key, value in data["errors"].items()},
                latency_us={key: float(value) for key, value in data["latency_us"].items()},
            )
    raise WrkError(f"wrk exited with status {status} and no summary:\n{text.strip()[-500:]}")

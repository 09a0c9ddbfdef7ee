"""Running wrk on its own core and reading its summary."""

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.processes import pinned, stop_group

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


def run_wrk(url: str, *, connections: int, duration: int, cpu: int) -> WrkResult:
    """Load `url` for `duration` seconds with `connections` keep-alive connections."""
    wrk = find_wrk()
    if wrk is None:
        raise WrkError("wrk is not installed")
    argv = [
        wrk,
        f"-t{THREADS}",
        f"-c{connections}",
        f"-d{duration}s",
        "-s",
        str(REPORT_SCRIPT),
        url,
    ]
    process = subprocess.Popen(
        pinned(cpu, argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
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

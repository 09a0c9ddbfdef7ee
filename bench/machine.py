"""What the benchmark ran on: CPU, kernel, Python and the version of every server."""

import os
import platform
import re
import shutil
import subprocess
from importlib import metadata
from typing import Any

from bench.database import version as database_version

# Above this 1-minute load average, other work competes with the two pinned processes.
BUSY_LOAD = 0.5
PACKAGES = (
    "porch",
    "uvicorn",
    "uvloop",
    "httptools",
    "granian",
    "gunicorn",
    "starlette",
    "fastapi",
    "litestar",
    "blacksheep",
    "sanic",
    "falcon",
    "flask",
    "django",
    "jinja2",
    "sqlalchemy",
    "asyncpg",
    "psycopg",
    "flask-sqlalchemy",
)


def cpu_model() -> str:
    """The CPU's model name, as the kernel reports it."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def package_version(name: str) -> str:
    """The installed version of a Python distribution, or 'not installed'."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def tool_version(argv: list[str], pattern: str) -> str:
    """A version pulled out of a tool's output, or 'not installed'."""
    if shutil.which(argv[0]) is None:
        return "not installed"
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    match = re.search(pattern, result.stdout + result.stderr)
    return match.group(1) if match else "unknown"


def describe_machine() -> dict[str, Any]:
    """Everything about the machine and the software that the results depend on."""
    versions = {name: package_version(name) for name in PACKAGES}
    versions["nginx"] = tool_version(["nginx", "-v"], r"nginx/(\S+)")
    versions["wrk"] = tool_version(["wrk", "-v"], r"wrk (\S+)")
    versions["postgresql"] = database_version()
    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_allowed": sorted(os.sched_getaffinity(0)),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "versions": versions,
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }

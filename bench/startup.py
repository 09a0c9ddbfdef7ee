"""`python -m bench.startup`: an application of 300 typed routes in porch and in FastAPI, timed.

Two figures per framework, each the median of fresh interpreters: the time to import the
application (the framework first) and build its route table, and the time to generate its
OpenAPI document. The applications are bench/apps/startup/; each run is
`python -m startup.measure FRAMEWORK` (bench/apps/startup/measure.py), pinned to one CPU. The
results go to the terminal and to docs/startup.md.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.lock import exclusive_run
from bench.machine import describe_machine, package_version
from bench.processes import pinned

REPO = Path(__file__).resolve().parent.parent
APPS = Path(__file__).resolve().parent / "apps"
DOCS = REPO / "docs" / "startup.md"
FRAMEWORKS = ("porch", "fastapi")
SUBJECT = "porch"
RUNS = 5
# The bound for porch, on each of the two figures.
LIMIT_S = 0.5
RUN_TIMEOUT_S = 120
STAMP = "%Y-%m-%d %H:%M:%S UTC"


class StartupError(Exception):
    """A measuring run failed or printed no figures."""


@dataclass(frozen=True)
class Run:
    """The figures of one fresh interpreter."""

    framework_import_s: float
    app_build_s: float
    routes: int
    openapi_s: float | None  # None: the framework has no OpenAPI generator yet
    operations: int | None
    openapi_missing: str

    @property
    def startup_s(self) -> float:
        """The framework's import, the application's and its route table together."""
        return self.framework_import_s + self.app_build_s


@dataclass(frozen=True)
class Summary:
    """The medians of a framework's runs."""

    framework: str
    runs: int
    framework_import_s: float
    app_build_s: float
    startup_s: float
    openapi_s: float | None
    routes: int
    operations: int | None
    openapi_missing: str


def parse_run(output: str) -> Run:
    """The figures measure.py printed (its last line)."""
    lines = output.strip().splitlines()
    try:
        data = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise StartupError(f"no figures in the output:\n{output.strip()[-500:]}") from None
    return Run(
        framework_import_s=float(data["framework_import_s"]),
        app_build_s=float(data["app_build_s"]),
        routes=int(data["routes"]),
        openapi_s=None if data["openapi_s"] is None else float(data["openapi_s"]),
        operations=None if data["operations"] is None else int(data["operations"]),
        openapi_missing=str(data.get("openapi_missing", "")),
    )


def run_once(framework: str, cpu: int) -> Run:
    """One fresh interpreter importing and documenting the framework's application."""
    argv = pinned(cpu, [sys.executable, "-m", "startup.measure", framework])
    try:
        result = subprocess.run(
            argv, cwd=APPS, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise StartupError(f"{framework}: no answer within {RUN_TIMEOUT_S} s") from None
    if result.returncode != 0:
        raise StartupError(
            f"{framework}: exited with status {result.returncode}:\n{result.stderr.strip()[-800:]}"
        )
    return parse_run(result.stdout)


def summarize(framework: str, runs: Sequence[Run]) -> Summary:
    """The median of each figure over the runs."""
    openapi = [run.openapi_s for run in runs if run.openapi_s is not None]
    return Summary(
        framework=framework,
        runs=len(runs),
        framework_import_s=statistics.median(run.framework_import_s for run in runs),
        app_build_s=statistics.median(run.app_build_s for run in runs),
        startup_s=statistics.median(run.startup_s for run in runs),
        openapi_s=statistics.median(openapi) if openapi else None,
        routes=runs[-1].routes,
        operations=runs[-1].operations,
        openapi_missing=runs[-1].openapi_missing,
    )


def measure(
    runs: int, cpu: int, progress: Callable[[str], None], frameworks: Sequence[str] = FRAMEWORKS
) -> dict[str, Summary | str]:
    """Each framework's summary (or why it failed), its runs interleaved with the others'."""
    found: dict[str, list[Run]] = {framework: [] for framework in frameworks}
    failed: dict[str, str] = {}
    # A first, unmeasured run of each fills the bytecode caches and the page cache.
    for turn in range(runs + 1):
        for framework in frameworks:
            if framework in failed:
                continue
            try:
                run = run_once(framework, cpu)
            except StartupError as exc:
                failed[framework] = str(exc)
                progress(f"{framework}: FAILED, {exc}")
                continue
            if turn == 0:
                continue
            found[framework].append(run)
            openapi = "-" if run.openapi_s is None else f"{run.openapi_s:.3f} s"
            progress(
                f"run {turn}/{runs} · {framework}: import + routes {run.startup_s:.3f} s, "
                f"OpenAPI {openapi}"
            )
    return {
        framework: failed[framework]
        if framework in failed
        else summarize(framework, found[framework])
        for framework in frameworks
    }


def seconds(value: float | None) -> str:
    """`0.123 s`, or a dash."""
    return "—" if value is None else f"{value:.3f} s"


def verdict(value: float | None) -> str:
    """PASS or FAIL against LIMIT_S, N/A when there is no figure."""
    if value is None:
        return "N/A"
    return "PASS" if value < LIMIT_S else "FAIL"


def openapi_cell(summary: Summary) -> str:
    """The OpenAPI figure, or why there is none."""
    return seconds(summary.openapi_s) if summary.openapi_s is not None else "not available"


def ratio(value: float | None, subject: float | None) -> str:
    """`4.7x`: how many times porch's figure `value` is, or nothing."""
    if value is None or subject is None:
        return ""
    return f"{value / subject:.1f}x"


def table_rows(results: dict[str, Summary | str]) -> list[list[str]]:
    """One row per framework: its figures, and the totals' ratios to porch's."""
    subject = results.get(SUBJECT)
    base = subject if isinstance(subject, Summary) else None
    rows = []
    for framework, summary in results.items():
        if isinstance(summary, str):
            rows.append([framework, "failed", *[""] * (len(HEADINGS) - 2)])
            continue
        rows.append(
            [
                framework,
                seconds(summary.framework_import_s),
                seconds(summary.app_build_s),
                seconds(summary.startup_s),
                ratio(summary.startup_s, base.startup_s if base else None),
                openapi_cell(summary),
                ratio(summary.openapi_s, base.openapi_s if base else None),
                f"{summary.routes} / {summary.operations or '—'}",
            ]
        )
    return rows


HEADINGS = [
    "Framework",
    "Framework import",
    "Application + route table",
    "Import + route table",
    "vs porch",
    "OpenAPI document",
    "vs porch",
    "Routes / operations",
]


GOALS = (f"import + route table < {LIMIT_S:g} s", f"OpenAPI document < {LIMIT_S:g} s")


def goals(results: dict[str, Summary | str]) -> list[tuple[str, str, str]]:
    """(goal, measured, verdict) for porch's two bounds."""
    subject = results.get(SUBJECT)
    if not isinstance(subject, Summary):
        return [(goal, "failed (see below)", "FAIL") for goal in GOALS]
    return [
        (GOALS[0], seconds(subject.startup_s), verdict(subject.startup_s)),
        (GOALS[1], openapi_cell(subject), verdict(subject.openapi_s)),
    ]


def terminal_report(results: dict[str, Summary | str]) -> str:
    """The table and porch's verdicts, as plain text."""
    rows = [HEADINGS, *table_rows(results)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(HEADINGS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.append("")
    lines += [f"porch {goal}: {result} ({measured})" for goal, measured, result in goals(results)]
    lines += [
        f"{framework}: {summary}"
        for framework, summary in results.items()
        if isinstance(summary, str)
    ]
    return "\n".join(lines)


def markdown_report(
    results: dict[str, Summary | str], runs: int, machine: dict[str, Any], when: str
) -> str:
    """docs/startup.md."""
    versions = ", ".join(
        f"{name} {package_version(name)}" for name in ("porch", "msgspec", "fastapi", "pydantic")
    )
    lines = [
        "# Startup: 300 typed routes",
        "",
        f"Generated by `python -m bench.startup` on {when}. Do not edit: `make bench-startup` "
        "rewrites this page (see bench/startup.py).",
        "",
        "One application of 300 typed routes (bench/apps/startup/), written for porch and for "
        "FastAPI: 50 resources, each with two models of its own (the item and its nested "
        "owner) and six routes with typed, constrained query parameters, a model as the body "
        "(POST, PUT) and a model or a list of them as the response model. Each figure is the "
        f"median of {runs} fresh interpreters (after one unmeasured run that fills the "
        "bytecode caches), pinned to one CPU:",
        "",
        "- **Import + route table**: importing the framework, then the application module, "
        "then the route table (porch: `app.table`; FastAPI builds its routes as they are "
        "declared). The interpreter's own start is not counted.",
        "- **OpenAPI document**: porch's `porch.web.openapi.openapi_document(app)`, FastAPI's "
        "`app.openapi()`, called once.",
        "",
        "## Targets",
        "",
        "| Goal | Measured | Result |",
        "| --- | --- | --- |",
        *(
            f"| porch {goal} | {measured} | **{result}** |"
            for goal, measured, result in goals(results)
        ),
        "",
        "## Results",
        "",
        "| " + " | ".join(HEADINGS) + " |",
        "| --- |" + " ---: |" * (len(HEADINGS) - 1),
        *("| " + " | ".join(row) + " |" for row in table_rows(results)),
        "",
        f"Machine: {machine['cpu']}, {machine['python']}, load average at start "
        f"{', '.join(map(str, machine['load_average']))}. Versions: {versions}.",
    ]
    for framework, summary in results.items():
        if isinstance(summary, str):
            lines += ["", f"{framework} failed:", "", "```", summary, "```"]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    """Measure every framework, print the table, rewrite docs/startup.md."""
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument("--runs", type=int, default=RUNS, help=f"runs per framework ({RUNS})")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/startup.md")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    cpu = min(os.sched_getaffinity(0))
    with exclusive_run(print):
        machine = describe_machine()
        when = time.strftime(STAMP, time.gmtime())
        results = measure(args.runs, cpu, lambda line: print(line, flush=True))
    print()
    print(terminal_report(results))
    if not args.no_docs:
        DOCS.write_text(markdown_report(results, args.runs, machine, when))
        print(f"\nwrote {DOCS.relative_to(REPO)}")


if __name__ == "__main__":
    main()

"""`python -m bench`: measure, print the tables, save JSON, and rewrite docs/benchmarks.md."""

import argparse
import os
import shlex
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from bench import report
from bench.lock import exclusive_run
from bench.machine import BUSY_LOAD, describe_machine
from bench.runner import Plan, check_all, measure_all, raise_file_limit
from bench.scenarios import GROUPS, SCENARIOS, Scenario
from bench.wrk import find_wrk

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs" / "benchmarks.md"
RESULTS = Path(__file__).resolve().parent / "results"
# nginx lives in sbin, which is not on every user's PATH.
EXTRA_PATH = ("/usr/sbin", "/usr/local/sbin", "/sbin")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    names = [scenario.name for scenario in SCENARIOS]
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Porch side by side with its peers: one pinned server process, wrk on "
        "another core, several rounds, medians and ratios.",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=names,
        metavar="NAME",
        help=f"run only this scenario (repeatable): {', '.join(names)}",
    )
    parser.add_argument(
        "--group",
        action="append",
        choices=list(GROUPS),
        help="run only the scenarios of this group (repeatable), e.g. database",
    )
    parser.add_argument(
        "--server",
        action="append",
        metavar="LABEL",
        help="run only the server with this label in each scenario (repeatable), e.g. porch",
    )
    parser.add_argument("--rounds", type=positive, default=None, help="rounds (default 3)")
    parser.add_argument(
        "--duration", type=positive, default=None, help="seconds measured per run (default 10)"
    )
    parser.add_argument(
        "--warmup", type=int, default=None, help="seconds of warm-up per run (default 2)"
    )
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s, 1 s warm-up")
    parser.add_argument(
        "--docs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="rewrite docs/benchmarks.md and its chart (default: only when every scenario runs)",
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument(
        "--check",
        action="store_true",
        help="start each server once and check its answer, without measuring",
    )
    args = parser.parse_args(argv)
    if args.warmup is not None and args.warmup < 0:
        parser.error("--warmup must not be negative")
    return args


def positive(text: str) -> int:
    """An integer of at least 1, for argparse."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def list_scenarios() -> None:
    """Print each scenario, its servers and its target."""
    for scenario in SCENARIOS:
        print(f"{scenario.name}: {scenario.title}")
        goals = [scenario.target.describe()] if scenario.target else []
        if scenario.ahead_of:
            goals.append(f"{scenario.subject} ahead of {', '.join(scenario.ahead_of)}")
        refused = f", {len(scenario.refused)} invalid requests" if scenario.refused else ""
        print(f"  {scenario.request}, {scenario.connections} connections{refused}")
        print(f"  targets: {'; '.join(goals)}")
        if scenario.compared_with:
            print(f"  ratio to {', '.join(scenario.compared_with)} reported (no target)")
        for server in scenario.servers:
            print(f"  - {server.label}")


def choose_cpus() -> tuple[int, int]:
    """The server's core and wrk's core: the first two this process may run on."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        sys.exit(
            f"bench: needs two CPUs (one for the server, one for wrk); this process may use "
            f"only {allowed}"
        )
    return allowed[0], allowed[1]


def interrupt(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM and SIGHUP into KeyboardInterrupt, so every server is stopped on the way out."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark as the command line says."""
    args = parse_args(argv)
    raise_file_limit()  # the many-connections scenarios open thousands of sockets
    if args.list:
        list_scenarios()
        return
    scenarios = [
        s
        for s in SCENARIOS
        if (not args.scenario or s.name in args.scenario)
        and (not args.group or s.group in args.group)
    ]
    labels = args.server or []
    known = {server.label for scenario in scenarios for server in scenario.servers}
    if unknown := sorted(set(labels) - known):
        sys.exit(
            f"bench: no server {', '.join(unknown)}; the servers are: {', '.join(sorted(known))}"
        )
    if args.check:
        check(scenarios, labels)
        return
    plan = make_plan(args)
    # By default only a run of everything speaks for the docs.
    write_docs = args.docs if args.docs is not None else not (args.scenario or args.group or labels)
    command = shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)])
    # Started in the background, a process inherits an ignored SIGINT: take Ctrl+C back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)

    try:
        with exclusive_run(progress):
            machine = describe_machine()
            started = time.localtime()
            announce(machine, plan)
            outcomes = measure_all(scenarios, plan, progress, labels=labels)
            machine["load_average_end"] = [round(value, 2) for value in os.getloadavg()]
    except KeyboardInterrupt:
        print("bench: interrupted; every server was stopped", file=sys.stderr)
        sys.exit(130)
    when = time.strftime("%Y-%m-%d %H:%M:%S %Z", started)

    print(report.terminal_report(scenarios, outcomes))
    RESULTS.mkdir(exist_ok=True)
    saved = RESULTS / f"{time.strftime('%Y%m%d-%H%M%S', started)}.json"
    saved.write_text(report.results_json(scenarios, outcomes, plan, machine, command, when))
    print(f"\nraw results: {saved.relative_to(REPO)}")
    if write_docs:
        DOCS.parent.mkdir(exist_ok=True)
        charts = report.draw_charts(scenarios, outcomes, DOCS.parent)
        text = report.markdown_report(scenarios, outcomes, plan, machine, command, when, charts)
        DOCS.write_text(text)
        written = [DOCS, *(DOCS.parent / name for name in charts.values())]
        print(f"rewrote {', '.join(str(path.relative_to(REPO)) for path in written)}")
    elif args.docs is None:
        print(f"{DOCS.relative_to(REPO)} left as it was: a subset ran (--docs rewrites it anyway)")


def check(scenarios: Sequence[Scenario], labels: Sequence[str]) -> None:
    """`--check`: every server's answer, no load (nor wrk); exit status 1 if one is wrong."""
    os.environ["PATH"] = os.pathsep.join([os.environ.get("PATH", ""), *EXTRA_PATH])
    if shutil.which("taskset") is None:
        sys.exit(
            "bench: taskset is not installed (on Debian or Ubuntu: apt-get install util-linux)"
        )
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        allowed = sorted(os.sched_getaffinity(0))
        # PostgreSQL, when a scenario needs it, on the second core as in a measured run.
        outcomes = check_all(scenarios, allowed[0], progress, labels, allowed[-1])
    except KeyboardInterrupt:
        print("bench: interrupted; every server was stopped", file=sys.stderr)
        sys.exit(130)
    failed = [f"{scenario} · {label}" for (scenario, label), o in outcomes.items() if o.failure]
    if failed:
        sys.exit(f"bench: {len(failed)} of {len(outcomes)} failed: {', '.join(failed)}")
    print(f"bench: all {len(outcomes)} answered as expected")


def announce(machine: dict[str, Any], plan: Plan) -> None:
    """Say what is about to run, and warn when other work competes for the cores."""
    load = machine["load_average"]
    if load[0] > BUSY_LOAD:
        progress(
            f"bench: warning: the machine is busy (load average {load[0]:.2f}); "
            "the numbers will be noisy"
        )
    progress(
        f"bench: {machine['cpu']}, server on CPU {plan.server_cpu}, wrk on CPU "
        f"{plan.client_cpu}; {plan.rounds} round(s) of {plan.duration} s"
    )


def make_plan(args: argparse.Namespace) -> Plan:
    """Rounds, durations and cores; stops with a message when wrk or taskset is missing."""
    os.environ["PATH"] = os.pathsep.join([os.environ.get("PATH", ""), *EXTRA_PATH])
    if find_wrk() is None:
        sys.exit("bench: wrk is not installed (on Debian or Ubuntu: apt-get install wrk)")
    if shutil.which("taskset") is None:
        sys.exit(
            "bench: taskset is not installed (on Debian or Ubuntu: apt-get install util-linux)"
        )
    server_cpu, client_cpu = choose_cpus()
    rounds, duration, warmup = (1, 3, 1) if args.quick else (3, 10, 2)
    return Plan(
        rounds=args.rounds or rounds,
        duration=args.duration or duration,
        warmup=warmup if args.warmup is None else args.warmup,
        server_cpu=server_cpu,
        client_cpu=client_cpu,
    )


def progress(line: str) -> None:
    """Say what just happened, at once."""
    print(line, flush=True)

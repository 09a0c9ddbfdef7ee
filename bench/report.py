"""The results three ways: tables in the terminal, docs/benchmarks.md with its charts, JSON."""

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import database as db
from bench.answers import REFUSED
from bench.machine import BUSY_LOAD
from bench.runner import Outcome, Plan
from bench.scenarios import GROUPS, SCENARIOS, Scenario
from bench.wrk import THREADS

Outcomes = Mapping[tuple[str, str], Outcome]
LARGE_BODY = 64 * 1024


@dataclass(frozen=True)
class Verdict:
    """Whether a scenario's target was reached, and the measured ratio."""

    passed: bool | None  # None: the reference could not be measured, or there is no target
    ratio: float | None
    reason: str
    # False: a ratio reported for information, with nothing to reach.
    goal: bool = True

    @property
    def label(self) -> str:
        """PASS, FAIL, N/A, or "no target"."""
        if not self.goal:
            return "no target"
        return {True: "PASS", False: "FAIL", None: "N/A"}[self.passed]


def judge(scenario: Scenario, outcomes: Outcomes) -> Verdict | None:
    """Compare the target's subject with its reference (None: the scenario has no target)."""
    target = scenario.target
    if target is None:
        return None
    subject = outcomes.get((scenario.name, target.subject))
    reference = outcomes.get((scenario.name, target.reference))
    if reference is None or reference.median is None:
        return Verdict(None, None, f"{target.reference} was not measured")
    if subject is None or subject.median is None:
        return Verdict(False, None, f"{target.subject} was not measured")
    ratio = subject.median / reference.median
    if subject.errors:
        return Verdict(False, ratio, f"{target.subject}'s runs had errors")
    passed = ratio >= target.ratio
    reason = f"{ratio:.2f}x"
    if reference.errors:
        reason += f" ({target.reference}'s runs had errors)"
    return Verdict(passed, ratio, reason)


def judge_ahead(scenario: Scenario, outcomes: Outcomes) -> Verdict | None:
    """Whether the subject served more than each of `ahead_of` (None: nothing to beat).

    The ratio is the subject's to the fastest of the others. A peer whose runs had errors still
    counts: errors answered fast must not let porch pass.
    """
    if not scenario.ahead_of:
        return None
    name = scenario.subject
    subject = outcomes.get((scenario.name, name))
    measured = {
        label: outcome.median
        for label in scenario.ahead_of
        if (outcome := outcomes.get((scenario.name, label))) is not None
        and outcome.median is not None
    }
    missing = [label for label in scenario.ahead_of if label not in measured]
    unmeasured = f"; not measured: {', '.join(missing)}" if missing else ""
    if not measured:
        return Verdict(None, None, "no other framework was measured")
    if subject is None or subject.median is None:
        return Verdict(False, None, f"{name} was not measured")
    fastest = max(measured, key=lambda label: measured[label])
    ratio = subject.median / measured[fastest]
    if subject.errors:
        return Verdict(False, ratio, f"{name}'s runs had errors{unmeasured}")
    ahead = [label for label, median in measured.items() if median >= subject.median]
    if ahead:
        beaten_by = ", ".join(
            f"{label} ({measured[label] / subject.median:.2f}x {name})"
            for label in sorted(ahead, key=lambda label: -measured[label])
        )
        return Verdict(False, ratio, f"behind {beaten_by}{unmeasured}")
    return Verdict(True, ratio, f"{ratio:.2f}x the fastest other, {fastest}{unmeasured}")


def compare(scenario: Scenario, outcomes: Outcomes, label: str) -> Verdict:
    """The subject's ratio to `label`, with no target to reach."""
    subject = outcomes.get((scenario.name, scenario.subject))
    other = outcomes.get((scenario.name, label))
    if subject is None or subject.median is None or other is None or other.median is None:
        missing = scenario.subject if subject is None or subject.median is None else label
        return Verdict(None, None, f"{missing} was not measured", goal=False)
    ratio = subject.median / other.median
    return Verdict(None, ratio, f"{ratio:.2f}x", goal=False)


def verdicts(scenario: Scenario, outcomes: Outcomes) -> list[tuple[str, Verdict]]:
    """Each goal of a scenario, described, with its verdict, then the ratios without target."""
    found = []
    target, verdict = scenario.target, judge(scenario, outcomes)
    if target is not None and verdict is not None:
        found.append((f"target {target.describe()}", verdict))
    ahead = judge_ahead(scenario, outcomes)
    if ahead is not None:
        others = {server.label for server in scenario.servers} - {scenario.subject}
        every = others == set(scenario.ahead_of)
        peers = "every framework" if every else ", ".join(scenario.ahead_of)
        found.append((f"{scenario.subject} ahead of {peers}", ahead))
    found.extend(
        (f"{scenario.subject} vs {label}", compare(scenario, outcomes, label))
        for label in scenario.compared_with
    )
    return found


def format_errors(errors: Mapping[str, int]) -> str:
    """`12 status, 3 read` or `0`."""
    if not errors:
        return "0"
    return ", ".join(
        f"{count} {'non-2xx' if kind == 'status' else kind}" for kind, count in errors.items()
    )


def rows(scenario: Scenario, outcomes: Outcomes) -> list[dict[str, str]]:
    """One row per server: median, range, ratio to the reference, p99, errors."""
    reference = outcomes.get((scenario.name, scenario.reference))
    base = reference.median if reference else None
    table = []
    for server in scenario.servers:
        outcome = outcomes.get((scenario.name, server.label))
        if outcome is None:
            continue
        row = {"server": server.label}
        median = outcome.median
        if median is None:
            row.update(rate="—", range="—", ratio="—", p99="—", transfer="—", errors="—")
        else:
            samples = outcome.samples
            p99 = statistics.median(sample.latency_us["p99"] for sample in samples)
            transfer = statistics.median(sample.bytes / sample.duration_s for sample in samples)
            row.update(
                rate=f"{median:,.0f}",
                range=f"{min(outcome.rates):,.0f}-{max(outcome.rates):,.0f}",
                ratio=f"{median / base:.2f}x" if base else "—",
                p99=f"{p99 / 1000:.2f} ms",
                transfer=f"{transfer / 1e6:,.0f} MB/s",
                errors=format_errors(outcome.errors),
            )
        if outcome.failure:
            if median is None:
                row["errors"] = f"did not run: {short_failure(outcome.failure)}"
            else:
                row["errors"] += f"; then failed: {short_failure(outcome.failure)}"
        table.append(row)
    return table


def short_failure(text: str) -> str:
    """A failure in one line: what happened, and the last line the server wrote."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) < 2:
        return lines[0] if lines else "unknown"
    return f"{lines[0].rstrip(':')}: {lines[-1]}"


def columns(scenario: Scenario) -> list[tuple[str, str]]:
    """(key, heading) of the table's columns."""
    heads = [
        ("server", "Server"),
        ("rate", "req/s (median)"),
        ("range", "min-max"),
        ("ratio", f"vs {scenario.reference}"),
        ("p99", "p99 latency"),
    ]
    if scenario.expect.size >= LARGE_BODY:
        heads.append(("transfer", "transfer"))
    heads.append(("errors", "errors"))
    return heads


def terminal_report(scenarios: Sequence[Scenario], outcomes: Outcomes) -> str:
    """Plain-text tables for the terminal."""
    out = []
    for scenario in scenarios:
        out.append(f"\n{scenario.name}: {scenario.title}")
        for goal, verdict in verdicts(scenario, outcomes):
            out.append(f"  {goal}: {verdict.label} ({verdict.reason})")
        heads = columns(scenario)
        table = rows(scenario, outcomes)
        widths = [max(len(head), *(len(row[key]) for row in table)) for key, head in heads]
        out.append(
            "  " + "  ".join(head.ljust(w) for (_, head), w in zip(heads, widths, strict=True))
        )
        out.extend(
            "  " + "  ".join(row[key].ljust(w) for (key, _), w in zip(heads, widths, strict=True))
            for row in table
        )
    return "\n".join(out)


# Seconds a run takes besides its warm-up and measurement: starting and stopping the server.
RUN_OVERHEAD_S = 2.0


def full_run_minutes(rounds: int = 3, duration: int = 10, warmup: int = 2) -> int:
    """About how long `make bench` takes: every server of every scenario, every round."""
    runs = sum(len(scenario.servers) for scenario in SCENARIOS) * rounds
    return round(runs * (duration + warmup + RUN_OVERHEAD_S) / 60)


def markdown_report(
    scenarios: Sequence[Scenario],
    outcomes: Outcomes,
    plan: Plan,
    machine: Mapping[str, Any],
    command: str,
    when: str,
    charts: Mapping[str, str],
) -> str:
    """docs/benchmarks.md; `charts` names the chart of each group of scenarios."""
    versions = machine["versions"]
    load_start, load_end = machine["load_average"], machine.get("load_average_end", [])
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{command}` on {when}. Do not edit: `make bench` rewrites this page "
        "(see bench/scenarios.py for what is measured).",
        "",
        f"Run it yourself with `make bench` (3 rounds of 10 s per server: about "
        f"{full_run_minutes()} minutes), or one scenario quickly: "
        "`python -m bench --scenario fw-json --quick`. Every sample of a run is saved as JSON in "
        "bench/results/ (not committed). See bench/README.md.",
        "",
        "How long an application of 300 typed routes takes to import, build its route table and "
        "generate its OpenAPI document, porch beside FastAPI: [startup.md](startup.md) (`make "
        "bench-startup`).",
        "",
        "## Targets",
        "",
        "| Scenario | Target | Measured | Result |",
        "| --- | --- | --- | --- |",
    ]
    for scenario in scenarios:
        for goal, verdict in verdicts(scenario, outcomes):
            lines.append(
                f"| {scenario.name} | {goal.removeprefix('target ')} | {verdict.reason} | "
                f"**{verdict.label}** |"
            )
    if max(load_start[:1] + load_end[:1]) > BUSY_LOAD:
        lines += [
            "",
            "**The machine was busy during this run** (see the load average below): other work "
            "shared the cores, so the numbers are noisier and lower than on a quiet machine.",
        ]
    lines += [
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        f"| CPU | {machine['cpu']} ({machine['cpu_count']} logical CPUs) |",
        f"| Kernel | {machine['kernel']} |",
        f"| Python | {machine['python']} |",
        f"| Load average (1, 5, 15 min) | at start {fmt_load(load_start)}; "
        f"at end {fmt_load(load_end)} |",
        "| Versions | "
        + ", ".join(f"{name} {version}" for name, version in versions.items())
        + " |",
        "",
        "## Method",
        "",
        f"- Every server runs as one process with one worker, pinned to CPU {plan.server_cpu} "
        f"(`taskset -c {plan.server_cpu} …`); wrk runs pinned to CPU {plan.client_cpu} "
        f"(`taskset -c {plan.client_cpu} wrk -t{THREADS} -cN -d{plan.duration}s`), so the server "
        "and the load generator never share a core. Access logs are off everywhere.",
        "- The framework scenarios run the same application written once per framework, each on "
        "the server it is usually deployed on: the ASGI frameworks on uvicorn (httptools, "
        "uvloop), Sanic on its own server, Flask and Django on gunicorn's threaded worker; "
        "porch.App on `porch run`. The typed scenarios (fw-typed-*) run the frameworks that "
        "validate typed parameters and bodies themselves: FastAPI, Litestar and BlackSheep.",
        "- Before each run, the scenario's request must get the expected status and body (and "
        "again after the run): the body to the byte in the server scenarios; in the framework "
        "scenarios the same content type and JSON value, or a page with the same escaped table "
        "rows, whatever the spacing. The typed scenarios also send invalid requests first, each "
        "of which must be refused with 400 or 422. A server that fails a check is reported, not "
        "measured.",
        f"- Each run: a {plan.warmup} s warm-up (discarded), then {plan.duration} s measured. "
        f"{plan.rounds} round(s); in each round the servers of a scenario run one after another, "
        "each round starting one server further along, so that machine noise hits all alike. "
        "The servers start afresh for every run.",
        "- The tables give the median over the rounds, the lowest and highest round, and the "
        "ratio of each median to the median of the target's reference. Errors are wrk's socket "
        "errors (connect, read, write, timeout) and answers outside 2xx-3xx, summed over the "
        'rounds; a run with errors is never counted as passing its target. "Ahead of every '
        'framework" compares medians with each other framework of the scenario, and fails if '
        "any one of them served as many requests per second or more.",
    ]
    if any(scenario.database_check is not None for scenario in scenarios):
        lines.append(database_method(plan, versions.get("postgresql", "")))
    for group, title in GROUPS.items():
        members = [scenario for scenario in scenarios if scenario.group == group]
        if not members:
            continue
        lines += ["", f"## {title}", ""]
        if group in charts:
            lines += [f"![Requests per second, median of the rounds]({charts[group]})"]
        for scenario in members:
            lines += scenario_section(scenario, outcomes)
    return "\n".join(lines) + "\n"


def database_method(plan: Plan, version: str) -> str:
    """The Method's paragraph on the database scenarios: PostgreSQL, its cores, the pools."""
    tuning = ", ".join(f"{name}={value}" for name, value in db.TUNING.items())
    return (
        f"- The database scenarios (db-*) follow TechEmpower's rules on PostgreSQL {version}, "
        "which the harness starts itself for the run: a fresh data folder made by initdb (on "
        "tmpfs, fsync off), tuned as TechEmpower tunes it "
        f"({tuning}), with its World and Fortune tables created and filled once. "
        f"**How the cores are shared:** the server alone on CPU {plan.server_cpu}; PostgreSQL "
        f"and wrk together on CPU {plan.client_cpu} (the postmaster is started on that core, "
        "and every backend it forks inherits it), so that the application under test keeps a "
        "core to itself while the database's work competes with wrk's, never with the "
        f"application's. Connections: {db.pool_note()}. Before and after each run, besides the "
        "answer, the database is read: the rows answered are the rows stored, an update's new "
        "numbers are written (and no other row changed), and the fortune added at request time "
        "is not stored."
    )


def fmt_load(load: Sequence[float]) -> str:
    """`0.52, 0.61, 0.70`."""
    return ", ".join(f"{value:.2f}" for value in load) if load else "unknown"


def scenario_section(scenario: Scenario, outcomes: Outcomes) -> list[str]:
    """The markdown of one scenario: its table, command lines and notes."""
    heads = columns(scenario)
    goals = "".join(
        f" {goal[0].upper()}{goal[1:]}: **{verdict.label}** ({verdict.reason})."
        for goal, verdict in verdicts(scenario, outcomes)
    )
    if scenario.target is None:
        goals += f" Ratios are to {scenario.reference}."
    lines = [
        "",
        f"### {scenario.name}: {scenario.title}",
        "",
        f"{scenario.request.describe()}; {expectation(scenario)}; "
        f"{scenario.connections} connections.{goals}",
        "",
        "| " + " | ".join(head for _, head in heads) + " |",
        "| --- |" + " ---: |" * (len(heads) - 2) + " --- |",
    ]
    lines += [
        "| " + " | ".join(row[key].replace("|", "\\|") for key, _ in heads) + " |"
        for row in rows(scenario, outcomes)
    ]
    lines += ["", "Command lines:", ""]
    for server in scenario.servers:
        outcome = outcomes.get((scenario.name, server.label))
        if outcome is None:
            continue
        note = f" — {server.note}" if server.note else ""
        lines.append(f"- {server.label}: `{outcome.command}`{note}")
    if scenario.note:
        lines += ["", scenario.note]
    for server in scenario.servers:
        outcome = outcomes.get((scenario.name, server.label))
        if outcome is not None and outcome.failure:
            lines += ["", f"{server.label} failed:", "", "```", outcome.failure.strip(), "```"]
    return lines


def expectation(scenario: Scenario) -> str:
    """What the answer must be: `answered 201 with the JSON ...`, and the refusals."""
    expect = scenario.expect
    text = f"answered {expect.status} with {expect.describe()}"
    if scenario.refused:
        codes = " or ".join(str(code) for code in REFUSED)
        count = len(scenario.refused)
        text += f"; {count} invalid request{'s' if count != 1 else ''}, each refused with {codes}"
    if scenario.database_check is not None:
        text += f"; {scenario.database_check.describe()}"
    return text


def chart_names(scenarios: Sequence[Scenario]) -> dict[str, str]:
    """The chart file of each group among `scenarios`: benchmarks.png, benchmarks-framework.png."""
    groups = [group for group in GROUPS if any(s.group == group for s in scenarios)]
    return {
        group: "benchmarks.png" if group == "server" else f"benchmarks-{group}.png"
        for group in groups
    }


def draw_charts(scenarios: Sequence[Scenario], outcomes: Outcomes, folder: Path) -> dict[str, str]:
    """One PNG per group of scenarios in `folder`; returns each group's file name."""
    names = chart_names(scenarios)
    for group, name in names.items():
        members = [scenario for scenario in scenarios if scenario.group == group]
        draw_chart(members, outcomes, folder / name)
    return names


def draw_chart(scenarios: Sequence[Scenario], outcomes: Outcomes, path: Path) -> None:
    """A PNG with one bar chart per scenario: median req/s, whiskers from min to max."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import StrMethodFormatter

    heights = [max(1, len(scenario.servers)) * 0.45 + 0.9 for scenario in scenarios]
    figure, axes = plt.subplots(
        len(scenarios),
        1,
        figsize=(8, sum(heights)),
        squeeze=False,
        gridspec_kw={"height_ratios": heights},
    )
    for scenario, axis in zip(scenarios, axes[:, 0], strict=True):
        draw_scenario(axis, scenario, outcomes)
    figure.tight_layout()
    for axis in axes[:, 0]:
        axis.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    figure.savefig(path, dpi=110)
    plt.close(figure)


def draw_scenario(axis: Any, scenario: Scenario, outcomes: Outcomes) -> None:
    """One scenario's bars: porch in orange, its peers in grey, each labelled with its ratio."""
    reference = outcomes.get((scenario.name, scenario.reference))
    base = reference.median if reference else None
    labels, medians, lows, highs, colors, notes = [], [], [], [], [], []
    for server in scenario.servers:
        outcome = outcomes.get((scenario.name, server.label))
        if outcome is None:
            continue
        median = outcome.median or 0.0
        rates = outcome.rates or [0.0]
        label = server.label
        if outcome.median is None:
            label += " (did not run)"
        elif outcome.errors:
            label += " (errors)"
        labels.append(label)
        medians.append(median)
        lows.append(median - min(rates))
        highs.append(max(rates))
        colors.append("#d9822b" if server.label == scenario.subject else "#5b7083")
        notes.append(f"{median:,.0f}" + (f"  ({median / base:.2f}x)" if base and median else ""))
    positions = list(range(len(labels)))
    errors = [lows, [high - median for high, median in zip(highs, medians, strict=True)]]
    axis.barh(positions, medians, xerr=errors, color=colors, capsize=3)
    axis.set_yticks(positions, labels)
    axis.invert_yaxis()
    axis.set_title(f"{scenario.name}: {scenario.title}", fontsize=10, loc="left")
    axis.set_xlabel(
        f"requests per second (median; whiskers: min-max; ratio to {scenario.reference})",
        fontsize=8,
    )
    axis.tick_params(labelsize=8)
    peak = max(highs, default=0.0)
    for position, high, note in zip(positions, highs, notes, strict=True):
        if high:
            axis.text(high + peak * 0.01, position, note, va="center", fontsize=7)
    axis.set_xlim(0, peak * 1.3 or 1)


def results_json(
    scenarios: Sequence[Scenario],
    outcomes: Outcomes,
    plan: Plan,
    machine: Mapping[str, Any],
    command: str,
    when: str,
) -> str:
    """Every sample of the run, with the machine and the method, as JSON."""
    data = {
        "when": when,
        "command": command,
        "machine": machine,
        "plan": {
            "rounds": plan.rounds,
            "duration_s": plan.duration,
            "warmup_s": plan.warmup,
            "server_cpu": plan.server_cpu,
            "client_cpu": plan.client_cpu,
            "wrk_threads": THREADS,
        },
        "scenarios": [
            {
                "name": scenario.name,
                "title": scenario.title,
                "path": scenario.path,
                "method": scenario.method,
                "headers": [list(header) for header in scenario.headers],
                "body_bytes": len(scenario.body),
                "status": scenario.expect.status,
                "refused": [str(request) for request in scenario.refused],
                "group": scenario.group,
                "expected": scenario.expect.describe(),
                "connections": scenario.connections,
                "reference": scenario.reference,
                "compared_with": list(scenario.compared_with),
                "database_check": (
                    scenario.database_check.describe() if scenario.database_check else None
                ),
                "goals": [
                    {
                        "goal": goal,
                        "verdict": verdict.label,
                        "measured_ratio": verdict.ratio,
                        "reason": verdict.reason,
                    }
                    for goal, verdict in verdicts(scenario, outcomes)
                ],
                "servers": [
                    outcomes[scenario.name, server.label].to_json()
                    for server in scenario.servers
                    if (scenario.name, server.label) in outcomes
                ],
            }
            for scenario in scenarios
        ],
    }
    return json.dumps(data, indent=2) + "\n"

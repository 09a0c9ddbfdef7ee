"""Measuring: every server of every scenario, round after round, one at a time."""

import contextlib
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import database as db
from bench.database import BenchDatabase
from bench.processes import (
    ServerError,
    check_answer,
    check_refused,
    free_port,
    log_tail,
    pinned,
    running,
)
from bench.scenarios import APPS, HOST, Scenario, Server
from bench.wrk import WrkError, WrkResult, run_wrk

BIN = Path(sys.executable).parent
PORT_ATTEMPTS = 3
INSTALL_HINTS = {"nginx": "on Debian or Ubuntu: apt-get install nginx"}


@dataclass(frozen=True)
class Plan:
    """How to measure: rounds, seconds per run, and the two cores."""

    rounds: int
    duration: int
    warmup: int
    server_cpu: int
    client_cpu: int


@dataclass
class Outcome:
    """Everything measured for one server in one scenario."""

    scenario: str
    label: str
    command: str
    samples: list[WrkResult] = field(default_factory=list)
    # Why the server was not (or no longer) measured; None while all went well.
    failure: str | None = None

    @property
    def rates(self) -> list[float]:
        """Requests per second of each round."""
        return [sample.requests_per_second for sample in self.samples]

    @property
    def median(self) -> float | None:
        """The median requests per second over the rounds, None if nothing was measured."""
        return statistics.median(self.rates) if self.samples else None

    @property
    def errors(self) -> dict[str, int]:
        """wrk's error counts summed over the rounds (only those that happened)."""
        total: dict[str, int] = {}
        for sample in self.samples:
            for kind, count in sample.errors.items():
                if count:
                    total[kind] = total.get(kind, 0) + count
        return total

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the outcome."""
        return {
            "label": self.label,
            "command": self.command,
            "failure": self.failure,
            "median_requests_per_second": self.median,
            "samples": [sample.to_json() for sample in self.samples],
        }


Progress = Callable[[str], None]


def display_command(server: Server) -> str:
    """The command line as a reader would type it (placeholders in capitals), after the
    variables it adds to the environment."""
    names = {
        "bin": "",
        "python": "python",
        "port": "PORT",
        "apps": "bench/apps",
        "root": "DIR",
        "workdir": "TMP",
        "host": HOST,
        "database": f"USER@{HOST}:PORT/{db.NAME}",
    }
    words = [f"{name}={value}" for name, value in server.environment(names).items()]
    words += [word.replace("{bin}/", "").format_map(names) for word in server.command_words]
    return shlex.join(words)


def missing_program(server: Server) -> str | None:
    """Why the server's program cannot run here, or None when it is installed."""
    program = server.command_words[0]
    if program.startswith("{bin}/"):
        name = program.removeprefix("{bin}/")
        if os.access(BIN / name, os.X_OK):
            return None
        return f"{name} is not installed in {BIN.parent} (pip install -e '.[bench]')"
    if "{" in program or shutil.which(program):
        return None
    hint = INSTALL_HINTS.get(program)
    return f"{program} is not installed" + (f" ({hint})" if hint else "")


def rotated(servers: Sequence[Server], turn: int) -> list[Server]:
    """The servers in the order of this round: each round starts one further along."""
    shift = turn % len(servers)
    return [*servers[shift:], *servers[:shift]]


def measure_all(
    scenarios: Sequence[Scenario],
    plan: Plan,
    progress: Progress,
    labels: Sequence[str] = (),
) -> dict[tuple[str, str], Outcome]:
    """Run every (chosen) server of every scenario for `plan.rounds` rounds."""
    outcomes = plan_outcomes(scenarios, labels, progress)
    with (
        tempfile.TemporaryDirectory(prefix="porch-bench-") as temp,
        database_for(scenarios, outcomes, plan.client_cpu, progress) as database,
    ):
        tempdir = Path(temp)
        # Servers that drop privileges (nginx's workers, as root) must still read the files.
        tempdir.chmod(0o755)
        roots = {scenario.name: write_files(tempdir, scenario) for scenario in scenarios}
        for turn in range(plan.rounds):
            for scenario in scenarios:
                for server in rotated(scenario.servers, turn):
                    outcome = outcomes.get((scenario.name, server.label))
                    if outcome is None or outcome.failure:
                        continue
                    where = f"round {turn + 1}/{plan.rounds} · {scenario.name} · {server.label}"
                    try:
                        sample = measure(
                            scenario, server, plan, roots[scenario.name], tempdir, database
                        )
                    except (ServerError, WrkError) as exc:
                        outcome.failure = str(exc)
                        progress(f"{where}: FAILED, {exc}")
                        continue
                    outcome.samples.append(sample)
                    progress(f"{where}: {describe_sample(sample)}")
    return outcomes


def plan_outcomes(
    scenarios: Sequence[Scenario], labels: Sequence[str], progress: Progress
) -> dict[tuple[str, str], Outcome]:
    """An empty outcome per server to measure; those whose program is missing already failed."""
    outcomes = {}
    for scenario in scenarios:
        for server in scenario.servers:
            if labels and server.label not in labels:
                continue
            outcome = Outcome(scenario.name, server.label, display_command(server))
            outcome.failure = missing_program(server)
            if outcome.failure:
                progress(f"{scenario.name} · {server.label}: skipped, {outcome.failure}")
            outcomes[scenario.name, server.label] = outcome
    return outcomes


@contextlib.contextmanager
def database_for(
    scenarios: Sequence[Scenario],
    outcomes: dict[tuple[str, str], Outcome],
    cpu: int,
    progress: Progress,
) -> Iterator[BenchDatabase | None]:
    """The PostgreSQL that the database scenarios need, started on `cpu` and filled (None when
    none is to run); without PostgreSQL, their servers are skipped, saying why."""
    waiting = [
        outcome
        for scenario in scenarios
        if scenario.database_check is not None
        for server in scenario.servers
        if (outcome := outcomes.get((scenario.name, server.label))) and not outcome.failure
    ]
    if not waiting:
        yield None
        return
    with contextlib.ExitStack() as stack:
        database = None
        reason = db.missing()
        if reason is None:
            try:
                database = stack.enter_context(db.running_database(cpu))
            except RuntimeError as exc:  # it did not start
                reason = f"PostgreSQL did not start: {exc}"
        if database is None:
            progress(f"bench: the database scenarios are skipped: {reason}")
            for outcome in waiting:
                outcome.failure = reason
        else:
            progress(
                f"bench: PostgreSQL {db.version()} on CPU {cpu}, database {db.NAME} created and "
                f"filled: {database.url}"
            )
        yield database


def write_files(tempdir: Path, scenario: Scenario) -> Path:
    """The directory holding the scenario's files ({root})."""
    root = tempdir / scenario.name
    root.mkdir(mode=0o755)
    for name, content in scenario.files.items():
        path = root / name
        path.write_bytes(content)
        path.chmod(0o644)
    return root


def describe_sample(sample: WrkResult) -> str:
    """One line about a run: rate, p99 latency, errors."""
    text = f"{sample.requests_per_second:,.0f} req/s, p99 {sample.latency_us['p99'] / 1000:.2f} ms"
    if sample.error_count:
        errors = ", ".join(f"{count} {kind}" for kind, count in sample.errors.items() if count)
        text += f", ERRORS: {errors}"
    return text


def measure(
    scenario: Scenario,
    server: Server,
    plan: Plan,
    root: Path,
    tempdir: Path,
    database: BenchDatabase | None = None,
) -> WrkResult:
    """Start the server, check its answer, warm it up, measure it, and stop it."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        try:
            return measure_once(scenario, server, plan, root, tempdir, database)
        except ServerError as exc:
            # Another program may take the free port before the server binds it.
            if "in use" not in str(exc).lower() or attempt == PORT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def check_server(scenario: Scenario, port: int, database: BenchDatabase | None) -> None:
    """Send the scenario's request once; raise ServerError unless the answer is right, and the
    database holds what it should after it."""

    def send() -> bytes:
        return check_answer(HOST, port, scenario.request, scenario.expect)

    if scenario.database_check is None:
        send()
        return
    if database is None:
        raise ServerError("the scenario needs the database, which is not running")
    problem = scenario.database_check.problem(database, send)
    if problem:
        raise ServerError(f"{scenario.request} answered {problem}")


@contextlib.contextmanager
def serving(
    scenario: Scenario,
    server: Server,
    cpu: int,
    root: Path,
    tempdir: Path,
    database: BenchDatabase | None = None,
) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """Start the server on a free port, check its answer and its refusals; yields (process,
    port, log)."""
    port = free_port(HOST)
    workdir = Path(tempfile.mkdtemp(prefix=f"{scenario.name}-", dir=tempdir))
    workdir.chmod(0o755)
    values = {
        "bin": str(BIN),
        "python": sys.executable,
        "port": str(port),
        "apps": str(APPS),
        "root": str(root),
        "workdir": str(workdir),
        "host": HOST,
        "database": database.address if database is not None else "",
    }
    if server.prepare is not None:
        server.prepare(workdir, values)
    argv = server.argv(values)
    env = server.environment(values)
    log = workdir / "server.log"
    with running(pinned(cpu, argv), cwd=APPS, log=log, host=HOST, port=port, env=env) as proc:
        check_server(scenario, port, database)
        for invalid in scenario.refused:
            check_refused(HOST, port, invalid)
        yield proc, port, log


def measure_once(
    scenario: Scenario,
    server: Server,
    plan: Plan,
    root: Path,
    tempdir: Path,
    database: BenchDatabase | None = None,
) -> WrkResult:
    """One start of the server and one measured wrk run."""
    serves = serving(scenario, server, plan.server_cpu, root, tempdir, database)
    connections = server.connections or scenario.connections
    with serves as (proc, port, log):
        origin = f"http://{HOST}:{port}"
        request = scenario.request
        if plan.warmup:
            run_wrk(
                origin, request, connections=connections, duration=plan.warmup, cpu=plan.client_cpu
            )
        held = HeldConnections(port, connections, plan.duration / 2)
        result = run_wrk(
            origin, request, connections=connections, duration=plan.duration, cpu=plan.client_cpu
        )
        held.check()
        if proc.poll() is not None:
            raise ServerError(
                f"exited with status {proc.returncode} during the run:\n" + log_tail(log)
            )
        # The server must still answer correctly after the load.
        try:
            check_server(scenario, port, database)
        except ServerError as exc:
            raise ServerError(f"after the run, {exc}") from None
    return result


# From this many connections on, a run checks that the server holds them all.
MANY_CONNECTIONS = 1000


def raise_file_limit() -> int:
    """Let wrk and the servers (which inherit it) open thousands of sockets: the soft limit on
    open files up to the hard one, which is returned."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class HeldConnections:
    """With many connections, whether the server holds every one of them during the run (the
    most `ss` counts in one of its samples, a second apart from the start of the run's second
    half): a server that leaves clients waiting to be accepted would win by serving fewer. A
    sample may miss a few connections that wrk is opening again (after a timeout): the most
    of several does not."""

    def __init__(self, port: int, connections: int, after: float) -> None:
        self.connections = connections
        self.held = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if connections >= MANY_CONNECTIONS and shutil.which("ss"):
            self._thread = threading.Thread(target=self._count, args=(port, after), daemon=True)
            self._thread.start()

    def _count(self, port: int, after: float) -> None:
        if self._stop.wait(after):
            return
        while True:
            out = subprocess.run(
                ["ss", "-Htn", "state", "established", f"( sport = :{port} )"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            self.held = max(self.held, len(out.splitlines()))
            if self.held >= self.connections or self._stop.wait(1.0):
                return

    def check(self) -> None:
        """ServerError unless the server held every connection."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        if self.held < self.connections:
            raise ServerError(
                f"held at most {self.held} of wrk's {self.connections} connections in the "
                "second half of the run (the others waited to be accepted)"
            )


def check_all(
    scenarios: Sequence[Scenario],
    cpu: int,
    progress: Progress,
    labels: Sequence[str] = (),
    database_cpu: int | None = None,
) -> dict[tuple[str, str], Outcome]:
    """Start every (chosen) server of every scenario once and check its answer; no load."""
    outcomes = plan_outcomes(scenarios, labels, progress)
    if database_cpu is None:
        database_cpu = cpu
    with (
        tempfile.TemporaryDirectory(prefix="porch-bench-") as temp,
        database_for(scenarios, outcomes, database_cpu, progress) as database,
    ):
        tempdir = Path(temp)
        tempdir.chmod(0o755)
        for scenario in scenarios:
            root = write_files(tempdir, scenario)
            for server in scenario.servers:
                outcome = outcomes.get((scenario.name, server.label))
                if outcome is None or outcome.failure:
                    continue
                where = f"{scenario.name} · {server.label}"
                try:
                    with serving(scenario, server, cpu, root, tempdir, database):
                        pass
                except ServerError as exc:
                    outcome.failure = str(exc)
                    progress(f"{where}: FAILED, {exc}")
                    continue
                progress(f"{where}: answers as expected")
    return outcomes

"""Throwaway PostgreSQL and MariaDB servers for the tests, and the fixtures that hand out
fresh databases on them.

Each server lives in a temporary folder of its own (data, unix socket, log), listens on a free
port on 127.0.0.1, and is started and stopped by the tests: never a server someone started by
hand. As root (CI), it runs as the `postgres` or `mysql` account that Debian's packages create,
since neither server agrees to run as root. Nothing is flushed to disk (fsync off), yet every
commit is written before it is acknowledged, so a server killed mid-test (a fault test) keeps what
it acknowledged; only a crash of the whole machine would lose it.
"""

import contextlib
import functools
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Self

import pytest

from tests.support import IN_CI

# Shell run beside each server: when pytest dies without cleaning up (SIGKILL, os._exit), the
# pipe on its stdin closes, and it stops the server and removes its folder. The wait is bounded:
# where PID 1 reaps no orphans, the stopped server stays a zombie that kill -0 still sees.
WATCHDOG = (
    'read _ignored; kill -"$1" "$2" 2>/dev/null; '
    'for _ in $(seq 300); do kill -0 "$2" 2>/dev/null || break; sleep 0.1; done; rm -rf "$3"'
)


def scratch_folder() -> str:
    """Where servers keep their folders: tmpfs when it has room, else the temporary folder."""
    # On a disk, creating a database (some 300 files) takes 100-200 ms; on tmpfs, 10.
    try:
        stats = os.statvfs("/dev/shm")
    except OSError:
        return tempfile.gettempdir()
    if stats.f_bavail * stats.f_frsize >= 2**30 and os.access("/dev/shm", os.W_OK):
        return "/dev/shm"
    return tempfile.gettempdir()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def driver_url(url: str, *, asynchronous: bool = False) -> str:
    """`url` with the driver named, for SQLAlchemy directly (porch.db does this itself)."""
    drivers = {
        "sqlite://": ("sqlite://", "sqlite+aiosqlite://"),
        "postgresql://": ("postgresql+psycopg://", "postgresql+psycopg://"),
        "mysql://": ("mysql+pymysql://", "mysql+aiomysql://"),
    }
    for plain, named in drivers.items():
        if url.startswith(plain):
            return named[asynchronous] + url[len(plain) :]
    return url


class ThrowawayServer:
    """A database server in a temporary folder of its own, started and stopped on demand."""

    kind: ClassVar[str]  # names the temporary folder
    account: ClassVar[str]  # the system user it runs as when the tests run as root
    stop_signals: ClassVar[tuple[signal.Signals, signal.Signals]]  # (clean, crash-like)

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=f"porch-{self.kind}-", dir=scratch_folder()))
        self.data = self.root / "data"
        self.log_path = self.root / "server.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._started = False  # once started, the port is known to others and never changes
        self._names = itertools.count(1)
        # As root, everything runs as the account, in a folder it owns.
        self._ids: tuple[int, int] | None = None
        if os.geteuid() == 0:
            account = pwd.getpwnam(self.account)
            self._ids = (account.pw_uid, account.pw_gid)
            os.chown(self.root, *self._ids)

    @classmethod
    def missing(cls) -> str | None:
        """Why this server cannot run here (not installed), or None."""
        raise NotImplementedError

    def _initialise(self) -> None:
        raise NotImplementedError

    def _server_command(self) -> list[str]:
        raise NotImplementedError

    def _connect(self, database: str | None = None) -> Any:
        """An autocommit connection as the superuser (the server's own driver)."""
        raise NotImplementedError

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of `database` on this server (no driver named)."""
        raise NotImplementedError

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (named for you unless `name`) and return its name."""
        raise NotImplementedError

    def drop_database(self, name: str) -> None:
        """Drop `name`, cutting off any connection still using it."""
        raise NotImplementedError

    def _as_service(self, argv: list[str]) -> list[str]:
        if self._ids is None:
            return argv
        uid, gid = self._ids
        return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--init-groups", "--", *argv]

    def _run(self, argv: list[str]) -> None:
        result = subprocess.run(
            self._as_service(argv), cwd=self.root, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{self.kind}: {argv[0]} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}"
            )

    @property
    def running(self) -> bool:
        """Whether the server process is up (it may still be starting)."""
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 60.0) -> None:
        """Start the server (same port and data as before, if it ran) and wait until it serves."""
        if self.running:
            return
        if not self.data.exists():
            self._initialise()
        # Until the first start succeeds nobody knows the port, so a port someone took in the
        # meantime is replaced by another rather than failing the session.
        for _ in range(1 if self._started else 3):
            if self._launch(timeout):
                self._started = True
                return
            if not self._started:
                self.port = free_port()
        raise RuntimeError(f"{self.kind} did not start; its log ends:\n{self.log_tail()}")

    def _launch(self, timeout: float) -> bool:
        with open(self.log_path, "ab") as log:
            # A session of its own: Ctrl-C in the terminal reaches pytest, whose clean-up then
            # stops the server, rather than reaching the server mid-test.
            self.process = subprocess.Popen(
                self._as_service(self._server_command()),
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._watchdog = subprocess.Popen(
            [
                *("sh", "-c", WATCHDOG, "watchdog"),
                *(self.stop_signals[0].name[3:], str(self.process.pid), str(self.root)),
            ],
            stdin=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._stop_watchdog()
                return False
            try:
                self._connect().close()
                return True
            except Exception:  # not accepting connections yet (or still recovering)
                time.sleep(0.02)
        self.stop(immediate=True)
        return False

    def _stop_watchdog(self) -> None:
        if self._watchdog is not None:
            # Killed before its pipe closes, or it would stop the server and remove the folder.
            self._watchdog.kill()
            self._watchdog.wait()
            assert self._watchdog.stdin is not None
            self._watchdog.stdin.close()
            self._watchdog = None

    def stop(self, immediate: bool = False) -> None:
        """Stop the server, cutting clients off; `immediate` stops it the way a crash would."""
        self._stop_watchdog()
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(self.stop_signals[immediate])
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def close(self) -> None:
        """Stop the server and remove its folder."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@functools.cache
def postgresql_bindir() -> Path | None:
    """Where initdb and postgres are: Debian's newest version, else pg_config's, else PATH's."""

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in path.parent.name.split(".") if part.isdigit())

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    if pg_config := shutil.which("pg_config"):
        bindir = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout
        candidates.append(Path(bindir.strip()))
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).resolve().parent)
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "postgres").is_file():
            return candidate
    return None


def has_account(name: str) -> bool:
    """Whether the system user `name` exists."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class PostgreSQL(ThrowawayServer):
    """A throwaway PostgreSQL: trust auth for the superuser `porch`, no fsync."""

    kind = "postgresql"
    account = "postgres"
    # SIGINT is pg_ctl's "fast" shutdown (clients cut off), SIGQUIT its "immediate" one.
    stop_signals = (signal.SIGINT, signal.SIGQUIT)
    user = "porch"

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        bindir = postgresql_bindir()
        if bindir is None:
            raise RuntimeError(self.missing())
        self.bindir = bindir
        super().__init__()
        # No fsync: the data is thrown away anyway. Commits are still written to the WAL before
        # they are acknowledged (synchronous_commit stays on), so a killed server keeps them.
        self.settings = {
            "fsync": "off",
            "full_page_writes": "off",
            # Each new database writes its 7.5 MB to the WAL: checkpoints keep it from piling up
            # (in memory, on tmpfs).
            "max_wal_size": "128MB",
            "min_wal_size": "32MB",
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.root),
            **(settings or {}),
        }

    @classmethod
    def missing(cls) -> str | None:
        if postgresql_bindir() is None:
            return "PostgreSQL is not installed (Debian: apt-get install postgresql)"
        if os.geteuid() == 0 and not has_account(cls.account):
            return "no postgres system user to run PostgreSQL as (root cannot)"
        return None

    def _initialise(self) -> None:
        self._run(
            [
                *(str(self.bindir / "initdb"), "--pgdata", str(self.data)),
                *("--username", self.user, "--auth=trust"),
                *("--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"),
            ]
        )

    def _server_command(self) -> list[str]:
        settings = {**self.settings, "port": str(self.port)}
        options = [f"{name}={value}" for name, value in settings.items()]
        return [str(self.bindir / "postgres"), "-D", str(self.data)] + [
            part for option in options for part in ("-c", option)
        ]

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def _connect(self, database: str | None = None) -> Any:
        # Imported here: sessions that use no database do not pay for the driver.
        import psycopg

        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=self.user,
            dbname=database or "postgres",
            autocommit=True,
            connect_timeout=5,
        )

    def create_database(self, name: str | None = None, template: str = "template0") -> str:
        """Create an empty database (a copy of `template`) and return its name."""
        from psycopg import sql

        name = name or f"test_{next(self._names)}"
        with self._connect() as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        return name

    def drop_database(self, name: str) -> None:
        from psycopg import sql

        with self._connect() as conn:
            # FORCE: a test's engine may still hold pooled connections to it.
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@functools.cache
def mariadb_programs() -> tuple[str, str] | None:
    """mariadb-install-db and mariadbd, if installed (mariadbd is in sbin, off users' PATH)."""
    install = shutil.which("mariadb-install-db")
    server = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin:/usr/local/sbin")
    return (install, server) if install and server else None


class MariaDB(ThrowawayServer):
    """A throwaway MariaDB: `root` without a password, utf8mb4, InnoDB flushing off."""

    kind = "mariadb"
    account = "mysql"
    stop_signals = (signal.SIGTERM, signal.SIGKILL)
    user = "root"
    # For both the bootstrap and the server: utf8mb4 (MariaDB 10.11 defaults to latin1), a small
    # redo log and buffer pool (a 96 MB log is most of the set-up time), and no flushing: each
    # commit is written to the log (=2), not flushed, so a killed server keeps it.
    options = (
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci",
        "--innodb-log-file-size=16M",
        "--innodb-buffer-pool-size=32M",
        "--innodb-doublewrite=0",
        "--innodb-flush-log-at-trx-commit=2",
        "--innodb-flush-method=nosync",
        "--skip-log-bin",
        # No reverse DNS for each client (and no lookup that hangs without a network).
        "--skip-name-resolve",
    )

    def __init__(self) -> None:
        programs = mariadb_programs()
        if programs is None:
            raise RuntimeError(self.missing())
        self.install_db, self.mariadbd = programs
        super().__init__()

    @classmethod
    def missing(cls) -> str | None:
        if mariadb_programs() is None:
            return "MariaDB is not installed (Debian: apt-get install mariadb-server)"
        if os.geteuid() == 0 and not has_account(cls.account):
            return "no mysql system user to run MariaDB as (root should not)"
        return None

    def _initialise(self) -> None:
        # --no-defaults first: /etc/mysql/my.cnf describes the system's server, not this one.
        self._run(
            [
                *(self.install_db, "--no-defaults", f"--datadir={self.data}", "--skip-test-db"),
                *("--auth-root-authentication-method=normal", *self.options),
            ]
        )

    def _server_command(self) -> list[str]:
        return [
            self.mariadbd,
            "--no-defaults",
            f"--datadir={self.data}",
            f"--socket={self.root / 'mysqld.sock'}",
            f"--pid-file={self.root / 'mysqld.pid'}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            *self.options,
        ]

    def url(self, database: str) -> str:
        return f"mysql://{self.user}@127.0.0.1:{self.port}/{database}?charset=utf8mb4"

    def _connect(self, database: str | None = None) -> Any:
        import pymysql

        return pymysql.connect(
            host="127.0.0.1",
            port=self.port,
            user=self.user,
            database=database,
            autocommit=True,
            connect_timeout=5,
        )

    def create_database(self, name: str | None = None) -> str:
        name = name or f"test_{next(self._names)}"
        with contextlib.closing(self._connect()) as conn, conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}`")
        return name

    def drop_database(self, name: str) -> None:
        with contextlib.closing(self._connect()) as conn, conn.cursor() as cursor:
            # DROP DATABASE waits for every open transaction on its tables (a year, by default):
            # connections a test left behind are cut off first.
            cursor.execute(
                "SELECT id FROM information_schema.processlist"
                " WHERE db = %s AND id <> CONNECTION_ID()",
                (name,),
            )
            for (connection_id,) in cursor.fetchall():
                with contextlib.suppress(Exception):  # it may have gone meanwhile
                    cursor.execute(f"KILL CONNECTION {int(connection_id)}")
            cursor.execute("SET SESSION lock_wait_timeout = 30")
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


def require(server: type[ThrowawayServer]) -> None:
    """Skip the test when `server` is not installed here; in CI, fail it."""
    reason = server.missing()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"{reason}; CI must install it (.ci/run)")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[PostgreSQL]:
    """The session's PostgreSQL server, started on first use and removed at the end."""
    require(PostgreSQL)
    with PostgreSQL() as server:
        yield server


@pytest.fixture
def postgresql_url(postgresql_server: PostgreSQL) -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database, dropped after the test."""
    name = postgresql_server.create_database()
    yield postgresql_server.url(name)
    # A test that stopped the server (a fault test) leaves it serving for the next one.
    postgresql_server.start()
    postgresql_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh, empty database: each test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return str(request.getfixturevalue("postgresql_url"))


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDB]:
    """The session's MariaDB server, started on first use and removed at the end."""
    require(MariaDB)
    with MariaDB() as server:
        yield server


@pytest.fixture
def mariadb_url(mariadb_server: MariaDB) -> Iterator[str]:
    """The URL (`mysql://`) of a fresh, empty MariaDB database, dropped after the test."""
    name = mariadb_server.create_database()
    yield mariadb_server.url(name)
    mariadb_server.start()
    mariadb_server.drop_database(name)

"""A throwaway PostgreSQL cluster for the ledger tests, and the ``ledger_url`` fixture over both backends.

The cluster lives in a temporary directory, listens on 127.0.0.1 at a free port (plus a Unix socket in the
same directory), and is stopped and deleted at the end of the session. PostgreSQL refuses to run as root, so as
root the server runs as the ``postgres`` user that Debian's package creates (``runuser -u postgres --``).

Without PostgreSQL (``.ci/install-postgres.sh`` installs it) the PostgreSQL cases are skipped locally — but
with ``HELM_EVAL_REQUIRE_POSTGRES=1`` (set by .ci/run) they fail, so CI can never pass on skipped tests.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REQUIRE_ENV = "HELM_EVAL_REQUIRE_POSTGRES"
SERVER_USER = "postgres"


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but PostgreSQL is unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


def find_pg_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` with ``initdb`` (Debian's layout), else ``initdb`` on PATH."""
    found = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda bin_dir: int(bin_dir.parent.name) if bin_dir.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1]
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresCluster:
    """A running throwaway cluster: ``url`` is its ``helm_eval`` database; ``new_database()`` makes more."""

    bin_dir: Path
    base: Path
    port: int
    as_user: list[str]
    url: str = ""
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def data(self) -> Path:
        return self.base / "data"

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.as_user, str(self.bin_dir / tool), *args], check=True, capture_output=True, text=True, timeout=120
        )

    def start(self) -> None:
        self.run("initdb", "-D", str(self.data), "-A", "trust", "-U", SERVER_USER, "-E", "UTF8", "--locale=C",
                 "--no-sync")  # fmt: skip
        for attempt in range(3):
            # a free port can be taken between probing and binding: try another one
            self.port = _free_port()
            # fsync off: the tests kill clients, never the server, and durability of the disk is not under test
            options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
            try:
                self.run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.base / "server.log"),
                         "-w", "-t", "60", "start")  # fmt: skip
                break
            except subprocess.CalledProcessError:
                if attempt == 2:
                    raise
        self.url = self.new_database("helm_eval")

    def new_database(self, name: str | None = None) -> str:
        """Create an empty database and return its URL."""
        import psycopg

        name = name or f"helm_eval_{next(self._names)}"
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.admin_url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by ``new_database`` (closing any connection a test left open)."""
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run([*self.as_user, str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w",
                            "stop"], capture_output=True, timeout=60, check=False)  # fmt: skip

    def log_tail(self) -> str:
        try:
            return (self.base / "server.log").read_text(encoding="utf-8", errors="replace")[-2000:]
        except OSError:
            return ""


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """The session's PostgreSQL cluster (skipped, or failed under ``HELM_EVAL_REQUIRE_POSTGRES=1``, without it)."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        _unavailable("PostgreSQL is not installed (run .ci/install-postgres.sh)")
        raise AssertionError("unreachable")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (pip install 'helm-eval[postgres]')")
    as_user: list[str] = []
    # outside /tmp's pytest dirs, which are private to root and so closed to the server's user
    base = Path(tempfile.mkdtemp(prefix="helm-eval-pg-"))
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam(SERVER_USER)
        except KeyError:
            _unavailable(f"running as root and there is no {SERVER_USER!r} user to run the server as")
            raise
        os.chown(base, user.pw_uid, user.pw_gid)
        runuser = shutil.which("runuser") or next(
            (p for p in ("/usr/sbin/runuser", "/sbin/runuser") if os.path.exists(p)), None
        )
        if runuser is None:
            _unavailable("running as root and runuser (util-linux) is missing")
            raise AssertionError("unreachable")
        as_user = [runuser, "-u", SERVER_USER, "--"]
    cluster = PostgresCluster(bin_dir, base, 0, as_user)
    try:
        try:
            cluster.start()
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            detail = exc.stderr if isinstance(exc.stderr, str) else ""
            _unavailable(f"PostgreSQL did not start: {exc}\n{detail}\n{cluster.log_tail()}")
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres: PostgresCluster) -> str:
    """``postgresql://`` URL of the session's shared database."""
    return postgres.url


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty ledger on each backend: a SQLite file, or a new database on the session's cluster."""
    if request.param == "sqlite":
        yield str(tmp_path / ".helm-eval" / "ledger.sqlite")
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    url = cluster.new_database()
    try:
        yield url
    finally:
        cluster.drop_database(url)

"""The embedded PostgreSQL + PostGIS cluster that RedGrid runs when no DATABASE_URL is set.

The cluster lives in a data folder of the checkout, listens on a Unix socket inside that
folder only (no TCP port, so two checkouts never clash) and runs with `jit` off.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin")
SUPERUSER = "redgrid"
# The database RedGrid uses in the cluster unless REDGRID_DATABASE names another.
DEFAULT_DATABASE = "redgrid"
PORT = 5432
POSTGIS_LIBRARY = "postgis-3"
# A Unix socket path is limited to 107 bytes; longer checkout paths use a short /tmp folder.
_SOCKET_PATH_LIMIT = 100


class ClusterError(RuntimeError):
    """A failure to set up or run the embedded cluster, with what to do next."""


def pg_bin() -> Path:
    """Returns the folder of the PostgreSQL server binaries."""
    for candidate in PG_BIN_CANDIDATES:
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    raise ClusterError(
        "PostgreSQL 15 server binaries not found in /usr/lib/postgresql/15/bin; "
        "run `make setup` (it installs postgresql-15 and postgresql-15-postgis-3)."
    )


@dataclass(frozen=True)
class EmbeddedCluster:
    """A PostgreSQL cluster in `root` (a folder of the checkout, e.g. `.data`)."""

    root: Path

    @property
    def pgdata(self) -> Path:
        return self.root / "pg"

    @property
    def log_file(self) -> Path:
        return self.pgdata / "server.log"

    @property
    def socket_dir(self) -> Path:
        if len(str(self.pgdata / f".s.PGSQL.{PORT}.lock")) <= _SOCKET_PATH_LIMIT:
            return self.pgdata
        digest = hashlib.sha1(str(self.pgdata).encode()).hexdigest()[:12]
        return Path("/tmp") / f"redgrid-{digest}"

    def url(self, database: str = DEFAULT_DATABASE, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{SUPERUSER}@/{database}?host={self.socket_dir}&port={PORT}"

    def conninfo(self, database: str = DEFAULT_DATABASE) -> str:
        return f"host={self.socket_dir} port={PORT} user={SUPERUSER} dbname={database}"

    def _run(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(a) for a in args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise ClusterError(f"{' '.join(map(str, args[:2]))} failed: {proc.stderr.strip() or proc.stdout}")
        return proc

    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def init(self) -> bool:
        """Creates the cluster when it does not exist yet; returns whether it did."""
        if self.initialised():
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        if os.geteuid() == 0:
            # initdb refuses root: the cluster belongs to the postgres user, who must reach it.
            pw = pwd.getpwnam("postgres")
            os.chown(self.pgdata, pw.pw_uid, pw.pw_gid)
            self._check_reachable()
        self._run(
            pg_bin() / "initdb", "-D", str(self.pgdata), "-U", SUPERUSER,
            "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8",
        )
        conf = self.pgdata / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as f:
            f.write(
                "\n# RedGrid embedded cluster\n"
                "listen_addresses = ''\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                f"port = {PORT}\n"
                "jit = off\n"
                "max_connections = 200\n"
                "shared_buffers = 512MB\n"
                "work_mem = 16MB\n"
                "maintenance_work_mem = 512MB\n"
                "fsync = on\n"
                "synchronous_commit = on\n"
                "max_wal_size = 4GB\n"
                "timezone = 'UTC'\n"
            )
            if (pg_bin().parent / "lib" / f"{POSTGIS_LIBRARY}.so").exists():
                # Loaded once by the server rather than by each new connection's first
                # PostGIS call (30-40 ms of CPU each): pools refill fast after a restart.
                f.write(f"shared_preload_libraries = '{POSTGIS_LIBRARY}'\n")
        return True

    def _check_reachable(self) -> None:
        probe = subprocess.run(
            ["runuser", "-u", "postgres", "--", "test", "-w", str(self.pgdata)],
            capture_output=True,
        )
        if probe.returncode != 0:
            raise ClusterError(
                f"the postgres user cannot reach {self.pgdata}: make every parent folder "
                "traversable (chmod o+x on each) or set DATABASE_URL to another server."
            )

    def running(self) -> bool:
        if not self.initialised():
            return False
        proc = self._run(pg_bin() / "pg_ctl", "-D", str(self.pgdata), "status", check=False)
        return proc.returncode == 0

    def start(self) -> bool:
        """Starts the cluster (initialising it first); returns whether it was started now."""
        self.init()
        if self.running():
            return False
        sock = self.socket_dir
        if sock != self.pgdata:
            sock.mkdir(mode=0o700, exist_ok=True)
            if os.geteuid() == 0:
                pw = pwd.getpwnam("postgres")
                os.chown(sock, pw.pw_uid, pw.pw_gid)
        self._run(
            pg_bin() / "pg_ctl", "-D", str(self.pgdata), "-l", str(self.log_file),
            "-w", "-t", "60", "start",
        )
        self._wait_ready()
        return True

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [str(pg_bin() / "pg_isready"), "-h", str(self.socket_dir), "-p", str(PORT)],
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.2)
        raise ClusterError(f"the cluster did not accept connections; see {self.log_file}")

    def stop(self) -> bool:
        """Stops the cluster; returns whether it was running."""
        if not self.running():
            return False
        self._run(pg_bin() / "pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop")
        return True

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.pgdata, ignore_errors=True)


@dataclass(frozen=True)
class ReplicaCluster(EmbeddedCluster):
    """A hot standby of an embedded cluster on the same machine, by streaming replication:
    a `pg_basebackup` of the running primary into `root` (default `.data/replica`), on its own
    socket folder, replaying the primary's WAL as it streams and answering read-only queries.
    """

    primary: EmbeddedCluster | None = None

    @classmethod
    def of(cls, primary: EmbeddedCluster) -> ReplicaCluster:
        return cls(primary.root / "replica", primary)

    def initialised(self) -> bool:
        return (self.pgdata / "standby.signal").exists()

    def init(self) -> bool:
        """Copies the running primary (pg_basebackup, WAL streamed alongside) and makes the
        copy a standby of it; returns whether it did."""
        if self.initialised():
            return False
        if self.primary is None or not self.primary.running():
            raise ClusterError("the replica is copied from the running primary: start it first "
                               "(`redgrid db up`)")
        shutil.rmtree(self.pgdata, ignore_errors=True)  # what a failed copy left
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # pg_basebackup runs as postgres and creates pgdata here
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        # -R writes standby.signal and primary_conninfo; the primary's pg_hba (initdb, trust)
        # admits local replication connections, and its wal_level is `replica` by default.
        self._run(pg_bin() / "pg_basebackup", "-D", str(self.pgdata), "-h",
                  str(self.primary.socket_dir), "-p", str(PORT), "-U", SUPERUSER,
                  "-X", "stream", "-R", "-c", "fast")
        # The copy carries the primary's socket lock and log (both live in its pgdata).
        for copied in (*self.pgdata.glob(".s.PGSQL.*"), self.log_file):
            copied.unlink(missing_ok=True)
        with (self.pgdata / "postgresql.conf").open("a", encoding="utf-8") as f:
            f.write("\n# RedGrid embedded replica\n"
                    f"unix_socket_directories = '{self.socket_dir}'\n"
                    "hot_standby = on\n"
                    # Long map reads are not cancelled by the primary's vacuum.
                    "hot_standby_feedback = on\n")
        return True

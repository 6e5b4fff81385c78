"""A throwaway PostgreSQL cluster for tests: ``initdb`` in a temporary directory, a free loopback
port, removed afterwards. Never a system-wide server.

Debian installs the server binaries in ``/usr/lib/postgresql/<version>/bin`` (not on PATH); they
are looked up there, then on PATH. ``initdb`` refuses to run as root, so as root the cluster is
created and run by the unprivileged ``postgres`` user Debian's package creates (``runuser``), in a
directory it owns.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import asyncpg

from tests.support.process import free_port

SUPERUSER = "postgres"


def server_binary(name: str) -> str:
    """The newest installed PostgreSQL's ``name`` (initdb, pg_ctl, postgres)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed; `make test` installs Debian's postgresql")
    return on_path


class PostgresCluster:
    """``start()`` creates and starts the cluster; ``url(database)`` connects to it as the
    superuser over TCP on 127.0.0.1; ``stop()``/``restart()`` for outage tests; ``remove()``
    stops it and deletes its directory."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="pg-cluster-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_root = os.geteuid() == 0
        if self._as_root:
            shutil.chown(self.root, user=SUPERUSER, group=SUPERUSER)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = list(args)
        if self._as_root:
            command = ["runuser", "-u", SUPERUSER, "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, cwd=self.root)

    def start(self) -> PostgresCluster:
        if not self.data.exists():
            self._run(server_binary("initdb"), "-D", str(self.data), "-U", SUPERUSER, "-A", "trust",
                      "-E", "UTF8", "--no-locale", "--no-sync")
            with open(self.data / "postgresql.conf", "a") as conf:
                conf.write(
                    f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                    f"unix_socket_directories = '{self.root}'\n"
                    # Durable commits, as in production: the tests prove what synchronous_commit buys.
                    "fsync = on\nsynchronous_commit = on\nmax_connections = 200\n"
                )
        self.pg_ctl("start", "-w", "-t", "60", "-l", str(self.log))
        return self

    def pg_ctl(self, *args: str) -> None:
        done = self._run(server_binary("pg_ctl"), "-D", str(self.data), *args, check=False)
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl {' '.join(args)} failed: {done.stdout}{done.stderr}\n{log[-2000:]}")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("stop", "-w", "-m", mode)

    def restart(self) -> None:
        self.pg_ctl("start", "-w", "-t", "60", "-l", str(self.log))

    def url(self, database: str = "postgres", *, user: str = SUPERUSER, password: str | None = None) -> str:
        auth = user if password is None else f"{user}:{password}"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(server_binary("pg_ctl"), "-D", str(self.data), "stop", "-w", "-m", "immediate", check=False)
        shutil.rmtree(self.root, ignore_errors=True)


class PostgresSchema:
    """A store's schema seen from an administrator's connection: ``writable(False)`` makes every
    write to its tables fail with PostgreSQL's own ``disk_full`` error (a trigger), ``drop()``
    removes it."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name

    async def _execute(self, *statements: str) -> None:
        conn = await asyncpg.connect(self.url)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    async def writable(self, on: bool) -> None:
        tables = ("orders", "fills", "positions", "cash", "breaker", "account", "strategies")
        if on:
            await self._execute(*(f'DROP TRIGGER IF EXISTS refuse ON "{self.name}".{t}' for t in tables))
            return
        await self._execute(
            f'CREATE OR REPLACE FUNCTION "{self.name}".refuse() RETURNS trigger LANGUAGE plpgsql AS $$ '
            "BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; "
            "END $$",
            *(f'CREATE TRIGGER refuse BEFORE INSERT OR UPDATE OR DELETE ON "{self.name}".{t} '
              f'FOR EACH ROW EXECUTE FUNCTION "{self.name}".refuse()' for t in tables),
        )

    async def drop(self) -> None:
        await self._execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')

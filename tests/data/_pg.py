"""A throwaway PostgreSQL server for tests: ``initdb`` + ``pg_ctl`` in a temporary folder.

Used by the ``postgres_server`` / ``postgres_url`` fixtures in ``conftest.py``. The server
listens on 127.0.0.1 (a free port) and on a unix socket in its folder, trusts every local
connection, runs with ``fsync=off`` and is stopped with ``pg_ctl stop -m immediate``.
``initdb`` refuses to run as root, so as root the binaries run as ``postgres`` (or
``nobody``) through ``runuser``, ``setpriv`` or ``su``, and the folder belongs to that user.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

SUPERUSER = "postgres"  # the database role created by initdb (not the OS user)


def unavailable_reason() -> str | None:
    """Why a test server cannot be started here, or ``None`` if it can."""
    missing = [b for b in ("initdb", "pg_ctl") if shutil.which(b) is None]
    if missing:
        return f"PostgreSQL server binaries not on PATH: {', '.join(missing)}"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg (3) is not installed"
    if os.geteuid() == 0:
        if _os_user() is None:
            return "running as root and neither OS user 'postgres' nor 'nobody' exists for initdb"
        if not any(shutil.which(t) for t in ("runuser", "setpriv", "su")):
            return "running as root and none of runuser, setpriv, su is available to drop privileges"
    return None


def _os_user() -> pwd.struct_passwd | None:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """A PostgreSQL server in a fresh temporary folder; :meth:`start`, then :meth:`stop`."""

    def __init__(self) -> None:
        self.user = _os_user() if os.geteuid() == 0 else None
        # as root, under /tmp (not $TMPDIR, which may sit in a folder the server's user cannot enter)
        base = "/tmp" if self.user is not None and os.path.isdir("/tmp") else None
        self.root = Path(tempfile.mkdtemp(prefix="microdl-pg-", dir=base))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self._admin = None
        if self.user is not None:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        self.root.chmod(0o700)

    def _run(self, *cmd: str) -> subprocess.CompletedProcess:
        cmd_list = list(cmd)
        if self.user is not None:
            name, uid, gid = self.user.pw_name, self.user.pw_uid, self.user.pw_gid
            if shutil.which("runuser"):
                cmd_list = ["runuser", "-u", name, "--", *cmd_list]
            elif shutil.which("setpriv"):
                cmd_list = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", *cmd_list]
            else:
                cmd_list = ["su", "-s", "/bin/sh", name, "-c", shlex.join(cmd_list)]
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        for var in ("PGDATA", "PGPORT", "PGHOST", "PGUSER", "PGDATABASE", "PGPASSWORD"):
            env.pop(var, None)
        return subprocess.run(cmd_list, cwd=self.root, env=env, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        """initdb and start; raises RuntimeError with the server log if it does not come up."""
        out = self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
                        "--locale=C", "--no-sync", "--no-instructions")
        if out.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{out.stdout}\n{out.stderr}")
        for _attempt in range(3):  # the free port may be taken between probing and binding
            self.port = _free_port()
            opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root} "
                    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
            out = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "-t", "60",
                            "start")
            if out.returncode == 0:
                return
        log = self.log.read_text() if self.log.is_file() else ""
        raise RuntimeError(f"pg_ctl start failed:\n{out.stdout}\n{out.stderr}\n{log[-3000:]}")

    def stop(self) -> None:
        """Stop the server at once and delete its folder (safe to call twice)."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self.data.exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres", *, schema: str | None = None,
            password: str | None = None) -> str:
        """``postgresql://`` URL of ``database`` over TCP, with ``schema`` first on the search path.

        Trust authentication ignores any ``password``; it is there to test masking.
        """
        auth = SUPERUSER + (f":{password}" if password else "")
        query = f"?options=-csearch_path%3D{schema}" if schema else ""
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}{query}"

    def _admin_execute(self, sql: str) -> None:
        import psycopg

        if self._admin is None:
            self._admin = psycopg.connect(self.url(), autocommit=True)
        self._admin.execute(sql)

    def create_database(self) -> str:
        """Create an empty database with a unique name and return its name (~0.4 s)."""
        name = "t_" + uuid.uuid4().hex[:16]
        self._admin_execute(f'CREATE DATABASE "{name}"')
        return name

    def create_schema(self) -> str:
        """Create an empty schema in the database ``postgres`` and return its name (milliseconds).

        Use it through ``url(schema=...)``: a fresh schema is a fresh catalog, far cheaper
        than a fresh database.
        """
        name = "t_" + uuid.uuid4().hex[:16]
        self._admin_execute(f'CREATE SCHEMA "{name}"')
        return name

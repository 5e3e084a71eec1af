"""A PostgreSQL server of the test's own (the `pgserver` wheel's binaries, PostgreSQL 16), on its
own port and data folder, which the test may stop and start while the platform runs on it."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path

from tests.reliability.platform import free_port

# Found without importing pgserver (its import warns about XDG_RUNTIME_DIR, an error here).
_SPEC = find_spec("pgserver")
assert _SPEC is not None and _SPEC.submodule_search_locations, "the pgserver wheel is not installed"
BIN = Path(next(iter(_SPEC.submodule_search_locations))) / "pginstall" / "bin"


class PrivatePostgres:
    def __init__(self) -> None:
        # Not under pytest's tmp_path: PostgreSQL runs as the unprivileged `postgres` user (it
        # refuses root), which cannot enter root's private temporary folders.
        self.data = Path(tempfile.mkdtemp(prefix="shipyard-pg-", dir="/var/tmp"))
        self.port = free_port()
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        if os.getuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
        self.data.chmod(0o700)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.data}"
        for attempt in range(10):  # after a stop, the old server's memory may linger a moment
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(self.data / "server.log"), "-w", "-o", options,
                          "start")  # fmt: skip
                return
            except subprocess.CalledProcessError:
                if attempt == 9:
                    raise
                time.sleep(0.5)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` ends every connection (a restart), `immediate` is a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        subprocess.run([*self._as_postgres, str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                       capture_output=True)  # fmt: skip
        shutil.rmtree(self.data, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        subprocess.run([*self._as_postgres, str(BIN / program), *args], check=True, capture_output=True)

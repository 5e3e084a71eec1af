"""The platform as separate real processes (`shipyard serve` and `shipyard worker`) that a test
can SIGKILL and start again, on a store and settings of its choosing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
SHIPYARD = [sys.executable, "-m", "shipyard.cli.main"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Platform:
    """One API process (without an in-process worker) and one worker process."""

    def __init__(self, tmp_path: Path, database_url: str, *, separate_worker: bool = True, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs = tmp_path / "logs"
        self.logs.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
        env.update(
            SHIPYARD_HOME=str(tmp_path / "home"),
            SHIPYARD_DATABASE_URL=database_url,
            SHIPYARD_WORKER_IN_PROCESS="false" if separate_worker else "true",
            SHIPYARD_JOB_POLL_SECONDS="0.05",
            SHIPYARD_LOG_LEVEL="warning",
            PYTHONPATH=str(REPO),
        )
        env.update(settings)
        self.env = env
        self.api: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.separate_worker = separate_worker

    def start(self, timeout: float = 60) -> None:
        self.starts += 1
        if self.api is None or self.api.poll() is not None:
            self.api = self._spawn(["serve", "--port", str(self.port)], "api")
        if self.separate_worker and (self.worker is None or self.worker.poll() is not None):
            self.worker = self._spawn(["worker"], "worker")
        deadline = time.monotonic() + timeout
        while not self.ready():
            assert self.api.poll() is None, (self.logs / f"api-{self.starts}.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the API did not become ready"
            time.sleep(0.05)

    def kill(self, which: str = "both") -> None:
        """SIGKILL the API, the worker or both, and wait for them to be gone."""
        for name in ("api", "worker") if which == "both" else (which,):
            process = getattr(self, name)
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(10)

    def stop(self) -> None:
        for process in (self.api, self.worker):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (self.api, self.worker):
            if process is not None:
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)

    def rss_bytes(self) -> int:
        """The API process's resident memory."""
        assert self.api is not None
        for line in Path(f"/proc/{self.api.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def _spawn(self, args: list[str], name: str) -> subprocess.Popen[bytes]:
        log = self.logs / f"{name}-{self.starts}.log"
        with log.open("wb") as out:  # the child keeps its own copy of the descriptor
            return subprocess.Popen([*SHIPYARD, *args], env=self.env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)

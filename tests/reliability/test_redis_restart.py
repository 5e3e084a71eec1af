"""Scenario 3: Redis restarts under load. Rate limits fail open while it is gone (and say so in
/metrics), hold again once it is back; answers served from the shared cache are never another
question's answer."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from shipyard.platform import build_platform
from shipyard.store import upgrade
from tests.chat_upstream import chat_upstream
from tests.conftest import make_settings, serve
from tests.reliability.conftest import Scale
from tests.reliability.platform import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


class PrivateRedis:
    """A redis-server of this test's own, on its own port, that it may stop and start."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (make services installs it)"
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.directory)]  # fmt: skip
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).stdout != b"PONG\n":
            assert time.monotonic() < deadline, "redis did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()  # as a crash: no goodbye to the clients
            self.process.wait(10)
            self.process = None


@contextmanager
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


def limiter_errors(client: httpx.Client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("shipyard_rate_limiter_errors_total "):
            return float(line.split()[1])
    raise AssertionError("shipyard_rate_limiter_errors_total is not exported")


def test_rate_limits_fail_open_and_recover_and_the_cache_never_answers_wrong(tmp_path: Path, scale: Scale) -> None:
    rounds = scale.pick(2, 6)
    with chat_upstream() as upstream, private_redis(tmp_path) as redis:
        config = {
            "providers": {"local": {"base_url": upstream.url, "models": {"m1": {}}}},
            "routes": {"chat": ["local/m1"]},
        }
        (tmp_path / "llm.yaml").write_text(yaml.safe_dump(config))
        settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 's.db'}", llm_config=tmp_path / "llm.yaml",
                                 redis_url=redis.url, llm_max_retries=0)  # fmt: skip
        services = build_platform(settings)
        upgrade(services.database)
        wrong = 0
        answers = 0
        recoveries: list[float] = []
        with serve(services) as live:

            def chat(key: dict[str, str], question: str) -> httpx.Response:
                nonlocal wrong, answers
                body = {"model": "chat", "temperature": 0, "messages": [{"role": "user", "content": question}]}
                response = live.client.post("/v1/chat/completions", json=body, headers=key)
                if response.status_code == 200:
                    answers += 1
                    wrong += response.json()["choices"][0]["message"]["content"] != f"echo {question}"
                return response

            for round_ in range(rounds):
                limited = live.key(rate_limit_per_minute=10)
                statuses = [chat(limited, f"question {round_} {i % 4}").status_code for i in range(14)]
                assert statuses == [200] * 10 + [429] * 4  # shared limits hold while Redis is up
                errors_before = limiter_errors(live.client)
                redis.stop()
                down = live.key(rate_limit_per_minute=10)
                statuses = [chat(down, f"question {round_} {i % 4}").status_code for i in range(14)]
                assert statuses == [200] * 14  # fails open: no limits, no errors for callers
                assert limiter_errors(live.client) > errors_before  # ... and says so
                redis.start()
                back = time.monotonic()
                again = live.key(rate_limit_per_minute=10)
                while 429 not in [chat(again, f"after {round_} {i % 4}").status_code for i in range(11)]:
                    assert time.monotonic() - back < 15, "rate limits did not come back"
                    again = live.key(rate_limit_per_minute=10)
                    time.sleep(0.2)
                recoveries.append(round(time.monotonic() - back, 2))
        services.close()
    assert wrong == 0 and answers > 0
    assert max(recoveries) <= 10  # the limiter retries Redis 5 s after a failure
    scale.record("redis_restart", {"restarts": rounds, "answers": answers, "wrong_answers": wrong,
                                   "seconds_until_limits_hold_again": recoveries})  # fmt: skip

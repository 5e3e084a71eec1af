"""Scenario 2: PostgreSQL restarts while ask, search, chat, predict and writes arrive at a fixed
rate. The platform recovers by itself within 5 s, answers 503 only while the database is down,
and loses no write it acknowledged (nor the request-log row of any answered call)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import select

from shipyard.auth import Role
from shipyard.store import RequestLogRow, upgrade
from tests.chat_upstream import chat_upstream
from tests.conftest import make_settings, serve, wait_until
from tests.models.conftest import BIKE_ROW, mlflow_template  # noqa: F401 - a fixture
from tests.reliability.conftest import LOAD_RATE_LIMIT, Scale
from tests.reliability.postgres import PrivatePostgres
from tests.reliability.workload import prepare

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@dataclass(frozen=True)
class Outcome:
    operation: str
    started: float
    ended: float
    status: int  # 0: no HTTP answer at all
    trace_id: str | None
    written: str | None = None  # the prompt a 2xx write created


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    server.start()
    yield server
    server.remove()


def operations(
    client: httpx.Client, headers: dict[str, str]
) -> list[tuple[str, Callable[[int], tuple[httpx.Response, str | None]]]]:
    def ask(n: int) -> tuple[httpx.Response, str | None]:
        body = {"collection": "handbook", "question": "how do I roll back a deployment?"}
        return client.post("/v1/ask", json=body, headers=headers), None

    def search(n: int) -> tuple[httpx.Response, str | None]:
        return client.post("/v1/collections/handbook/search", json={"query": "rotate keys"}, headers=headers), None

    def chat(n: int) -> tuple[httpx.Response, str | None]:
        body = {"model": "chat", "messages": [{"role": "user", "content": f"status {n}"}]}
        return client.post("/v1/chat/completions", json=body, headers=headers), None

    def predict(n: int) -> tuple[httpx.Response, str | None]:
        return client.post(
            "/deployments/bikes/invocations", json={"dataframe_records": [BIKE_ROW]}, headers=headers
        ), None

    def write(n: int) -> tuple[httpx.Response, str | None]:
        name = f"note-{n}"
        return client.post("/v1/prompts", json={"name": name, "template": f"note {n}"}, headers=headers), name

    return [("ask", ask), ("search", search), ("chat", chat), ("predict", predict), ("write", write)]


def test_postgres_restart_under_load(tmp_path: Path, postgres: PrivatePostgres, mlflow_template: Path,  # noqa: F811
                                     scale: Scale) -> None:  # fmt: skip
    import shutil

    from shipyard.models.location import mlflow_location
    from shipyard.platform import build_platform

    rate, before, outage, after = scale.pick((20, 3.0, 4.0, 8.0), (40, 10.0, 10.0, 40.0))
    with chat_upstream() as upstream:
        config = {"providers": {"local": {"base_url": upstream.url, "models": {"m1": {}}}},
                  "routes": {"chat": ["local/m1"]}}  # fmt: skip
        (tmp_path / "llm.yaml").write_text(yaml.safe_dump(config))
        settings = make_settings(tmp_path, postgres.url, llm_config=tmp_path / "llm.yaml", llm_max_retries=0,
                                 model_refresh_seconds=0.5)  # fmt: skip
        registry = Path(mlflow_location(settings.home, None).tracking_uri.removeprefix("sqlite:///"))
        shutil.copy(mlflow_template / "mlflow" / "mlflow.db", registry)
        services = build_platform(settings)
        upgrade(services.database)
        outcomes: list[Outcome] = []
        with serve(services) as live:
            headers = live.key(Role.EDITOR, rate_limit_per_minute=LOAD_RATE_LIMIT)
            prepare(live.client, headers)
            ops = operations(live.client, headers)
            lock = threading.Lock()
            origin = time.monotonic()

            def call(n: int) -> None:
                name, operation = ops[n % len(ops)]
                started = time.monotonic() - origin
                try:
                    response, written = operation(n)
                    status, trace = response.status_code, response.headers.get("x-trace-id")
                except httpx.HTTPError:
                    status, trace, written = 0, None, None
                with lock:
                    outcomes.append(Outcome(name, started, time.monotonic() - origin, status, trace,
                                            written if 200 <= status < 300 else None))  # fmt: skip

            windows: dict[str, float] = {}
            with ThreadPoolExecutor(max_workers=32) as pool:

                def restart() -> None:
                    time.sleep(before)
                    windows["down"] = time.monotonic() - origin
                    postgres.stop("fast")
                    time.sleep(outage)
                    postgres.start()
                    windows["up"] = time.monotonic() - origin

                restarter = threading.Thread(target=restart)
                restarter.start()
                total = int(rate * (before + outage + after))
                for n in range(total):
                    pool.submit(call, n)
                    time.sleep(max(0.0, origin + (n + 1) / rate - time.monotonic()))
                restarter.join()
            live.flush_logs()
            wait_until(lambda: _logged(services, outcomes), timeout=30)
            project = services.access.get_project("default").id
            prompts = {s.name for s in services.prompts.summaries(project)}
        services.close()

    down, up = windows["down"], windows["up"]
    errors = [o for o in outcomes if not 200 <= o.status < 300]
    assert all(o.status == 503 for o in errors), sorted({(o.operation, o.status) for o in errors})
    # 503s only while the database is down, or within 5 s of its coming back.
    assert all(o.started >= down - 1.0 and o.started <= up + 5.0 for o in errors), [
        (o.operation, round(o.started, 2)) for o in errors if not down - 1.0 <= o.started <= up + 5.0
    ]
    last_error = max((o.started for o in errors), default=up)
    written = {o.written for o in outcomes if o.written}
    assert written <= prompts  # every acknowledged write is there
    assert [o for o in outcomes if o.started > up + 5.0] and all(
        200 <= o.status < 300 for o in outcomes if o.started > up + 5.0
    )
    scale.record(
        "postgres_restart",
        {"requests": len(outcomes), "rate_per_s": rate, "outage_s": round(up - down, 1),
         "recovered_after_s": round(max(0.0, last_error - up), 2), "errors": {o.operation: sum(
             1 for e in errors if e.operation == o.operation) for o in outcomes},
         "non_503_errors": sum(1 for o in errors if o.status != 503), "writes_acknowledged": len(written),
         "answered_while_down": sum(1 for o in outcomes if down <= o.started <= up and 200 <= o.status < 300),
         "slowest_while_down_s": round(max((o.ended - o.started for o in outcomes if down <= o.started <= up),
                                           default=0.0), 2),
         "writes_lost": len(written - prompts)},
    )  # fmt: skip


def _logged(services: object, outcomes: list[Outcome]) -> bool:
    """Every answered call's request-log row is in the store (the writer kept them while it was down)."""
    answered = {o.trace_id for o in outcomes if o.trace_id and 200 <= o.status < 300}
    with services.database.read() as session:  # type: ignore[attr-defined]
        logged = set(session.scalars(select(RequestLogRow.trace_id)))
    return answered <= logged

"""Scenario 5: a soak at a fixed mixed rate (ask, search, chat, predict) against `shipyard serve`
on the embedded default. Memory stops growing after warm-up, p99 holds, nothing fails, and the
request log, the traces and the prediction log hold every call the client made."""

from __future__ import annotations

import shutil
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import func, select

from shipyard.auth import Role
from shipyard.models.location import mlflow_location
from shipyard.platform import build_platform
from shipyard.store import PredictionRow, RequestLogRow, TraceRow, upgrade
from tests.chat_upstream import chat_upstream
from tests.conftest import make_settings
from tests.models.conftest import BIKE_ROW, mlflow_template  # noqa: F401 - a fixture
from tests.reliability.conftest import LOAD_RATE_LIMIT, Scale
from tests.reliability.platform import Platform
from tests.reliability.workload import prepare

# `alone`: p99 per quarter is compared, and a neighbouring xdist worker's CPU load moving between
# quarters tripled one quarter's p99 in CI (0.031 → 0.133 s) with no fault in the server.
pytestmark = [pytest.mark.slow, pytest.mark.alone, pytest.mark.timeout(900)]


def test_soak(tmp_path: Path, mlflow_template: Path, scale: Scale) -> None:  # noqa: F811
    seconds, rate = scale.pick((40, 15), (600, 25))
    with chat_upstream() as upstream:
        config = {"providers": {"local": {"base_url": upstream.url, "models": {"m1": {}}}},
                  "routes": {"chat": ["local/m1"]}}  # fmt: skip
        (tmp_path / "llm.yaml").write_text(yaml.safe_dump(config))
        database_url = f"sqlite:///{tmp_path / 'home' / 'shipyard.db'}"
        settings = make_settings(tmp_path, database_url)
        registry = Path(mlflow_location(settings.home, None).tracking_uri.removeprefix("sqlite:///"))
        shutil.copy(mlflow_template / "mlflow" / "mlflow.db", registry)
        store = build_platform(settings)
        upgrade(store.database)
        key = store.access.create_key("soak", Role.EDITOR, "default", rate_limit_per_minute=LOAD_RATE_LIMIT)
        headers = {"Authorization": f"Bearer {key.secret}"}
        platform = Platform(
            tmp_path, database_url, separate_worker=False, SHIPYARD_LLM_CONFIG=str(tmp_path / "llm.yaml")
        )
        latencies: list[tuple[float, str, float, int]] = []  # (started, operation, seconds, status)
        rss: list[tuple[float, int]] = []
        try:
            platform.start()
            with httpx.Client(base_url=platform.url, headers=headers, timeout=30) as client:
                prepare(client)
                calls = [
                    ("ask", "/v1/ask", {"collection": "handbook", "question": "how do I roll back?"}),
                    ("search", "/v1/collections/handbook/search", {"query": "rotate keys"}),
                    (
                        "chat",
                        "/v1/chat/completions",
                        {"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
                    ),
                    ("predict", "/deployments/bikes/invocations", {"dataframe_records": [BIKE_ROW]}),
                ]
                lock = threading.Lock()
                origin = time.monotonic()

                def call(n: int) -> None:
                    name, path, body = calls[n % len(calls)]
                    started = time.monotonic()
                    try:
                        status = client.post(path, json=body).status_code
                    except httpx.HTTPError:
                        status = 0
                    with lock:
                        latencies.append((started - origin, name, time.monotonic() - started, status))

                with ThreadPoolExecutor(max_workers=16) as pool:
                    for n in range(int(seconds * rate)):
                        pool.submit(call, n)
                        if n % rate == 0:
                            rss.append((time.monotonic() - origin, platform.rss_bytes()))
                        time.sleep(max(0.0, origin + (n + 1) / rate - time.monotonic()))
                rss.append((time.monotonic() - origin, platform.rss_bytes()))
        except BaseException:
            store.database.dispose()
            raise
        finally:
            platform.stop()  # SIGTERM: the writers flush what they hold

    counts = {name: sum(1 for _, op, _, _ in latencies if op == name) for name, _, _ in calls}
    with store.database.read() as session:
        logged = session.scalar(select(func.count()).select_from(RequestLogRow).where(RequestLogRow.status < 300))
        traces = session.scalar(select(func.count()).select_from(TraceRow))
        predictions = session.scalar(select(func.count()).select_from(PredictionRow))
    store.database.dispose()
    failures = [(op, status) for _, op, _, status in latencies if not 200 <= status < 300]
    assert failures == []
    warm = seconds * 0.25
    after_warmup = [size for at, size in rss if at >= warm]
    growth = (after_warmup[-1] - after_warmup[0]) / after_warmup[0]
    quarters = [[s for at, _, s, _ in latencies if q * seconds / 4 <= at < (q + 1) * seconds / 4] for q in range(1, 4)]
    p99s = [statistics.quantiles(q, n=100)[98] for q in quarters]
    setup_calls = 3  # the collection, its documents and the deployment: logged too
    assert growth <= 0.10, f"RSS grew {growth:.1%} after warm-up: {rss}"
    # Stable: the last quarter's p99 is no worse than twice the second's (after warm-up), plus a
    # little slack for a busy machine — a leak or a growing queue shows as a rising p99.
    assert p99s[-1] <= 2 * p99s[0] + 0.05, f"p99 per quarter (s): {p99s}"
    assert logged is not None and logged >= len(latencies) + setup_calls
    assert traces == counts["ask"] + counts["chat"]
    assert predictions == counts["predict"]
    scale.record("soak", {"seconds": seconds, "rate_per_s": rate, "requests": len(latencies), "per_operation": counts,
                          "failures": len(failures), "rss_mb_after_warmup": round(after_warmup[0] / 2**20, 1),
                          "rss_mb_end": round(after_warmup[-1] / 2**20, 1), "rss_growth": round(growth, 4),
                          "p99_ms_per_quarter": [round(p * 1000, 1) for p in p99s],
                          "request_log_rows": logged, "traces": traces, "predictions_logged": predictions})  # fmt: skip

"""What the LLM gateway adds: the same fast upstream called directly and through shipyard.

The upstream (bench/fake_llm.py, its own process) answers at once, so the difference is shipyard:
auth, rate limit, request parsing, routing, the `openai` client call, the response, the request
log, the trace. shipyard runs `shipyard serve` (embedded default, response cache off so every call
goes upstream). Side by side in one run:
  - non-streaming latency with one client, and with up to 64 in flight at a fixed total rate
    (open loop, evenly spaced: latency, not queueing behind a saturated core; hey's -q sends its
    workers' requests in synchronized bursts, which measured the bursts);
  - streaming time to first token, same two loads (the same asyncio client, httpx);
  - the most requests/s each sustains (wrk -c 64).
Anchors from a third-party localhost benchmark: Bifrost adds 0.4 ms, Portkey 2.4 ms, LiteLLM 4.3 ms.

    python bench/gateway_overhead.py [--seconds 10] [--rate 256]

Needs `wrk` (Debian package; `make bench` installs it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.api_overhead import _create_key, _env, _free_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "gateway_overhead.json"
BODY = {"model": "fast", "messages": [{"role": "user", "content": "Say something short."}], "max_tokens": 16}


@contextmanager
def _process(
    command: list[str], env: dict[str, str], ready_url: str, headers: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.post(ready_url, json=BODY, headers=headers, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{command[2:5]} did not start")
            time.sleep(0.2)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def _wrk_rps(url: str, headers: dict[str, str], seconds: int) -> float:
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(json.dumps(BODY))}",
             'wrk.headers["Content-Type"] = "application/json"']  # fmt: skip
    lines += [f'wrk.headers["{name}"] = "{value}"' for name, value in headers.items()]
    script.write_text("\n".join(lines) + "\n")
    try:
        out = subprocess.run(["wrk", "-t1", "-c64", f"-d{seconds}s", "-s", str(script), url],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    finally:
        script.unlink()
    if "Non-2xx" in out:
        raise SystemExit(f"failed requests under wrk:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


async def _latency(
    url: str, headers: dict[str, str], concurrency: int, rate: float, seconds: float, *, stream: bool
) -> dict[str, float]:
    """Latency of whole completions, or time to the first content chunk of streamed ones; with
    concurrency > 1, requests start evenly spaced at a fixed total `rate` (open loop)."""
    body = {**BODY, "stream": stream}
    samples: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one() -> None:
            started = time.perf_counter()
            first = None
            async with client.stream("POST", url, json=body, headers=headers) as response:
                if response.status_code != 200:
                    raise SystemExit(f"HTTP {response.status_code} from {url}")
                async for line in response.aiter_lines():  # read to the end: the stream must finish
                    if first is None and (not stream or _has_content(line)):
                        first = (time.perf_counter() - started) * 1000
            if first is None:
                raise SystemExit(f"a stream from {url} had no content")
            samples.append(first if stream else (time.perf_counter() - started) * 1000)

        if concurrency == 1:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                await one()
        else:
            tasks = []
            interval, start = 1 / rate, time.perf_counter()
            for i in range(int(rate * seconds)):
                delay = start + i * interval - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one()))
            await asyncio.gather(*tasks)
    samples.sort()
    return {"p50_ms": round(statistics.median(samples), 3),
            "p99_ms": round(samples[int(len(samples) * 0.99) - 1], 3), "requests": len(samples)}  # fmt: skip


def _has_content(line: str) -> bool:
    if not line.startswith("data: {"):
        return False
    choices = json.loads(line[6:]).get("choices") or [{}]
    return bool((choices[0].get("delta") or {}).get("content"))


def measure(url: str, headers: dict[str, str], seconds: int, rate: int) -> dict[str, Any]:
    return {
        "non_stream_c1": asyncio.run(_latency(url, headers, 1, 0, seconds, stream=False)),
        "non_stream_c64": asyncio.run(_latency(url, headers, 64, rate, seconds, stream=False)),
        "ttft_c1": asyncio.run(_latency(url, headers, 1, 0, seconds, stream=True)),
        "ttft_c64": asyncio.run(_latency(url, headers, 64, rate, seconds, stream=True)),
        "max_rps_c64": round(_wrk_rps(url, headers, seconds), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=int, default=256, help="Total requests/s of the 64-client runs.")
    args = parser.parse_args()
    upstream_port, shipyard_port = _free_port(), _free_port()
    upstream = f"http://127.0.0.1:{upstream_port}/v1"
    report: dict[str, Any] = {"benchmark": "gateway_overhead", "rate_c64": args.rate,
                              "seconds": args.seconds, "cpus": os.cpu_count()}  # fmt: skip
    upstream_cmd = [sys.executable, "-m", "uvicorn", "--app-dir", str(ROOT / "bench"), "fake_llm:app",
                    "--port", str(upstream_port), "--no-access-log", "--log-level", "warning"]  # fmt: skip
    with (
        tempfile.TemporaryDirectory() as home,
        _process(upstream_cmd, dict(os.environ), f"{upstream}/chat/completions", {}),
    ):
        key = _create_key(home)
        auth = {"Authorization": f"Bearer {key}"}
        env = _env(home, SHIPYARD_LLM_BASE_URL=upstream, SHIPYARD_LLM_MODEL="fast", SHIPYARD_LLM_CACHE_SECONDS="0")
        served = f"http://127.0.0.1:{shipyard_port}/v1/chat/completions"
        shipyard_cmd = [sys.executable, "-m", "shipyard.cli.main", "serve", "--port", str(shipyard_port)]
        report["direct"] = measure(f"{upstream}/chat/completions", {}, args.seconds, args.rate)
        print("direct  ", json.dumps(report["direct"]), flush=True)
        with _process(shipyard_cmd, env, served, auth):
            report["shipyard"] = measure(served, auth, args.seconds, args.rate)
        print("shipyard", json.dumps(report["shipyard"]), flush=True)
    added: dict[str, float] = {}
    for load in ("non_stream_c1", "non_stream_c64", "ttft_c1", "ttft_c64"):
        for stat in ("p50_ms", "p99_ms"):
            added[f"{load}_{stat}"] = round(report["shipyard"][load][stat] - report["direct"][load][stat], 3)
    report["added"] = added
    print("added   ", json.dumps(added))
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()

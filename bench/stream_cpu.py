"""What a streamed chat completion costs the server over a plain one, in CPU per call.

Latency on a shared two-core host moves with the neighbours; the server's own CPU time does much
less. `shipyard serve` (embedded default, response cache off) in front of `bench/fake_llm.py`
answers 2,000 sequential calls of each kind, alternating, twice; the CPU time of the serve
process (user + system, from /proc) over each batch, divided by the calls, is the cost. Prints
stream / plain and writes bench/results/stream_cpu.json.

    PYTHONPATH=. .venv/bin/python bench/stream_cpu.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import httpx

from bench.api_overhead import _create_key, _env, _free_port
from bench.gateway_overhead import BODY, ROOT, _process

RESULTS = ROOT / "bench" / "results" / "stream_cpu.json"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _calls(url: str, headers: dict[str, str], n: int, *, stream: bool) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(n):
            async with client.stream("POST", url, json={**BODY, "stream": stream}, headers=headers) as response:
                if response.status_code != 200:
                    raise SystemExit(f"HTTP {response.status_code} from {url}")
                async for _ in response.aiter_bytes():
                    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    upstream_port, shipyard_port = _free_port(), _free_port()
    upstream = f"http://127.0.0.1:{upstream_port}/v1"
    upstream_cmd = [sys.executable, "-m", "uvicorn", "--app-dir", str(ROOT / "bench"), "fake_llm:app",
                    "--port", str(upstream_port), "--no-access-log", "--log-level", "warning"]  # fmt: skip
    with (
        tempfile.TemporaryDirectory() as home,
        _process(upstream_cmd, dict(os.environ), f"{upstream}/chat/completions", {}),
    ):
        auth = {"Authorization": f"Bearer {_create_key(home)}"}
        env = _env(home, SHIPYARD_LLM_BASE_URL=upstream, SHIPYARD_LLM_MODEL="fast", SHIPYARD_LLM_CACHE_SECONDS="0")
        served = f"http://127.0.0.1:{shipyard_port}/v1/chat/completions"
        command = [sys.executable, "-m", "shipyard.cli.main", "serve", "--port", str(shipyard_port)]
        with _process(command, env, served, auth) as server:
            for stream in (True, False):  # warm-up
                asyncio.run(_calls(served, auth, 300, stream=stream))
            costs: dict[str, list[float]] = {"plain": [], "stream": []}
            for stream in (False, True, False, True):
                before = _cpu_seconds(server.pid)
                asyncio.run(_calls(served, auth, args.calls, stream=stream))
                per_call = (_cpu_seconds(server.pid) - before) / args.calls * 1e6
                costs["stream" if stream else "plain"].append(round(per_call))
    plain, stream = statistics.median(costs["plain"]), statistics.median(costs["stream"])
    report = {"benchmark": "stream_cpu", "calls": args.calls, "cpu_us_per_call": costs, "plain_us": round(plain),
              "stream_us": round(stream), "stream_over_plain": round(stream / plain, 2)}  # fmt: skip
    print(f"plain {plain:.0f} µs/call, stream {stream:.0f} µs/call: stream / plain {stream / plain:.2f}")
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()

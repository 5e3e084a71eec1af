"""What shipyard's middleware stack costs: an authenticated trivial endpoint vs a bare app.

Both run under uvicorn (one process, uvloop + httptools, no access log) and get the same load
from wrk (`-t1 -c32`, so wrk takes one core and the server the other). Configurations:
  bare        FastAPI with the same /v1/me handler and nothing else
  shipyard    `shipyard serve` on the embedded default: auth, in-process rate limit, request log,
              metrics, trace ids, body limit, and the in-process job worker
  shipyard+redis  the same with the rate limit kept in Redis (the production setting)
Each configuration runs `--rounds` times, alternating; the median round is reported.

    python bench/api_overhead.py [--seconds 10] [--rounds 3] [--connections 32]

Needs `wrk` (Debian package; `make bench` installs it). Writes bench/results/api_overhead.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "api_overhead.json"
REDIS_URL = os.environ.get("SHIPYARD_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis rate-limit configuration")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: `apt-get install -y wrk` (or `make bench`)")

    with tempfile.TemporaryDirectory() as home:
        key = _create_key(home)
        configs = {"bare": _bare_cmd, "shipyard": _shipyard_cmd(home, redis=False)}
        if not args.no_redis:
            configs["shipyard+redis"] = _shipyard_cmd(home, redis=True)
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in configs}
        for round_no in range(args.rounds):
            for name, command in configs.items():
                result = _measure(command, key, args.seconds, args.connections)
                rounds[name].append(result)
                print(
                    f"round {round_no + 1} {name:15s} {result['rps']:8.0f} req/s  "
                    f"p50 {result['p50_ms']:6.2f} ms  p99 {result['p99_ms']:6.2f} ms",
                    flush=True,
                )

    summary = {name: _median_round(runs) for name, runs in rounds.items()}
    bare = summary["bare"]
    report: dict[str, object] = {
        "benchmark": "api_overhead",
        "endpoint": "GET /v1/me (authenticated)",
        "load": {"tool": "wrk", "threads": 1, "connections": args.connections, "seconds": args.seconds},
        "rounds": args.rounds,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "results": summary,
        "raw": rounds,
    }
    print()
    print(f"{'config':15s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'throughput vs bare':>20s} {'p99 added':>10s}")
    for name, result in summary.items():
        ratio = result["rps"] / bare["rps"]
        added = result["p99_ms"] - bare["p99_ms"]
        result["throughput_ratio"] = round(ratio, 3)
        result["p99_added_ms"] = round(added, 2)
        print(
            f"{name:15s} {result['rps']:9.0f} {result['p50_ms']:8.2f} {result['p99_ms']:8.2f} "
            f"{ratio:19.1%} {added:9.2f}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")


def _env(home: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update(
        SHIPYARD_HOME=home,
        # The benchmark measures the limiter's cost, not its refusals.
        SHIPYARD_RATE_LIMIT_PER_MINUTE="1000000000",
        SHIPYARD_LOG_LEVEL="warning",
        **extra,
    )
    return env


def _create_key(home: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "shipyard.cli.main", "keys", "create", "--name", "bench", "--role", "admin", "--json"],
        env=_env(home),
        capture_output=True,
        text=True,
        check=True,
    )
    key: str = json.loads(out.stdout)["key"]
    return key


def _bare_cmd(port: int) -> tuple[list[str], dict[str, str]]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(ROOT / "bench"),
        "bare_app:app",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    return command, dict(os.environ)


def _shipyard_cmd(home: str, *, redis: bool):
    def build(port: int) -> tuple[list[str], dict[str, str]]:
        extra = {"SHIPYARD_REDIS_URL": REDIS_URL, "SHIPYARD_REDIS_KEY_PREFIX": "bench"} if redis else {}
        return [sys.executable, "-m", "shipyard.cli.main", "serve", "--port", str(port)], _env(home, **extra)

    return build


def _measure(build, key: str, seconds: int, connections: int) -> dict[str, float]:
    port = _free_port()
    command, env = build(port)
    server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/v1/me"
        headers = {"Authorization": f"Bearer {key}"}
        _wait_ready(url, headers, server)
        _wrk(url, key, 2, connections)  # warm-up: caches, JIT-less Python still has lazy paths
        result = _wrk(url, key, seconds, connections)
        metrics_url = f"http://127.0.0.1:{port}/metrics"
        # A run that kept up by dropping request-log rows, or by failing open on rate limits, did
        # not measure the full stack: refuse to report it.
        dropped = _counter(metrics_url, "shipyard_request_log_dropped_total")
        if dropped:
            raise SystemExit(f"the request log dropped {dropped:.0f} rows during the run")
        limiter_errors = _counter(metrics_url, "shipyard_rate_limiter_errors_total")
        if limiter_errors:
            raise SystemExit(f"{limiter_errors:.0f} rate-limit checks failed (and let requests through)")
        return result
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


def _counter(metrics_url: str, name: str) -> float:
    """A counter's value from /metrics (0 for the bare app, which has none)."""
    response = httpx.get(metrics_url, timeout=5)
    match = re.search(rf"^{name} ([\d.e+]+)$", response.text, flags=re.M)
    return float(match.group(1)) if match and response.status_code == 200 else 0.0


def _wrk(url: str, key: str, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"Authorization: Bearer {key}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"{non2xx.group(1)} requests failed during the run:\n{out}")
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _latency(out, "50%"),
        "p99_ms": _latency(out, "99%"),
    }


def _latency(out: str, percentile: str) -> float:
    value, unit = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _median_round(runs: list[dict[str, float]]) -> dict[str, float]:
    ordered = sorted(runs, key=lambda r: r["rps"])
    middle = ordered[len(ordered) // 2]
    return {
        **middle,
        "rps_all": [round(r["rps"]) for r in runs],
        "rps_stdev": round(statistics.pstdev(r["rps"] for r in runs)),
    }


def _wait_ready(url: str, headers: dict[str, str], server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited with {server.returncode}")
        try:
            if httpx.get(url, headers=headers, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not become ready")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


if __name__ == "__main__":
    main()

"""Serving the same registered model: `mlflow models serve` vs shipyard, batching off and on.

The model is `bike-demand` version 1 as `examples/bike.py` trains it (a gradient-boosted
regressor, ~200 trees; one prediction call costs ~3.5 ms whatever its row count up to a few
dozen). Both servers load it from the same embedded MLflow registry, answer the same MLflow scoring
request (`dataframe_split`, one row) and get the same load from wrk (-t1, one connection per
client, `--latency`), one server at a time on this 2-core machine. shipyard runs `shipyard serve`
(auth, rate limit, request log, prediction log at the default sample rate 1.0 all on); MLflow runs
its FastAPI scoring server with one uvicorn worker (`-w 1`, its default), MLflow telemetry off.

    python bench/serving.py [--seconds 10] [--connections 10,32]

Run twice: with OpenMP's default threads (one per core) and with OMP_NUM_THREADS=1 for both
servers — gradient-boosted trees predict through OpenMP, whose per-call thread team competes with
the server's own threads on a small machine.

Anchors: MLflow's FastAPI scoring server 3,345 req/s with an echo model at c=10 (mlflow#14307);
Triton's dynamic batching 73 → 272 infer/s at equal p95. Needs `wrk` (`make bench` installs it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import runpy
import signal
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
RESULTS = ROOT / "bench" / "results" / "serving.json"
ROW = {"season": 1, "mnth": 1, "hr": 8, "holiday": 0, "weekday": 3, "workingday": 1, "weathersit": 1,
       "temp": 0.24, "atemp": 0.2879, "hum": 0.81, "windspeed": 0.0}  # fmt: skip
BODY = {"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values())]}}


def _train(home: str) -> None:
    """bike-demand v1 in `home`'s embedded MLflow, exactly as the example trains it."""
    saved = dict(os.environ), list(sys.argv)
    os.environ.update(SHIPYARD_HOME=home, MLFLOW_DISABLE_TELEMETRY="true")
    sys.argv = ["bike.py"]
    try:
        runpy.run_path(str(ROOT / "examples" / "bike.py"), run_name="__main__")
    finally:
        os.environ.clear()
        os.environ.update(saved[0])
        sys.argv = saved[1]


@contextmanager
def _server(command: list[str], env: dict[str, str], url: str, headers: dict[str, str]) -> Iterator[None]:
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.post(url, json=BODY, headers=headers, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{' '.join(command[:4])} did not start")
            time.sleep(0.3)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # mlflow runs uvicorn as a child: stop the whole group
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def wrk(url: str, headers: dict[str, str], connections: int, seconds: int) -> dict[str, float]:
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(json.dumps(BODY))}",
             'wrk.headers["Content-Type"] = "application/json"']  # fmt: skip
    lines += [f'wrk.headers["{name}"] = "{value}"' for name, value in headers.items()]
    script.write_text("\n".join(lines) + "\n")
    try:
        # Warm-up, then the measured run.
        subprocess.run(["wrk", "-t1", f"-c{connections}", "-d2s", "-s", str(script), url], capture_output=True,
                       check=True)  # fmt: skip
        out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    finally:
        script.unlink()
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"failed requests under wrk:\n{out}")
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
        "p99_ms": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
    }


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return round(float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", default="10,32", help="Comma-separated wrk connection counts.")
    args = parser.parse_args()
    loads = [int(c) for c in args.connections.split(",")]
    report: dict[str, Any] = {"benchmark": "serving", "seconds": args.seconds, "cpus": os.cpu_count(),
                              "model": "bike-demand v1 (examples/bike.py)", "runs": {}}  # fmt: skip
    with tempfile.TemporaryDirectory() as home:
        _train(home)
        key = _create_key(home)
        admin = [sys.executable, "-m", "shipyard.cli.main"]
        for command in (["models", "approve", "bike-demand", "1"], ["models", "alias", "bike-demand", "1", "champion"],
                        ["deploy", "create", "bikes", "--model", "bike-demand"]):  # fmt: skip
            subprocess.run([*admin, *command], env=_env(home), check=True, capture_output=True)
        for threads in ("default", "1"):
            extra = {} if threads == "default" else {"OMP_NUM_THREADS": threads}
            report["runs"][f"omp_{threads}"] = _compare(home, key, loads, args.seconds, extra)
    report["vs_mlflow"] = {
        f"omp_{threads}": _ratios(report["runs"][f"omp_{threads}"], loads) for threads in ("default", "1")
    }
    print("shipyard / mlflow models serve:", json.dumps(report["vs_mlflow"]))
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


def _compare(home: str, key: str, loads: list[int], seconds: int, extra: dict[str, str]) -> dict[str, Any]:
    runs: dict[str, Any] = {}
    bin_dir = str(Path(sys.executable).parent)
    tracking = f"sqlite:///{Path(home).resolve() / 'mlflow' / 'mlflow.db'}"
    label = f"OMP_NUM_THREADS={extra.get('OMP_NUM_THREADS', 'default')}"
    # The peer: MLflow's own scoring server for the same registered version.
    port = _free_port()
    peer_env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "MLFLOW_TRACKING_URI": tracking,
                "MLFLOW_DISABLE_TELEMETRY": "true", **extra}  # fmt: skip
    peer_cmd = [f"{bin_dir}/mlflow", "models", "serve", "-m", "models:/default.bike-demand/1", "--env-manager",
                "local", "-p", str(port), "-w", "1"]  # fmt: skip
    peer_url = f"http://127.0.0.1:{port}/invocations"
    with _server(peer_cmd, peer_env, peer_url, {}):
        for c in loads:
            runs[f"mlflow_c{c}"] = result = wrk(peer_url, {}, c, seconds)
            print(f"{label} mlflow models serve   c={c:<3}", json.dumps(result), flush=True)
    auth = {"Authorization": f"Bearer {key}"}
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/deployments/bikes/invocations"
    command = [sys.executable, "-m", "shipyard.cli.main", "serve", "--port", str(port)]
    with _server(command, _env(home, **extra), url, auth):
        for name, batch in (("batching off", 1), ("batching on", 32)):
            options = {"max_batch_size": batch, "max_wait_ms": 0, "log_sample_rate": 1.0}
            httpx.put(f"{base}/v1/deployments/bikes/options", json=options, headers=auth).raise_for_status()
            for c in loads:
                kind = "batched" if batch > 1 else "unbatched"
                runs[f"shipyard_{kind}_c{c}"] = result = wrk(url, auth, c, seconds)
                print(f"{label} shipyard {name:<13} c={c:<3}", json.dumps(result), flush=True)
    return runs


def _ratios(runs: dict[str, Any], loads: list[int]) -> dict[str, Any]:
    ratios = {}
    for c in loads:
        peer = runs[f"mlflow_c{c}"]
        for kind in ("unbatched", "batched"):
            ours = runs[f"shipyard_{kind}_c{c}"]
            ratios[f"{kind}_c{c}"] = {"throughput_x": round(ours["rps"] / peer["rps"], 2),
                                      "p99_ratio": round(ours["p99_ms"] / peer["p99_ms"], 2)}  # fmt: skip
    return ratios


if __name__ == "__main__":
    main()

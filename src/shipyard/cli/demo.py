"""`shipyard demo`: the embedded platform end to end, in one command."""

from __future__ import annotations

import socket
import sys
import threading
import time

import httpx
import typer

from shipyard.auth import Role
from shipyard.builtin_jobs import CLEANUP_KIND
from shipyard.cli.context import prepare_store
from shipyard.cli.output import console, errors_as_messages
from shipyard.cli.serve import build_server
from shipyard.platform import build_platform
from shipyard.settings import get_settings
from shipyard.telemetry import configure_logging

DEMO_KEY_NAME = "demo-admin"


def demo(
    port: int = typer.Option(8000, "--port", help="Port to serve on (a free one is picked if taken)."),
    keep_serving: bool | None = typer.Option(
        None,
        "--keep-serving/--exit",
        help="Keep serving after the smoke calls (default: when run in a terminal).",
    ),
) -> None:
    """Start the embedded platform, create an admin key, make smoke calls, and keep serving."""
    configure_logging("warning", "console")
    with errors_as_messages():
        settings = get_settings()
        services = build_platform(settings)
        prepare_store(services)
        for old in services.access.list_keys("default"):
            if old.name == DEMO_KEY_NAME:  # its secret was shown once and is gone: replace it
                services.access.revoke_key(old.id)
        created = services.access.create_key(DEMO_KEY_NAME, Role.ADMIN)
    port = port if _port_free(port) else _free_port()
    server = build_server(services, "127.0.0.1", port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            console.print("[red]error:[/] the server did not start")
            raise typer.Exit(1)
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    console.print(f"\n[bold]shipyard[/] is running at {url}  (API docs: {url}/docs)")
    console.print(f"store: {services.database.printable_url}")
    console.print(f"admin API key (shown once, store it now): [bold]{created.secret}[/]\n")
    ok = _smoke(url, created.secret)
    if keep_serving if keep_serving is not None else sys.stdin.isatty():
        console.print(f"\nserving at {url}; press Ctrl-C to stop")
        try:
            while thread.is_alive():
                thread.join(0.5)
        except KeyboardInterrupt:
            pass
    server.should_exit = True
    thread.join(30)
    if not ok:
        raise typer.Exit(1)


def _smoke(url: str, key: str) -> bool:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
        checks = [
            ("GET /healthz", client.get("/healthz")),
            ("GET /readyz", client.get("/readyz")),
            ("GET /v1/me", client.get("/v1/me")),
        ]
        job = client.post("/v1/jobs", json={"kind": CLEANUP_KIND})
        checks.append((f"POST /v1/jobs ({CLEANUP_KIND})", job))
        if job.status_code == 202:
            checks.append(("job finished", _wait_for_job(client, job.json()["id"])))
        checks.extend(_knowledge(client))
        checks.extend(_models(client))
        time.sleep(0.3)  # the request log is written in batches every ~100 ms
        checks.append(("GET /v1/requests", client.get("/v1/requests", params={"limit": 10})))
        checks.append(("GET /metrics", client.get("/metrics")))
    ok = True
    for label, response in checks:
        finished = label in ("job finished", "ingest finished")
        good = response.status_code < 300 and not (finished and response.json()["status"] != "succeeded")
        ok = ok and good
        mark = "[green]ok[/]" if good else "[red]FAILED[/]"
        console.print(f"  {mark}  {label}: {response.status_code} {_summary(label, response)}", highlight=False)
    return ok


# A few documents to search in the demo (idempotent: a second demo finds them unchanged).
DEMO_DOCUMENTS = [
    {"id": "guide/rollback.md", "title": "Rolling back",
     "text": "# Rolling back\n\nA deployment that misbehaves is rolled back with `shipyard deploy rollback NAME`: "
             "traffic returns to the previous model version at once, without a restart.",
     "metadata": {"area": "models"}},
    {"id": "guide/keys.md", "title": "API keys",
     "text": "# API keys\n\nKeys carry a role (viewer, editor, admin) and an optional rate limit. "
             "Only a hash of each key is stored; revoke a key with `shipyard keys revoke ID`.",
     "metadata": {"area": "security"}},
    {"id": "guide/ingest.md", "title": "Ingesting documents",
     "text": "# Ingesting documents\n\n`shipyard ingest PATH --collection NAME` indexes files, folders and URLs. "
             "Unchanged documents are skipped; changed ones are replaced atomically.",
     "metadata": {"area": "knowledge"}},
]  # fmt: skip


def _knowledge(client: httpx.Client) -> list[tuple[str, httpx.Response]]:
    """Collection → ingest job → hybrid search → cited answer and its trace: the RAG path end to end."""
    checks = []
    created = client.post("/v1/collections", json={"name": "demo-docs", "description": "shipyard demo"})
    if created.status_code != 409:  # already there from an earlier demo
        checks.append(("POST /v1/collections", created))
    job = client.post("/v1/collections/demo-docs/documents", json={"documents": DEMO_DOCUMENTS})
    checks.append(("POST /v1/collections/demo-docs/documents", job))
    if job.status_code == 202:
        checks.append(("ingest finished", _wait_for_job(client, job.json()["id"])))
    search = client.post(
        "/v1/collections/demo-docs/search", json={"query": "how do I undo a bad deployment?", "top_k": 1}
    )
    checks.append(("POST /v1/collections/demo-docs/search", search))
    # With no LLM configured the answer is extractive: quoted from the documents and cited.
    ask = client.post("/v1/ask", json={"collection": "demo-docs", "question": "How do I roll back a deployment?"})
    checks.append(("POST /v1/ask", ask))
    if ask.status_code == 200:
        trace = client.get(f"/v1/traces/{ask.json()['trace_id']}")
        checks.append(("GET /v1/traces/{id}", trace))
    return checks


DEMO_ROW = {"season": 3, "mnth": 7, "hr": 17, "holiday": 0, "weekday": 2, "workingday": 1, "weathersit": 1,
            "temp": 0.74, "atemp": 0.69, "hum": 0.48, "windspeed": 0.22}  # fmt: skip


def _models(client: httpx.Client) -> list[tuple[str, httpx.Response]]:
    """Registry → approval → deployment → one prediction per protocol, when `bike-demand` is
    registered (`make demo` trains it with examples/bike.py first); with two versions, the newer
    one is a canary."""
    versions = client.get("/v1/registry/models/bike-demand/versions")
    if versions.status_code != 200:
        console.print("  --  models: no bike-demand registered; train it: shipyard models train examples/bike.py")
        return []
    numbers = [v["version"] for v in versions.json()]
    champion, canary = (numbers[1], numbers[0]) if len(numbers) > 1 else (numbers[0], None)
    checks = [("GET /v1/registry/models/bike-demand/versions", versions)]
    for version in [champion] + ([canary] if canary else []):
        base = f"/v1/registry/models/bike-demand/versions/{version}"
        checks.append((f"POST {base}/approve", client.post(f"{base}/approve", json={"reason": "shipyard demo"})))
    alias = client.put("/v1/registry/models/bike-demand/aliases/champion", json={"version": champion})
    checks.append(("PUT /v1/registry/models/bike-demand/aliases/champion", alias))
    created = client.post("/v1/deployments", json={"name": "bikes", "model": "bike-demand"})
    if created.status_code != 409:  # already there from an earlier demo
        checks.append(("POST /v1/deployments", created))
    tensors = [{"name": k, "shape": [1], "datatype": "FP64" if isinstance(v, float) else "INT64", "data": [v]}
               for k, v in DEMO_ROW.items()]  # fmt: skip
    checks.append(("POST /v2/models/bikes/infer", client.post("/v2/models/bikes/infer", json={"inputs": tensors})))
    checks.append(("POST /deployments/bikes/invocations",
                   client.post("/deployments/bikes/invocations", json={"dataframe_records": [DEMO_ROW]})))  # fmt: skip
    checks.append(("POST /v1/models/bikes:predict",
                   client.post("/v1/models/bikes:predict", json={"instances": [DEMO_ROW]})))  # fmt: skip
    if canary is not None:
        body = {"version": canary, "percent": 50}
        checks.append(("PUT /v1/deployments/bikes/canary", client.put("/v1/deployments/bikes/canary", json=body)))
    return checks + _drift(client, canary is not None)


def _summer_rows() -> list[dict[str, float | int]]:
    """Four July days, hour by hour: warm, humid, long days — weather the model (trained on
    January–April 2011) never saw."""
    return [
        {"season": 3, "mnth": 7, "hr": hour, "holiday": 0, "weekday": day, "workingday": int(day < 5),
         "weathersit": 1 + (hour % 7 == 0), "temp": round(0.70 + 0.012 * (hour % 12), 3),
         "atemp": round(0.64 + 0.01 * (hour % 12), 4), "hum": round(0.55 + 0.015 * (hour % 10), 2),
         "windspeed": round(0.1 + 0.02 * (hour % 5), 4)}
        for day in range(1, 5)
        for hour in range(24)
    ]  # fmt: skip


# The demo's alerting: the canary's traffic watched for drift, and rolled back when it drifts.
DEMO_ALERTS = {
    "slos": [{"name": "bikes-availability", "objective": 99.5, "sli": {"availability": {"deployment": "bikes"}}}],
    "alerts": [{"name": "bikes-canary-drift", "drift": {"monitor": "canary-watch"}, "severity": "ticket",
                "action": "rollback_canary"}],
}  # fmt: skip


def _drift(client: httpx.Client, with_canary: bool) -> list[tuple[str, httpx.Response]]:
    """Summer traffic to the deployment, and a drift monitor that sees it; with a canary, an
    alert rule on the canary's own monitor that rolls it back."""
    rows = _summer_rows()
    checks: list[tuple[str, httpx.Response]] = []
    answered: dict[str, int] = {}
    for start in range(0, len(rows), 4):  # sticky keys: about half the requests reach the canary
        key = {"X-Request-Key": f"demo-{start // 4}"}
        sent = client.post("/v1/models/bikes:predict", json={"instances": rows[start : start + 4]}, headers=key)
        version = sent.headers.get("x-model-version", "?")
        answered[version] = answered.get(version, 0) + 1
    by_version = ", ".join(f"version {v}: {n}" for v, n in sorted(answered.items()))
    checks.append((f"POST /v1/models/bikes:predict ({len(rows)} summer rows, {len(rows) // 4} requests)", sent))
    console.print(f"  --  requests answered by {by_version}", highlight=False)
    checks.extend(_monitor(client, "bikes-drift", {"deployment": "bikes"}))
    if not with_canary:
        return checks
    checks.extend(_monitor(client, "canary-watch", {"deployment": "bikes", "role": "canary"}))
    client.put("/v1/alerts/config", json={})  # alerts left open by an earlier demo resolve…
    client.post("/v1/alerts/evaluate")
    checks.append(("PUT /v1/alerts/config", client.put("/v1/alerts/config", json=DEMO_ALERTS)))  # …and start again
    checks.append(("POST /v1/alerts/evaluate", client.post("/v1/alerts/evaluate")))
    checks.append(("GET /v1/alerts?state=firing", client.get("/v1/alerts", params={"state": "firing"})))
    checks.append(("GET /v1/deployments/bikes", client.get("/v1/deployments/bikes")))
    return checks


def _monitor(client: httpx.Client, name: str, target: dict[str, str]) -> list[tuple[str, httpx.Response]]:
    checks = []
    monitor = client.post("/v1/monitors", json={"name": name, **target, "every": "15m"})
    if monitor.status_code != 409:  # already there from an earlier demo
        checks.append(("POST /v1/monitors", monitor))
    checks.append((f"POST /v1/monitors/{name}/run", client.post(f"/v1/monitors/{name}/run")))
    return checks


def _wait_for_job(client: httpx.Client, job_id: str) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        response = client.get(f"/v1/jobs/{job_id}")
        if response.json().get("status") in ("succeeded", "failed") or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def _summary(label: str, response: httpx.Response) -> str:
    if label.startswith("POST /v1/jobs") or label.endswith("/documents"):
        return f"job {response.json()['id']} queued"
    if label == "POST /v1/collections":
        return f"collection {response.json()['name']} created"
    if label == "ingest finished":
        body = response.json()
        return f"{body['status']}: {body['result']['documents']}, {body['result']['chunks']} chunks"
    if label.endswith("/search"):
        hits = response.json()["results"]
        if not hits:
            return "no results"
        return f'top hit {hits[0]["document_id"]} ("{hits[0]["text"][:60]}…")'
    if label == "POST /v1/ask":
        body = response.json()
        cited = ", ".join(c["document_id"] for c in body["citations"]) or "nothing"
        return f'{body["model"]} answer citing {cited}: "{body["answer"][:60]}…"'
    if label == "GET /v1/traces/{id}":
        body = response.json()
        spans = " → ".join(s["name"] for s in body["details"]["spans"])
        return f"trace {body['status']} in {body['duration_ms']:.1f} ms: {spans}"
    if label == "GET /v1/me":
        body = response.json()
        return f"key {body['key_name']} ({body['role']}) in project {body['project']['name']}"
    if label == "job finished":
        body = response.json()
        return f"{body['status']} after {body['attempts']} attempt(s): {body['result']}"
    if label == "GET /v1/requests":
        return f"{len(response.json()['data'])} logged calls, newest first"
    if label.endswith("/versions"):
        body = response.json()
        return f"{len(body)} version(s); newest {body[0]['version']}: {body[0]['metrics']}"
    if label.endswith(("/approve", "/champion")):
        body = response.json()
        return f"version {body['version']} {body['approval']['state']}, aliases {body['aliases']}"
    if label == "POST /v1/deployments":
        body = response.json()
        return f"deployment {body['name']} serves version {body['serving_version']}"
    if label.endswith("/infer"):
        return f"{response.json()['outputs'][0]['data'][0]:.1f} rentals/hour (Open Inference Protocol v2)"
    if label.endswith("/invocations"):
        return f"{response.json()['predictions'][0]:.1f} rentals/hour (MLflow scoring)"
    if label.endswith(":predict"):
        return f"{response.json()['predictions'][0]:.1f} rentals/hour (KServe V1)"
    if label.startswith("POST /v1/models/bikes:predict ("):
        return "every row logged, for the monitors"
    if label == "POST /v1/monitors":
        body = response.json()
        role = f" ({body['role']} traffic)" if body.get("role") else ""
        return f"monitor {body['name']} watches {body['deployment']}{role} every 15m"
    if label == "PUT /v1/deployments/bikes/canary":
        return f"version {response.json()['canary_version']} takes {response.json()['canary_percent']:g} % as a canary"
    if label == "PUT /v1/alerts/config":
        body = response.json()
        return f"{body['slos']} SLO and {body['alerts']} alert rule applied"
    if label == "POST /v1/alerts/evaluate":
        body = response.json()
        return f"{body['rules']} rules evaluated: {body['fired']} fired"
    if label == "GET /v1/alerts?state=firing":
        alerts = [a for a in response.json()["data"] if a["action"]]
        return f"{alerts[0]['rule']} firing: {alerts[0]['action']}" if alerts else "no alert acted"
    if label == "GET /v1/deployments/bikes":
        body = response.json()
        return f"bikes serves version {body['version']}, canary: {body['canary_version'] or 'none'}"
    if label.endswith("/run"):
        body = response.json()
        drifted = [c["column"] for c in body["report"]["columns"] if c["status"] == "drift"]
        return f"{body['status']}: {body['drifted_columns']} of {body['tested_columns']} columns ({', '.join(drifted)})"
    if label == "GET /metrics":
        return f"{sum(1 for line in response.text.splitlines() if line.startswith('# TYPE'))} metric families"
    return response.text[:80]


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port

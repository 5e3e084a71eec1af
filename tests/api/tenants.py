"""Project A for the tenant-isolation test: one object of every kind, made over HTTP with A's
admin key, and the values that fill each route's path parameters with them; and the OpenAPI
document's operations, walked by the test.

Models come from a tiny registry trained once per run (`train_registry`: a pyfunc model that
doubles `x`, ~15 s, most of it MLflow creating its database) rather than the models suite's bike
template (~70 s): isolation needs a model that exists in A, not a good one.
"""

from __future__ import annotations

import re
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.auth import Role
from shipyard.models.location import mlflow_location
from shipyard.settings import Settings
from tests.conftest import LiveServer, wait_until

PROJECT_A, PROJECT_B = "tenant-a", "tenant-b"
METHODS = ("get", "post", "put", "patch", "delete")
MODEL = "alpha-model"
DOCUMENT_TEXT = "ALPHA-SECRET-DOC: the alpha reactor restarts at dawn, every day."
ROW = {"x": 1.0}
# The kinds of A's objects `populate` makes. `TenantA.objects` also holds two values that are not
# A's data, for request bodies: the webhook receiver's address and the embedder's name.
KINDS = frozenset({"project", "key_id", "job_id", "collection", "document_id", "prompt", "prompt_ref",
                   "prompt_label", "trace_id", "budget_period", "model", "model_ref", "model_alias",
                   "model_version", "deployment", "prediction_id", "monitor", "silence_id", "alert_id",
                   "webhook_id"})  # fmt: skip
NOT_DATA = ("budget_period", "model_version", "model_ref", "model_alias", "prompt_label", "prompt_ref",
            "hook_url", "embedder")  # fmt: skip


def train_registry(home: Path) -> Path:
    """An MLflow home holding `tenant-a.alpha-model` version 1."""
    import pandas as pd
    from mlflow.pyfunc.model import PythonModel

    from shipyard.models.training import start_run

    settings = Settings(home=home)
    with warnings.catch_warnings():
        # MLflow's hints about this deliberately minimal model, at its definition and logging.
        warnings.simplefilter("ignore", UserWarning)

        class Double(PythonModel):
            def predict(self, context, model_input, params=None):
                return model_input["x"] * 2

        with start_run(MODEL, project=PROJECT_A, settings=settings) as run:
            run.register(Double(), pd.DataFrame({"x": [1.0, 2.0, 3.0]}))
    return home


def copy_registry(template: Path, settings: Settings) -> None:
    """Give `settings`' embedded MLflow a private copy of the template's registry database."""
    target = mlflow_location(settings.home, None)
    shutil.copy(template / "mlflow" / "mlflow.db", Path(target.tracking_uri.removeprefix("sqlite:///")))


@dataclass
class TenantA:
    """A's keys, the values of its objects by kind, and strings only A's data contains."""

    admin: dict[str, str]
    editor: dict[str, str]
    viewer: dict[str, str]
    objects: dict[str, str] = field(default_factory=dict)
    markers: set[str] = field(default_factory=set)


def populate(live: LiveServer, hook_url: str) -> TenantA:
    """Create A's objects; every one of them is asserted to exist before the test uses it."""
    a = TenantA(live.key(Role.ADMIN, PROJECT_A), live.key(Role.EDITOR, PROJECT_A), live.key(Role.VIEWER, PROJECT_A))
    a.objects.update(project=PROJECT_A, budget_period="day", model=MODEL, model_version="1", model_ref="champion")
    a.objects.update(model_alias="staging", prompt_label="production", prompt_ref="production")
    a.objects.update(hook_url=hook_url, embedder=live.services.embedder.name)
    spare = live.services.access.create_key("alpha-spare-key", Role.VIEWER, PROJECT_A)
    a.objects["key_id"] = spare.key.id
    _knowledge(live, a)
    _prompts(live, a)
    _alerting(live, a, hook_url)
    _models(live, a)
    assert KINDS <= set(a.objects), f"populate made no {sorted(KINDS - set(a.objects))}"
    a.markers |= {value for kind, value in a.objects.items() if kind not in NOT_DATA}
    a.markers |= {"ALPHA-SECRET", "alpha reactor", "alpha-spare", "AlphaSecret", "alpha secret", "alpha-hook"}
    return a


def _call(live: LiveServer, a: TenantA, method: str, url: str, status: int, **kwargs: Any) -> Any:
    response = live.client.request(method, url, headers=a.admin, **kwargs)
    assert response.status_code == status, f"setting up project A: {method} {url}: {response.text}"
    return response.json() if response.content else None


def _knowledge(live: LiveServer, a: TenantA) -> None:
    for name in ("alpha-docs", "alpha-spare-docs"):
        _call(live, a, "POST", "/v1/collections", 201, json={"name": name})
    document = {"id": "alpha-doc-1", "title": "AlphaSecret handbook", "text": DOCUMENT_TEXT}
    job = _call(live, a, "POST", "/v1/collections/alpha-docs/documents", 202, json={"documents": [document]})
    wait_until(lambda: _call(live, a, "GET", f"/v1/jobs/{job['id']}", 200)["status"] == "succeeded", timeout=60)
    asked = _call(live, a, "POST", "/v1/ask", 200,
                  json={"collection": "alpha-docs", "question": "When does the alpha reactor restart?"})  # fmt: skip
    assert "alpha reactor" in asked["answer"], asked
    wait_until(lambda: live.client.get(f"/v1/traces/{asked['trace_id']}", headers=a.admin).status_code == 200)
    a.objects.update(collection="alpha-docs", document_id="alpha-doc-1", job_id=job["id"], trace_id=asked["trace_id"])


def _prompts(live: LiveServer, a: TenantA) -> None:
    for name, text in (("alpha-prompt", "v1"), ("alpha-prompt", "v2"), ("alpha-spare-prompt", "v1")):
        spec = {"name": name, "template": f"ALPHA-SECRET-PROMPT {text} about {{{{ topic }}}}"}
        _call(live, a, "POST", "/v1/prompts", 201, json=spec)
    _call(live, a, "PUT", "/v1/prompts/alpha-prompt/labels/production", 200, json={"version": 1})
    a.objects["prompt"] = "alpha-prompt"


def _alerting(live: LiveServer, a: TenantA, hook_url: str) -> None:
    webhook = _call(live, a, "POST", "/v1/webhooks", 201, json={"url": f"{hook_url}/alpha-hook", "events": ["*"]})
    spec = {"alerts": [{"name": "alpha-secret-rule", "threshold": {"signal": "requests"}, "above": 1_000_000}],
            "notifiers": [{"name": "alpha-notifier", "webhook": f"{hook_url}/alpha-hook"}]}  # fmt: skip
    _call(live, a, "PUT", "/v1/alerts/config", 200, json=spec)
    silence = {"matchers": {"alertname": "AlphaSecretAlert"}, "duration": "1h", "comment": "alpha secret silence"}
    silence_id = _call(live, a, "POST", "/v1/alerts/silences", 201, json=silence)["id"]
    labels = {"alertname": "AlphaSecretAlert", "severity": "page"}
    fired = {
        "status": "firing",
        "labels": labels,
        "annotations": {"summary": "ALPHA-SECRET"},
        "startsAt": "2026-01-01T00:00:00Z",
    }
    _call(live, a, "POST", "/v1/alerts/alertmanager", 200, json={"alerts": [fired]})
    alert_id = _call(live, a, "GET", "/v1/alerts", 200)["data"][0]["id"]
    _call(live, a, "PUT", f"/v1/projects/{PROJECT_A}/budgets/day", 200, json={"max_tokens": 1_000_000})
    monitor = {"name": "alpha-monitor", "collection": "alpha-docs"}
    _call(live, a, "POST", "/v1/monitors", 201, json=monitor)
    a.objects.update(webhook_id=webhook["id"], silence_id=silence_id, alert_id=alert_id, monitor="alpha-monitor")


def _models(live: LiveServer, a: TenantA) -> None:
    base = f"/v1/registry/models/{MODEL}"
    _call(live, a, "PUT", f"{base}/aliases/champion", 200, json={"version": 1})
    _call(live, a, "PUT", f"{base}/aliases/staging", 200, json={"version": 1})
    _call(live, a, "POST", f"{base}/versions/1/approve", 200, json={})
    deployment = _call(live, a, "POST", "/v1/deployments", 201, json={"name": "alpha-deploy", "model": MODEL})
    assert deployment["ready"] is True, deployment
    predicted = live.client.post("/v1/models/alpha-deploy:predict", json={"instances": [ROW]}, headers=a.admin)
    assert predicted.status_code == 200, predicted.text
    a.objects.update(deployment="alpha-deploy", prediction_id=predicted.headers["x-prediction-id"])


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    id: str
    schema: dict[str, Any] | None  # of its JSON request body
    query: tuple[str, ...] = ()  # required query parameters

    @property
    def params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    @property
    def write(self) -> bool:
        return self.method != "GET"

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.id})"


def operations(document: dict[str, Any]) -> list[Operation]:
    found = []
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                spec = item[method]
                schema = spec.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
                query = tuple(p["name"] for p in spec.get("parameters", []) if p["in"] == "query" and p.get("required"))
                found.append(Operation(method.upper(), path, spec["operationId"], schema, query))
    return found


def example(schema: dict[str, Any], document: dict[str, Any]) -> Any:
    """The plainest value `schema` accepts, as far as the document says (required fields only)."""
    if "$ref" in schema:  # a dangling one (a route that reads its body itself) gives no body
        target = document.get("components", {}).get("schemas", {}).get(schema["$ref"].rsplit("/", 1)[1])
        return None if target is None else example(target, document)
    if schema.get("examples"):
        return schema["examples"][0]
    if "enum" in schema:
        return schema["enum"][0]
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return example(next((s for s in options if s.get("type") != "null"), options[0]), document)
    kind = str(schema.get("type"))
    if kind == "object":
        return {name: example(schema["properties"][name], document) for name in schema.get("required", [])}
    if kind == "array":
        return [example(schema.get("items", {}), document)] * schema.get("minItems", 0)
    return {"string": "x", "integer": max(1, schema.get("minimum", 1)), "number": 1.0, "boolean": False}.get(kind)

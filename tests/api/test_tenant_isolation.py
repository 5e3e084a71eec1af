"""Tenant isolation as a generated test: every route in the OpenAPI document that names an object
is called for project A's object with project B's admin key (404) and, if it writes, with A's
viewer key (403), so a new route is covered without anyone remembering to add it.

`tenants.populate` makes one object of every kind in project A over HTTP; PARAMETERS fills each
path parameter with one of them, keyed by path prefix (`name` is a collection under
/v1/collections/, a deployment under /v1/deployments/). A route the tables cannot fill, or a
public route nobody decided on, fails `test_the_tables_cover_every_route` saying what to add.
The walk: B lists everything (GET without ids) and must see none of A; B calls every id route
and every route naming A's object in its body (404); A's viewer calls every write (403, but for
VIEWER_WRITES); B makes objects named like A's and must still reach only its own; last, A's admin
repeats each call as a positive control (2xx, or a business refusal in BUSINESS), so B's 404
meant "not yours", never "no such route", "no such object" or "invalid body". No answer to B may
hold A's data (`TenantA.markers`, minus what B sent), and nothing may answer 5xx. All findings
of a run are reported together, each as a reproduction.

Admin keys are operators (`auth.Role`: "manages projects and the keys of every project"): the
routes that name a project or a key (OPERATOR_SCOPE) answer any admin by design, so B's editor
gets 403 there instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from filelock import FileLock

from shipyard.api import create_app
from shipyard.api.auth import is_protected
from shipyard.auth import Role
from shipyard.platform import build_platform
from shipyard.store import upgrade
from tests.api.tenants import (
    KINDS,
    PROJECT_A,
    PROJECT_B,
    ROW,
    Operation,
    TenantA,
    copy_registry,
    example,
    operations,
    populate,
    train_registry,
)
from tests.conftest import LiveServer, make_settings, serve, wait_until
from tests.webhook_receiver import LOOPBACK, webhook_receiver

# Path prefix (longest match wins) → path parameter → the kind of A's object that fills it.
PARAMETERS: dict[str, dict[str, str]] = {
    "/v1/keys/": {"key_id": "key_id"},
    "/v1/jobs/": {"job_id": "job_id"},
    "/v1/collections/": {"name": "collection", "document_id": "document_id"},
    "/v1/prompts/": {"name": "prompt", "ref": "prompt_ref", "label": "prompt_label"},
    "/v1/traces/": {"trace_id": "trace_id"},
    "/v1/projects/": {"project": "project", "period": "budget_period"},
    "/v1/registry/models/": {"model": "model", "ref": "model_ref", "alias": "model_alias", "version": "model_version"},
    "/v1/deployments/": {"name": "deployment"},
    "/v1/monitors/": {"name": "monitor"},
    "/v1/alerts/silences/": {"silence_id": "silence_id"},
    "/v1/alerts/": {"alert_id": "alert_id"},
    "/v1/webhooks/": {"webhook_id": "webhook_id"},
    "/v1/models/": {"name": "deployment"},  # KServe V1 addresses deployments
    "/v2/models/": {"name": "deployment", "version": "model_version"},
    "/deployments/": {"name": "deployment"},  # MLflow scoring
}
# Routes without an API key, and why that is right. They take no ids (checked).
PUBLIC = dict.fromkeys(("healthz", "readyz", "oip_live", "oip_ready", "mlflow_ping", "mlflow_health"), "a probe") | {
    "metrics": "Prometheus scrape, guarded by SHIPYARD_METRICS_TOKEN when set",
    "oip_server_metadata": "Open Inference server metadata (name, version)",
    "mlflow_version": "MLflow scoring: the MLflow version",
}
# Admin-only routes that act across projects by design (auth.Role: admin is the operator).
OPERATOR_SCOPE = {
    "revoke_key": "admins manage the keys of every project",
    "set_budget": "operators set each project's LLM budget (budgets.py)",
    "delete_budget": "operators set each project's LLM budget (budgets.py)",
    "list_keys": "admins manage the keys of every project",
    "list_projects": "admins manage projects",
}
ADMIN_ONLY = {*OPERATOR_SCOPE, "create_project", "create_key", "create_job"}
# Writes (by HTTP method) that a viewer key may make, and why.
VIEWER_WRITES = {
    "search_collection": "a search is a read with a query body",
    "render_prompt": "rendering reads a version and stores nothing",
    "add_feedback": "end users rate answers through the app's key (routes/traces.py)",
    "ask": "a question is a read",
    "create_chat_completion": "a completion is a read (OpenAI-compatible)",
    "create_embeddings": "embedding stores nothing",
} | dict.fromkeys(
    ("oip_infer", "oip_infer_version", "kserve_v1_predict", "mlflow_invocations", "mlflow_deployment_invocations"),
    "serving predictions is what viewer keys are for",
)
# Required query parameters, by operation id.
QUERIES = {"diff_prompt_versions": {"from": "1", "to": "2"}}


@dataclass(frozen=True)
class Want:
    """What a probe must get: `status` (None: any 2xx) with error `code` when given, or with
    `other_than` anything but that status. A 404 must be about the object, not the route: a typo
    in a table would look like isolation."""

    what: str
    status: int | None = None
    code: str | None = None
    other_than: int | None = None

    def met(self, response: httpx.Response) -> bool:
        if self.other_than is not None:
            return response.status_code != self.other_than
        if self.status is None:
            return response.is_success
        if response.status_code != self.status or (self.code and f'"{self.code}"' not in response.text):
            return False
        return self.status != 404 or "no route" not in response.text


OWN_ADMIN = Want("2xx: A's admin reaches A's object")
NOT_THEIRS = Want("404: not this project's object", 404)
ONLY_OWN = Want("200 with none of A's data", 200)
ADMIN_403 = Want("403: admin only", 403)
VIEWER_403 = Want("403: viewers do not write", 403)
# A's own admin is refused these for business reasons, after finding the object.
ALREADY_SERVED = Want("400 invalid_input: A's deployment already serves version 1", 400, "invalid_input")
BUSINESS = {
    "set_canary": ALREADY_SERVED,
    "set_shadow": ALREADY_SERVED,
    "promote_deployment": Want("400 invalid_input: no canary or shadow to promote", 400, "invalid_input"),
    "rollback_deployment": Want("400 invalid_input: nothing to roll back to", 400, "invalid_input"),
    "run_monitor": Want("422 empty_window: nobody asked the collection anything in the window", 422, "empty_window"),
}


def bodies(o: Mapping[str, str]) -> dict[str, Any]:
    """Request bodies by operation id, valid for A's objects (the positive control proves it).
    Operations missing here get a body made from their OpenAPI schema (`example`)."""
    oip = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [ROW["x"]]}]}
    question = {"role": "user", "content": "When does the alpha reactor restart?"}
    return {
        "create_project": {"name": "alpha-new"},
        "create_key": {"name": "k", "role": "viewer", "project": PROJECT_A},
        "create_job": {"kind": "maintenance.cleanup"},
        "create_collection": {"name": "alpha-new"},
        "ingest_documents": {"documents": [{"id": "alpha-doc-2", "text": "Another alpha text."}]},
        "search_collection": {"query": "reactor"},
        "create_chat_completion": {"model": f"rag:{o['collection']}", "messages": [question]},
        "create_embeddings": {"model": o["embedder"], "input": "hello"},
        "ask": {"collection": o["collection"], "question": question["content"]},
        "push_prompt": {"name": "alpha-new", "template": "hello"},
        "set_prompt_label": {"version": 1},
        "render_prompt": {"variables": {"topic": "reactors"}},
        "add_feedback": {"score": 1},
        "set_budget": {"max_tokens": 1000},
        "set_model_alias": {"version": 1},
        "set_model_version_tag": {"key": "reviewed", "value": "yes"},
        "approve_model_version": {},
        "reject_model_version": {"reason": "checking isolation"},
        "create_deployment": {"name": "alpha-new", "model": o["model"]},
        "configure_deployment": {"max_batch_size": 8},
        "set_canary": {"version": 1, "percent": 10},
        "set_shadow": {"version": 1},
        "rollback_deployment": {"reason": "checking isolation"},
        "post_labels": {"labels": [{"prediction_id": o["prediction_id"], "label": 2.0}]},
        "create_monitor": {"name": "alpha-new", "collection": o["collection"]},
        "apply_alert_config": {},
        "create_silence": {"matchers": {"alertname": "x"}, "comment": "checking isolation"},
        "receive_alertmanager": {"alerts": []},
        "create_webhook": {"url": f"{o['hook_url']}/new"},
        "oip_infer": oip,
        "oip_infer_version": oip,
        "kserve_v1_predict": {"instances": [ROW]},
        "mlflow_invocations": {"dataframe_records": [ROW]},
        "mlflow_deployment_invocations": {"dataframe_records": [ROW]},
    }


def body_references(o: Mapping[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """Routes that name A's object in the body rather than the path: B gets 404 for them too."""
    table = bodies(o)
    return [
        ("ask", table["ask"]),
        ("create_chat_completion", table["create_chat_completion"]),
        ("create_monitor", {"name": "alpha-by-collection", "collection": o["collection"]}),
        ("create_monitor", {"name": "alpha-by-deployment", "deployment": o["deployment"]}),
        ("mlflow_invocations", table["mlflow_invocations"]),  # "the project's only deployment"
        ("create_deployment", {"name": "alpha-second", "model": o["model"]}),  # last: /invocations needs one
    ]


def parameter_kinds(operation: Operation) -> dict[str, str | None]:
    prefixes = [p for p in PARAMETERS if operation.path.startswith(p)]
    table = PARAMETERS[max(prefixes, key=len)] if prefixes else {}
    return {name: table.get(name) for name in operation.params}


def gaps(found: list[Operation], kinds: set[str]) -> list[str]:
    """What the tables miss, each with the fix."""
    problems = []
    for operation in found:
        if not is_protected(operation.path):
            if operation.id not in PUBLIC or operation.params:
                problems.append(f"{operation} has no API-key check: protect it, or add it to PUBLIC with the reason")
            continue
        for name, kind in parameter_kinds(operation).items():
            if kind not in kinds:
                prefix = operation.path.split("{")[0]
                problems.append(
                    f"{operation}: nothing fills {{{name}}}. Create that object in project A "
                    f"(tests/api/tenants.py `populate`, a.objects['<kind>']) and map it: "
                    f"PARAMETERS[{prefix!r}][{name!r}] = '<kind>'"
                )
        if operation.query and operation.id not in QUERIES:
            problems.append(f"{operation} needs query parameters {operation.query}: add them to QUERIES")
    ids = {o.id for o in found}
    for table in ("PUBLIC", "OPERATOR_SCOPE", "VIEWER_WRITES", "BUSINESS", "QUERIES"):
        problems += [f"{table} names {i!r}, which is no longer a route" for i in globals()[table] if i not in ids]
    return problems


@dataclass
class Probe:
    """Calls routes for A's objects and collects every finding as a reproduction."""

    live: LiveServer
    a: TenantA
    document: dict[str, Any]
    findings: list[str] = field(default_factory=list)

    def url(self, operation: Operation) -> str:
        kinds = parameter_kinds(operation)
        return operation.path.format(**{name: self.a.objects[str(kind)] for name, kind in kinds.items()})

    def body(self, operation: Operation) -> Any:
        table = bodies(self.a.objects)
        if operation.id in table:
            return table[operation.id]
        return example(operation.schema, self.document) if operation.schema is not None else None

    def check(self, who: str, headers: dict[str, str], operation: Operation, want: Want, body: Any = None) -> None:
        """Call `operation` for A's object as `who`: a finding unless `want` is met, and for B's
        keys whenever the answer shows A's data that B did not send itself."""
        body = self.body(operation) if body is None else body
        url, query = self.url(operation), QUERIES.get(operation.id)
        response = self.live.client.request(operation.method, url, params=query, headers=headers, json=body)
        shown = f"{who}: {operation.method} {response.request.url.raw_path.decode()}"
        shown += f" json={json.dumps(body)}" if body is not None else ""
        leaked = sorted(m for m in self.a.markers if m not in shown and m in response.text)
        if who.startswith("B") and leaked:
            self.findings.append(f"LEAK {shown} → {response.status_code} shows A's {leaked}: {response.text[:300]}")
        if response.status_code >= 500 or not want.met(response):
            self.findings.append(f"WANTED {want.what}: {shown} → {response.status_code}: {response.text[:300]}")


@pytest.fixture(scope="session")
def registry_template(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model registry, trained once per run; xdist workers share it (as mlflow_template),
    and a run without xdist (`-p no:xdist`) trains its own."""
    if not hasattr(request.config, "workerinput"):
        return train_registry(tmp_path_factory.mktemp("tenant-registry"))
    shared = tmp_path_factory.getbasetemp().parent / "tenant-registry"
    with FileLock(str(shared) + ".lock"):
        if not (shared / "trained").exists():
            train_registry(shared)
            (shared / "trained").touch()
    return shared


@pytest.fixture
def tenants(tmp_path: Path, database_url: str, registry_template: Path) -> Iterator[tuple[LiveServer, TenantA]]:
    settings = make_settings(tmp_path, database_url, url_allow_networks=LOOPBACK)
    copy_registry(registry_template, settings)
    services = build_platform(settings)
    upgrade(services.database)
    for name in (PROJECT_A, PROJECT_B):
        services.access.create_project(name)
    try:
        with serve(services) as live, webhook_receiver() as hooks:
            yield live, populate(live, hooks.url)
    finally:
        services.close()


def test_the_tables_cover_every_route(tmp_path: Path) -> None:
    """Fails on a route whose ids no object of A fills, or a public route nobody decided on."""
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'openapi.db'}")
    services = build_platform(settings)
    try:
        document = create_app(settings, services).openapi()
    finally:
        services.close()
    found = operations(document)
    assert not (problems := gaps(found, set(KINDS))), "\n".join(problems)
    assert len([o for o in found if o.params]) >= 50  # the walk really sees the id routes
    for operation in found:  # a future route without a body in `bodies` gets one from its schema
        if operation.schema is not None:
            example(operation.schema, document)


def test_no_route_lets_one_project_reach_another(tenants: tuple[LiveServer, TenantA]) -> None:
    live, a = tenants
    document = live.client.get("/openapi.json").json()
    found = operations(document)
    assert not (problems := gaps(found, set(a.objects))), "\n".join(problems)
    probe = Probe(live, a, document)
    by_id = {o.id: o for o in found}
    protected = [o for o in found if is_protected(o.path)]
    _lists_show_b_nothing_of_a(probe, protected)
    _b_gets_404_for_each_of_as_objects(probe, protected, by_id)
    _a_viewer_cannot_write(probe, protected)
    _same_names_in_b_stay_bs(probe, by_id)
    _a_reaches_every_object_itself(probe, protected, by_id)
    assert not probe.findings, f"{len(probe.findings)} findings:\n" + "\n".join(probe.findings)


def _lists_show_b_nothing_of_a(probe: Probe, protected: list[Operation]) -> None:
    """First, before B's own requests name A's objects in B's request log and audit."""
    b_admin, b_editor = probe.live.key(Role.ADMIN, PROJECT_B), probe.live.key(Role.EDITOR, PROJECT_B)
    for operation in (o for o in protected if o.method == "GET" and not o.params):
        if operation.id in OPERATOR_SCOPE:
            probe.check("B editor", b_editor, operation, ADMIN_403)
        else:
            probe.check("B admin", b_admin, operation, ONLY_OWN)


def _b_gets_404_for_each_of_as_objects(probe: Probe, protected: list[Operation], by_id: dict[str, Operation]) -> None:
    b_admin, b_editor = probe.live.key(Role.ADMIN, PROJECT_B), probe.live.key(Role.EDITOR, PROJECT_B)
    for operation in (o for o in protected if o.params):
        if operation.id in OPERATOR_SCOPE:
            probe.check("B editor", b_editor, operation, ADMIN_403)
        else:
            probe.check("B admin", b_admin, operation, NOT_THEIRS)
    for operation_id, body in body_references(probe.a.objects):
        probe.check("B admin", b_admin, by_id[operation_id], NOT_THEIRS, body)


def _a_viewer_cannot_write(probe: Probe, protected: list[Operation]) -> None:
    for operation in (o for o in protected if o.write):
        why = VIEWER_WRITES.get(operation.id)
        probe.check(
            "A viewer", probe.a.viewer, operation, Want(f"not 403: {why}", other_than=403) if why else VIEWER_403
        )
        if operation.id in ADMIN_ONLY:
            probe.check("A editor", probe.a.editor, operation, ADMIN_403)


def _same_names_in_b_stay_bs(probe: Probe, by_id: dict[str, Operation]) -> None:
    """B makes a collection and a prompt named like A's: B's routes then find B's objects, and
    never A's document, chunks, versions or labels (stores keyed by name, not project, would)."""
    live, b_admin = probe.live, probe.live.key(Role.ADMIN, PROJECT_B)
    collection, prompt = probe.a.objects["collection"], probe.a.objects["prompt"]
    assert live.client.post("/v1/collections", json={"name": collection}, headers=b_admin).status_code == 201
    document = {"id": "beta-doc", "text": "The beta reactor restarts at noon, every day."}
    job = live.client.post(f"/v1/collections/{collection}/documents", json={"documents": [document]}, headers=b_admin)
    wait_until(lambda: live.client.get(f"/v1/jobs/{job.json()['id']}", headers=b_admin).json()["status"] == "succeeded")
    spec = {"name": prompt, "template": "beta {{ topic }}"}
    assert live.client.post("/v1/prompts", json=spec, headers=b_admin).status_code == 201
    for operation_id in ("get_collection", "list_documents", "search_collection", "ask", "list_prompt_versions"):
        probe.check("B admin", b_admin, by_id[operation_id], ONLY_OWN)
    for operation_id in ("get_document", "get_prompt_version", "render_prompt", "diff_prompt_versions"):
        probe.check("B admin", b_admin, by_id[operation_id], NOT_THEIRS)  # A's document, label, version 2


def _a_reaches_every_object_itself(probe: Probe, protected: list[Operation], by_id: dict[str, Operation]) -> None:
    """The positive control, last and destructive calls last of all: with A's admin the same
    requests reach A's objects, so B's 404s were about tenancy."""
    controls: list[tuple[Operation, Any]] = [(by_id[i], body) for i, body in body_references(probe.a.objects)]
    controls += sorted(
        ((o, None) for o in protected if o.params),
        key=lambda c: (c[0].method == "DELETE", c[0].id == "reject_model_version", -c[0].path.count("/")),
    )
    for operation, body in controls:
        probe.check("A admin", probe.a.admin, operation, BUSINESS.get(operation.id, OWN_ADMIN), body)

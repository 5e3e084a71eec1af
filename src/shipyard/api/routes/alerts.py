"""Alerts over HTTP: the project's alerting spec, alerts and their history, silences, notifiers,
the Prometheus rule file, and the Alertmanager webhook receiver."""

from __future__ import annotations

from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Body, Query, Request, status
from fastapi.responses import PlainTextResponse

from shipyard.api.deps import alerts_of, authorize
from shipyard.api.routing import PrefixedRoute
from shipyard.api.schemas import ERROR_RESPONSES, PageOf
from shipyard.auth import Role
from shipyard.monitoring.receiver import parse_payload, receive_alertmanager
from shipyard.monitoring.rules import parse_spec
from shipyard.monitoring.silences import SilenceSpec
from shipyard.schemas.alerts import AlertPublic, NotifierPublic, SilencePublic

router = APIRouter(route_class=PrefixedRoute, prefix="/v1/alerts", tags=["alerts"], responses=ERROR_RESPONSES)


@router.get("", operation_id="list_alerts")
def list_alerts(
    request: Request,
    state: str | None = Query(default=None, description="pending | firing | resolved"),
    rule: str | None = None,
    severity: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> PageOf[AlertPublic]:
    """Alerts newest first, open and resolved (the history)."""
    principal = authorize(request, Role.VIEWER)
    page = alerts_of(request).list(
        principal.project_id, state=state, rule=rule, severity=severity, limit=limit, cursor=cursor
    )
    return PageOf(data=[AlertPublic.of(a) for a in page.items], next_cursor=page.next_cursor)


@router.get("/config", operation_id="get_alert_config")
def get_config(request: Request) -> dict[str, Any]:
    """The applied spec (slos, alerts, notifiers); notifier URLs show their host only."""
    principal = authorize(request, Role.VIEWER)
    return alerts_of(request).config(principal.project_id)


@router.put("/config", operation_id="apply_alert_config")
def apply_config(request: Request, body: Annotated[dict[str, Any], Body()]) -> dict[str, int]:
    """Replace the project's SLOs, alert rules and notifiers with `body`."""
    principal = authorize(request, Role.EDITOR)
    spec = parse_spec(body, "request body")
    return alerts_of(request).apply(principal.project_id, spec, by=principal.key_name)


@router.get("/prometheus-rules", operation_id="get_prometheus_rules", response_class=PlainTextResponse)
def prometheus_rules(request: Request) -> PlainTextResponse:
    """The applied spec as a Prometheus rule file (YAML), for `rule_files`."""
    principal = authorize(request, Role.VIEWER)
    text = alerts_of(request).prometheus_rules(principal.project_id)
    return PlainTextResponse(text, media_type="application/yaml")


@router.post("/evaluate", operation_id="evaluate_alerts")
async def evaluate(request: Request) -> dict[str, int]:
    """Evaluate the project's rules now (the schedule does it every SHIPYARD_ALERT_EVAL_SECONDS)."""
    principal = authorize(request, Role.EDITOR)
    alerts = alerts_of(request)
    rules, opened, fired, resolved, sent = await to_thread.run_sync(alerts.evaluate_now, principal.project_id)
    return {"rules": rules, "opened": opened, "fired": fired, "resolved": resolved, "notifications": sent}


@router.get("/silences", operation_id="list_silences")
def list_silences(request: Request, include_expired: bool = False) -> list[SilencePublic]:
    principal = authorize(request, Role.VIEWER)
    silences = alerts_of(request).silences.list(principal.project_id, include_expired=include_expired)
    return [SilencePublic.of(s) for s in silences]


@router.post("/silences", operation_id="create_silence", status_code=status.HTTP_201_CREATED)
def create_silence(request: Request, body: SilenceSpec) -> SilencePublic:
    """Hold back notifications and actions of matching alerts for `duration`."""
    principal = authorize(request, Role.EDITOR)
    silence = alerts_of(request).silences.create(principal.project_id, body, by=principal.key_name)
    return SilencePublic.of(silence)


@router.delete("/silences/{silence_id}", operation_id="expire_silence")
def expire_silence(request: Request, silence_id: str) -> SilencePublic:
    """End a silence now (it stays in the history)."""
    principal = authorize(request, Role.EDITOR)
    return SilencePublic.of(alerts_of(request).silences.expire(principal.project_id, silence_id))


@router.get("/notifiers", operation_id="list_notifiers")
def list_notifiers(request: Request) -> list[NotifierPublic]:
    """Where notifications go, and how the last delivery went."""
    principal = authorize(request, Role.VIEWER)
    return [NotifierPublic.of(n) for n in alerts_of(request).notifier_statuses(principal.project_id)]


@router.post("/alertmanager", operation_id="receive_alertmanager")
def receive(request: Request, body: Annotated[dict[str, Any], Body()]) -> dict[str, int]:
    """Alertmanager's webhook: record Prometheus's alerts and act on `shipyard_action` labels."""
    principal = authorize(request, Role.EDITOR)
    payload = parse_payload(body)
    return receive_alertmanager(alerts_of(request), principal.project_id, payload.alerts, by=principal.key_name)


@router.get("/{alert_id}", operation_id="get_alert")
def get_alert(request: Request, alert_id: str) -> AlertPublic:
    principal = authorize(request, Role.VIEWER)
    return AlertPublic.of(alerts_of(request).get(principal.project_id, alert_id))

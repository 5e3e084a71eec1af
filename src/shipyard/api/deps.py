"""What every route needs first: the facade it uses, and the verified caller with a role check.

One small typed accessor per facade (`alerts_of(request)`), so a route depends on the facade it
uses, not on the whole platform. Plain functions called on the first line of a handler, not
FastAPI `Depends`: resolving even
one dependency cost ~9 µs a request, a seventh of an authenticated call's whole budget
(bench/api_overhead.py). `AuthMiddleware` has already verified the key for every /v1/ route;
`authorize` only reads the result and checks the role.
"""

from __future__ import annotations

from fastapi import Request

from shipyard.auth import AccessService, Principal, Role
from shipyard.errors import PermissionDenied, Unauthenticated
from shipyard.events import AuditLog, WebhookService
from shipyard.jobs import HandlerRegistry, JobService
from shipyard.knowledge import Embedder, KnowledgeService
from shipyard.knowledge.collections import CollectionService
from shipyard.knowledge.documents import DocumentService
from shipyard.knowledge.ingest import Ingester
from shipyard.knowledge.search import SearchService
from shipyard.llm import Gateway
from shipyard.llm.budgets import BudgetService
from shipyard.llm.service import ChatService
from shipyard.llm.tokens import TokenCounter
from shipyard.models import DeploymentService, ModelRegistry, ModelServer, PredictionLog
from shipyard.monitoring import MonitorService
from shipyard.monitoring.alerts import AlertService
from shipyard.platform import Platform
from shipyard.prompts import PromptService
from shipyard.rag import RagService
from shipyard.settings import Settings
from shipyard.store import Database
from shipyard.telemetry import Metrics, RequestLog
from shipyard.telemetry.traces import TraceStore


def access_of(request: Request) -> AccessService:
    platform: Platform = request.app.state.platform  # inlined: one call per request, as before
    return platform.access


def alerts_of(request: Request) -> AlertService:
    platform: Platform = request.app.state.platform
    return platform.alerts


def audit_of(request: Request) -> AuditLog:
    platform: Platform = request.app.state.platform
    return platform.audit


def budgets_of(request: Request) -> BudgetService:
    platform: Platform = request.app.state.platform
    return platform.budgets


def chat_of(request: Request) -> ChatService:
    platform: Platform = request.app.state.platform
    return platform.chat


def collections_of(request: Request) -> CollectionService:
    platform: Platform = request.app.state.platform
    return platform.collections


def database_of(request: Request) -> Database:
    platform: Platform = request.app.state.platform
    return platform.database


def deployments_of(request: Request) -> DeploymentService:
    platform: Platform = request.app.state.platform
    return platform.deployments


def documents_of(request: Request) -> DocumentService:
    platform: Platform = request.app.state.platform
    return platform.documents


def embedder_of(request: Request) -> Embedder:
    """The configured default embedder (SHIPYARD_EMBEDDER_URL)."""
    platform: Platform = request.app.state.platform
    return platform.embedder


def gateway_of(request: Request) -> Gateway:
    platform: Platform = request.app.state.platform
    return platform.gateway


def handlers_of(request: Request) -> HandlerRegistry:
    platform: Platform = request.app.state.platform
    return platform.handlers


def ingester_of(request: Request) -> Ingester:
    platform: Platform = request.app.state.platform
    return platform.ingester


def jobs_of(request: Request) -> JobService:
    platform: Platform = request.app.state.platform
    return platform.jobs


def knowledge_of(request: Request) -> KnowledgeService:
    platform: Platform = request.app.state.platform
    return platform.knowledge


def metrics_of(request: Request) -> Metrics:
    platform: Platform = request.app.state.platform
    return platform.metrics


def model_server_of(request: Request) -> ModelServer:
    platform: Platform = request.app.state.platform
    return platform.model_server


def monitors_of(request: Request) -> MonitorService:
    platform: Platform = request.app.state.platform
    return platform.monitors


def predictions_of(request: Request) -> PredictionLog:
    platform: Platform = request.app.state.platform
    return platform.predictions


def prompts_of(request: Request) -> PromptService:
    platform: Platform = request.app.state.platform
    return platform.prompts


def rag_of(request: Request) -> RagService:
    platform: Platform = request.app.state.platform
    return platform.rag


def registry_of(request: Request) -> ModelRegistry:
    platform: Platform = request.app.state.platform
    return platform.registry


def request_log_of(request: Request) -> RequestLog:
    platform: Platform = request.app.state.platform
    return platform.request_log


def search_of(request: Request) -> SearchService:
    platform: Platform = request.app.state.platform
    return platform.search


def settings_of(request: Request) -> Settings:
    platform: Platform = request.app.state.platform
    return platform.settings


def tokens_of(request: Request) -> TokenCounter:
    platform: Platform = request.app.state.platform
    return platform.tokens


def traces_of(request: Request) -> TraceStore:
    platform: Platform = request.app.state.platform
    return platform.traces


def webhooks_of(request: Request) -> WebhookService:
    platform: Platform = request.app.state.platform
    return platform.webhooks


def authorize(request: Request, role: Role) -> Principal:
    """The caller (verified by AuthMiddleware) if its key has at least `role`; else 401/403."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:  # only a route outside /v1/ can get here
        raise Unauthenticated("missing API key: send 'Authorization: Bearer <key>'")
    if not principal.role.allows(role):
        raise PermissionDenied(f"this needs the {role.value} role; the key has {principal.role.value}")
    return principal

"""LLM budgets: operators set them per project; every key can see its project's and their usage."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from shipyard.api.deps import access_of, authorize, budgets_of
from shipyard.api.routing import PrefixedRoute
from shipyard.api.schemas import ERROR_RESPONSES
from shipyard.auth import Role
from shipyard.ids import ProjectId
from shipyard.llm.budgets import BudgetSpec
from shipyard.schemas.budgets import BudgetPublic

router = APIRouter(route_class=PrefixedRoute, tags=["budgets"], responses=ERROR_RESPONSES)


@router.get("/v1/budgets", operation_id="list_budgets")
def list_budgets(request: Request) -> list[BudgetPublic]:
    """The caller's project's budgets with the usage of the current period."""
    principal = authorize(request, Role.VIEWER)
    return [BudgetPublic.of(b) for b in budgets_of(request).budgets(principal.project_id)]


@router.put("/v1/projects/{project}/budgets/{period}", operation_id="set_budget")
def set_budget(request: Request, project: str, period: str, body: BudgetSpec) -> BudgetPublic:
    """Create or change a project's daily or monthly LLM budget (admin)."""
    authorize(request, Role.ADMIN)
    project_id = ProjectId(access_of(request).get_project(project).id)
    budget = budgets_of(request).set(project_id, period, body)
    return BudgetPublic.of(budget)


@router.delete("/v1/projects/{project}/budgets/{period}", operation_id="delete_budget")
def delete_budget(request: Request, project: str, period: str) -> Response:
    authorize(request, Role.ADMIN)
    budgets_of(request).delete(ProjectId(access_of(request).get_project(project).id), period)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

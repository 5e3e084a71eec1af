"""LLM budgets: operators set them per project; every key can see its project's and their usage."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from shipyard.api.deps import access_of, authorize, budgets_of
from shipyard.api.schemas import ERROR_RESPONSES
from shipyard.auth import Role
from shipyard.ids import ProjectId
from shipyard.limits import StoreBigInt
from shipyard.schemas.budgets import BudgetPublic

router = APIRouter(tags=["budgets"], responses=ERROR_RESPONSES)


class BudgetSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_tokens: StoreBigInt | None = Field(default=None, description="Input + output tokens per period.")
    max_cost: float | None = Field(default=None, gt=0, description="Cost per period, in the price table's currency.")


@router.get("/v1/budgets", operation_id="list_budgets")
def list_budgets(request: Request) -> list[BudgetPublic]:
    """The caller's project's budgets with the usage of the current period."""
    principal = authorize(request, Role.VIEWER)
    return [BudgetPublic.of(b) for b in budgets_of(request).budgets(principal.project_id)]


@router.put("/v1/projects/{project}/budgets/{period}", operation_id="set_budget")
def set_budget(request: Request, project: str, period: str, body: BudgetSet) -> BudgetPublic:
    """Create or change a project's daily or monthly LLM budget (admin)."""
    authorize(request, Role.ADMIN)
    project_id = ProjectId(access_of(request).get_project(project).id)
    budget = budgets_of(request).set(project_id, period, max_tokens=body.max_tokens, max_cost=body.max_cost)
    return BudgetPublic.of(budget)


@router.delete("/v1/projects/{project}/budgets/{period}", operation_id="delete_budget")
def delete_budget(request: Request, project: str, period: str) -> Response:
    authorize(request, Role.ADMIN)
    budgets_of(request).delete(ProjectId(access_of(request).get_project(project).id), period)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

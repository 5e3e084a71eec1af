"""The prompt registry over HTTP: push versions, read them, move labels, diff, render."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from shipyard.api.deps import authorize, prompts_of
from shipyard.api.routing import PrefixedRoute
from shipyard.api.schemas import ERROR_RESPONSES
from shipyard.auth import Role
from shipyard.limits import StoreInt
from shipyard.prompts import PromptSpec
from shipyard.schemas.prompts import PromptSummaryPublic, PromptVersionPublic, RenderedPrompt

router = APIRouter(route_class=PrefixedRoute, prefix="/v1/prompts", tags=["prompts"], responses=ERROR_RESPONSES)


class LabelMove(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: StoreInt


class RenderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    variables: dict[str, Any] = Field(default_factory=dict)


@router.post("", operation_id="push_prompt", status_code=status.HTTP_201_CREATED)
def push_prompt(request: Request, response: Response, body: PromptSpec) -> PromptVersionPublic:
    """Store a new version (201), or return the newest one when its content is the same (200)."""
    principal = authorize(request, Role.EDITOR)
    version, created = prompts_of(request).push(principal.project_id, body, author=principal.key_name)
    if not created:
        response.status_code = status.HTTP_200_OK
    return PromptVersionPublic.of(version)


@router.get("", operation_id="list_prompts")
def list_prompts(request: Request) -> list[PromptSummaryPublic]:
    principal = authorize(request, Role.VIEWER)
    return [PromptSummaryPublic.of(s) for s in prompts_of(request).summaries(principal.project_id)]


@router.get("/{name}/versions", operation_id="list_prompt_versions")
def list_prompt_versions(request: Request, name: str) -> list[PromptVersionPublic]:
    """Every version, newest first."""
    principal = authorize(request, Role.VIEWER)
    return [PromptVersionPublic.of(v) for v in prompts_of(request).versions(principal.project_id, name)]


@router.get("/{name}/versions/{ref}", operation_id="get_prompt_version")
def get_prompt_version(request: Request, name: str, ref: str) -> PromptVersionPublic:
    """One version by number, label (`production`) or `latest`."""
    principal = authorize(request, Role.VIEWER)
    return PromptVersionPublic.of(prompts_of(request).get(principal.project_id, f"{name}@{ref}"))


@router.put("/{name}/labels/{label}", operation_id="set_prompt_label")
def set_prompt_label(request: Request, name: str, label: str, body: LabelMove) -> PromptVersionPublic:
    """Point a label at a version: this is how a prompt version goes to production (or back)."""
    principal = authorize(request, Role.EDITOR)
    prompts = prompts_of(request)
    return PromptVersionPublic.of(
        prompts.set_label(principal.project_id, name, label, body.version, by=principal.key_name)
    )


@router.get("/{name}/diff", operation_id="diff_prompt_versions", response_class=PlainTextResponse)
def diff_prompt_versions(
    request: Request, name: str, old: str = Query(alias="from"), new: str = Query(alias="to")
) -> str:
    """A unified diff between two versions (numbers or labels)."""
    principal = authorize(request, Role.VIEWER)
    return prompts_of(request).diff(principal.project_id, name, old, new)


@router.post("/{name}/versions/{ref}/render", operation_id="render_prompt")
async def render_prompt(request: Request, name: str, ref: str, body: RenderRequest) -> RenderedPrompt:
    """The messages a version produces for `variables` — what the model would be sent. Async: the
    service refuses a project with too many renders in progress before it takes a worker thread."""
    principal = authorize(request, Role.VIEWER)
    prompts = prompts_of(request)
    version, messages = await prompts.arender_ref(principal.project_id, f"{name}@{ref}", body.variables)
    return RenderedPrompt(prompt=version.ref, messages=[{"role": m.role, "content": m.content} for m in messages])

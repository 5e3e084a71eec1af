"""Prompt versions, as the API answers and `shipyard prompts … --json` prints them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from shipyard.prompts import PromptSummary, PromptVersion


class PromptVersionPublic(BaseModel):
    name: str
    version: int
    messages: list[dict[str, str]]
    model: str | None
    parameters: dict[str, Any]
    variables: dict[str, dict[str, Any]]
    commit_message: str | None
    author: str | None
    content_hash: str
    labels: list[str]
    created_at: Any

    @classmethod
    def of(cls, version: PromptVersion) -> PromptVersionPublic:
        return cls(
            **{k: getattr(version, k) for k in ("name", "version", "model", "parameters", "variables")},
            messages=[{"role": r, "content": c} for r, c in version.messages],
            commit_message=version.commit_message,
            author=version.author,
            content_hash=version.content_hash,
            labels=list(version.labels),
            created_at=version.created_at,
        )


class PromptSummaryPublic(BaseModel):
    name: str
    description: str | None
    latest_version: int
    labels: dict[str, int]
    updated_at: Any

    @classmethod
    def of(cls, summary: PromptSummary) -> PromptSummaryPublic:
        return cls(**vars(summary))


class RenderedPrompt(BaseModel):
    prompt: str
    messages: list[dict[str, str]]

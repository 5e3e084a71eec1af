"""What a prompt version holds, as pushed from a YAML file or the API.

    name: rag-answer
    description: Answer from retrieved passages and cite them.
    model: chat                      # optional: the gateway model this prompt is written for
    parameters: {temperature: 0.1, max_tokens: 400}
    variables:
      question: {type: string}
      passages: {type: array}
    messages:
      - role: system
        content: You answer only from the passages …
      - role: user
        content: "{{ question }}"
    message: first version           # the commit message

`template: "…"` may replace `messages` for a prompt that is one user message.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shipyard.errors import InvalidInput
from shipyard.names import check_name
from shipyard.prompts.rendering import check_template

HASH_PREFIX = "sha256:"  # content hashes say their algorithm, so it can change later


class VariableSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["string", "number", "integer", "boolean", "array", "object"] | None = None
    required: bool = True
    description: str | None = None


class MessageTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "developer", "user", "assistant"]
    content: str = Field(min_length=1)


class PromptParameters(BaseModel):
    model_config = ConfigDict(extra="allow")  # others go to the provider as they are

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None
    stop: list[str] | None = None


class PromptSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str | None = None
    model: str | None = None
    parameters: PromptParameters = Field(default_factory=PromptParameters)
    variables: dict[str, VariableSpec] = Field(default_factory=dict)
    messages: list[MessageTemplate] | None = None
    template: str | None = Field(default=None, min_length=1)
    message: str | None = Field(default=None, description="Commit message of this version.")

    @model_validator(mode="after")
    def _one_body(self) -> PromptSpec:
        if (self.messages is None) == (self.template is None):
            raise ValueError("give exactly one of `messages` (a list) or `template` (one user message)")
        return self

    def checked(self) -> PromptSpec:
        """The spec with its name and templates checked and every variable the templates read
        declared (as required, any type, unless declared otherwise). Raises `InvalidInput`."""
        check_name("prompt", self.name)
        used: set[str] = set()
        for index, message in enumerate(self.chat_messages()):
            used |= check_template(message.content, f"messages[{index}]")
        variables = dict(self.variables)
        for name in sorted(used - set(variables)):
            variables[name] = VariableSpec()
        return self.model_copy(update={"variables": variables})

    def chat_messages(self) -> list[MessageTemplate]:
        if self.messages is not None:
            return self.messages
        assert self.template is not None
        return [MessageTemplate(role="user", content=self.template)]

    def content(self) -> dict[str, Any]:
        """What makes a version: equal content → the same version."""
        return {
            "messages": [m.model_dump() for m in self.chat_messages()],
            "model": self.model,
            "parameters": self.parameters.model_dump(exclude_none=True),
            "variables": {k: v.model_dump(exclude_none=True) for k, v in sorted(self.variables.items())},
        }

    def content_hash(self) -> str:
        canonical = json.dumps(self.content(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return HASH_PREFIX + hashlib.sha256(canonical.encode()).hexdigest()


def parse_spec(data: Any, source: str) -> PromptSpec:
    """A `PromptSpec` from parsed YAML/JSON, or `InvalidInput` listing what is wrong."""
    from pydantic import ValidationError

    if not isinstance(data, dict):
        raise InvalidInput(f"{source}: a prompt is a mapping with name, messages or template, …")
    try:
        return PromptSpec.model_validate(data).checked()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'prompt'}: {e['msg']}" for e in exc.errors()[:5])
        raise InvalidInput(f"{source}: {problems}") from None

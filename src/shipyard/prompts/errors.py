"""Errors of the prompt registry."""

from __future__ import annotations

from shipyard.errors import InvalidInput, NotFound


class PromptNotFound(NotFound):
    code = "prompt_not_found"


class PromptRenderError(InvalidInput):
    """The variables given do not fit the prompt (missing, wrong type) or a template failed."""

    code = "prompt_render_error"

"""Errors of the prompt registry."""

from __future__ import annotations

from shipyard.errors import InvalidInput, NotFound, RateLimited


class PromptNotFound(NotFound):
    code = "prompt_not_found"


class PromptRenderError(InvalidInput):
    """The variables given do not fit the prompt (missing, wrong type), a template failed, or a
    render passed one of its limits (operations, time, size)."""

    code = "prompt_render_error"


class PromptRendersBusy(RateLimited):
    """The project already has as many renders in progress as it may have at once."""

    code = "prompt_renders_busy"

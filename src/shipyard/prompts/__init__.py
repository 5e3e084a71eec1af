"""The prompt registry: versioned, labelled prompt templates rendered in a sandbox."""

from shipyard.prompts.errors import PromptNotFound, PromptRenderError, PromptRendersBusy
from shipyard.prompts.service import DEFAULT_LABEL, PromptService, PromptSummary, PromptVersion, parse_ref
from shipyard.prompts.spec import PromptSpec, parse_spec

__all__ = [
    "DEFAULT_LABEL",
    "PromptNotFound",
    "PromptRenderError",
    "PromptRendersBusy",
    "PromptService",
    "PromptSpec",
    "PromptSummary",
    "PromptVersion",
    "parse_ref",
    "parse_spec",
]

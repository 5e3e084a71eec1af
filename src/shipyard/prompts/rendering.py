"""Prompt templates: Jinja2 in its immutable sandbox, strict about undefined variables.

The sandbox refuses access to Python internals (`__class__`, `__globals__`, …) and to methods
that mutate data, so a template pushed by one user cannot reach the server's objects. Undefined
variables raise instead of rendering as an empty string: a prompt silently missing its context is
worse than an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.nodes import Template
from jinja2.sandbox import ImmutableSandboxedEnvironment

from shipyard.errors import InvalidInput
from shipyard.prompts.errors import PromptRenderError

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
}
VARIABLE_TYPES = tuple(_TYPES)


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    # autoescape off: prompts are text for a model, not HTML; keep_trailing_newline keeps what the author wrote.
    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def check_template(text: str, where: str) -> set[str]:
    """The variables a template reads. Raises `InvalidInput` naming the line of a syntax error."""
    from jinja2 import meta

    try:
        parsed: Template = environment().parse(text)
    except TemplateSyntaxError as exc:
        raise InvalidInput(f"{where}: template error on line {exc.lineno}: {exc.message}") from None
    return set(meta.find_undeclared_variables(parsed))


def check_variables(declared: Mapping[str, Mapping[str, Any]], given: Mapping[str, Any], prompt: str) -> None:
    """Required variables present and of their declared type; else `PromptRenderError` naming them."""
    missing = sorted(name for name, spec in declared.items() if spec.get("required", True) and name not in given)
    if missing:
        raise PromptRenderError(f"prompt {prompt} needs variables: {', '.join(missing)}")
    for name, value in given.items():
        kind = declared.get(name, {}).get("type")
        if kind and not (
            isinstance(value, _TYPES[kind]) and not (kind in ("number", "integer") and isinstance(value, bool))
        ):
            raise PromptRenderError(f"prompt {prompt}: variable {name!r} must be a {kind}, got {type(value).__name__}")


def render(text: str, variables: Mapping[str, Any], prompt: str) -> str:
    try:
        return environment().from_string(text).render(**variables)
    except UndefinedError as exc:
        raise PromptRenderError(f"prompt {prompt}: {exc.message}") from None
    except SecurityError as exc:
        raise PromptRenderError(f"prompt {prompt}: the template tried something the sandbox forbids: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a template's own runtime error (bad filter argument, …)
        raise PromptRenderError(f"prompt {prompt}: the template failed: {type(exc).__name__}: {exc}") from None

"""Prompt templates: Jinja2 in a bounded immutable sandbox, strict about undefined variables.

The sandbox refuses access to Python internals (`__class__`, `__globals__`, …) and to methods
that mutate data, so a template pushed by one user cannot reach the server's objects. Undefined
variables raise instead of rendering as an empty string: a prompt silently missing its context is
worse than an error.

Templates are tenant-supplied, so what one render may cost is bounded too (budget.py, sandbox.py):
at most `MAX_OPERATIONS` loop iterations, calls, filters and operators, `MAX_SECONDS` of wall time
and `MAX_CHARS` of output, with no single value larger than that; a template has at most
`MAX_TEMPLATE_CHARS`. Every render of a tenant template goes through `render`, and `RenderSlots`
lets at most `MAX_RENDERS_PER_PROJECT` renders of one project run at once, so one project cannot
fill the shared worker threads with slow renders.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, cast

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError

from shipyard.errors import InvalidInput
from shipyard.prompts.budget import CURRENT, MAX_CHARS, MAX_SECONDS, Budget, RenderLimitExceeded
from shipyard.prompts.errors import PromptRenderError, PromptRendersBusy
from shipyard.prompts.sandbox import BoundedSandbox

# Compiling costs 5-13 µs a character of tag-dense template (measured; plain text is far cheaper),
# so this bounds one compile, done once per process (compiled templates are cached), to about a
# second. Prompts are far smaller: the shipped rag-answer is 1,300 characters.
MAX_TEMPLATE_CHARS = 100_000
# The API runs sync routes on 40 worker threads (anyio's default): one project's renders may hold
# at most a tenth of them, each for at most MAX_SECONDS. Normal renders take about a millisecond.
MAX_RENDERS_PER_PROJECT = 4
# Compiled templates kept per process, by text: the versions in use, not every version. A compiled
# template of the largest size keeps ~1 MB, a typical prompt a few KB.
COMPILED_CACHE_SIZE = 128

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
def environment() -> BoundedSandbox:
    # autoescape off: prompts are text for a model, not HTML; keep_trailing_newline keeps what the author wrote.
    return BoundedSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def check_template(text: str, where: str) -> set[str]:
    """The variables a template reads. Raises `InvalidInput` naming the line of a syntax error,
    or when the template is longer than `MAX_TEMPLATE_CHARS`."""
    from jinja2 import meta

    if len(text) > MAX_TEMPLATE_CHARS:
        raise InvalidInput(f"{where}: the template has {len(text)} characters; at most {MAX_TEMPLATE_CHARS} (limit)")
    try:
        parsed = environment().parse(text)
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


def render(templates: Sequence[str], variables: Mapping[str, Any], prompt: str) -> list[str]:
    """Each template rendered with `variables`, all within one render's limits (operations, time,
    output: see the module docstring). Raises `PromptRenderError` naming the limit or the failure."""
    token = CURRENT.set(Budget(deadline=time.monotonic() + MAX_SECONDS))
    try:
        return [_render(index, text, variables) for index, text in enumerate(templates)]
    except RenderLimitExceeded as exc:
        raise PromptRenderError(f"prompt {prompt}: {exc}") from None
    except UndefinedError as exc:
        raise PromptRenderError(f"prompt {prompt}: {exc.message}") from None
    except SecurityError as exc:
        raise PromptRenderError(f"prompt {prompt}: the template tried something the sandbox forbids: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a template's own runtime error (bad filter argument, …)
        raise PromptRenderError(f"prompt {prompt}: the template failed: {type(exc).__name__}: {exc}") from None
    finally:
        CURRENT.reset(token)


def _render(index: int, text: str, variables: Mapping[str, Any]) -> str:
    if len(text) > MAX_TEMPLATE_CHARS:  # stored before the limit existed
        raise RenderLimitExceeded(f"messages[{index}] has {len(text)} characters; at most {MAX_TEMPLATE_CHARS} (limit)")
    budget = CURRENT.get()
    assert budget is not None
    parts: list[str] = []
    stream = cast(Generator[str, None, None], _compiled(text).generate(variables))
    try:
        for part in stream:  # stop as soon as the output passes its limit
            budget.output += len(part)
            if budget.output > MAX_CHARS:
                budget.add_output(0)  # raises, naming the limit
            parts.append(part)
    finally:
        stream.close()
    return "".join(parts)


@lru_cache(maxsize=COMPILED_CACHE_SIZE)
def _compiled(text: str) -> Template:
    return environment().from_string(text)


class RenderSlots:
    """At most `per_project` renders of one project in progress at once, in this process; one more
    is refused with `PromptRendersBusy` (429) instead of waiting for a worker thread."""

    def __init__(self, per_project: int = MAX_RENDERS_PER_PROJECT) -> None:
        if per_project < 1:
            raise ValueError(f"per_project must be >= 1, got {per_project}")
        self._per_project = per_project
        self._lock = threading.Lock()
        self._busy: dict[str, int] = {}

    @contextmanager
    def hold(self, project_id: str) -> Iterator[None]:
        with self._lock:
            busy = self._busy.get(project_id, 0)
            if busy >= self._per_project:
                raise PromptRendersBusy(
                    f"this project already has {busy} prompt renders in progress, the most it may have at "
                    "once (limit); retry in a moment",
                    retry_after=1,
                )
            self._busy[project_id] = busy + 1
        try:
            yield
        finally:
            with self._lock:
                self._busy[project_id] -= 1
                if not self._busy[project_id]:
                    del self._busy[project_id]

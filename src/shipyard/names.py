"""The naming rule for user-chosen names that appear in URLs and CLI arguments (projects,
collections, …): lowercase letters, digits, '-' and '_', starting with a letter or digit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from shipyard.errors import InvalidInput

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def check_name(kind: str, name: str) -> str:
    """`name` if it follows the rule; else InvalidInput saying the rule (and at most 80
    characters of the name: a body may send megabytes of it)."""
    if not _NAME.fullmatch(name):  # not `match`: its `$` also matches before a final newline
        shown = repr(name) if len(name) <= 80 else f"{name[:80]!r}…"
        raise InvalidInput(
            f"invalid {kind} name {shown}: use 1-64 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class Named:
    """The naming rule as a pydantic annotation: `name: Annotated[str, Named("project")]`.

    A request body's name is refused by `check_name` itself (its words, a 400), so the API says
    what the service and the CLI say; the JSON schema shows the rule as a `pattern`."""

    kind: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(lambda name: check_name(self.kind, name), handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {**handler(schema), "pattern": _NAME.pattern}

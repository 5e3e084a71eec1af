"""Metadata filters: `{"field": value | {"$in": [...]} | {"$gte": x, "$lte": y} | ...}`.

Conditions on different fields are ANDed. Operators: `$eq`, `$ne`, `$in`, `$nin`, `$gt`, `$gte`,
`$lt`, `$lte`; a bare value means `$eq`. Ranges compare numbers with numbers and strings with
strings (ISO dates sort correctly as strings). Besides metadata keys, `document_id`, `title` and
`source` can be filtered. A field no document in the collection has is an error, not an empty
result: a typo should not look like "nothing matched".

This module only checks a filter's shape. Each adapter evaluates the conditions itself: the
embedded store on numpy columns built once per index (`memory.DocumentFields`), pgvector as SQL
over the documents table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard.errors import InvalidInput
from shipyard.knowledge.types import BUILTIN_FIELDS, OPERATORS, RANGE_OPERATORS, Condition

__all__ = ["BUILTIN_FIELDS", "Condition", "parse_filter"]

_RANGE = RANGE_OPERATORS
_OPERATORS = OPERATORS
Scalar = str | int | float | bool


def parse_filter(spec: Mapping[str, Any] | None) -> list[Condition]:
    """Validate a filter's shape (fields are checked against a collection later)."""
    if not spec:
        return []
    if not isinstance(spec, Mapping):
        raise InvalidInput("filter must be an object mapping field names to conditions")
    conditions = []
    for field, condition in spec.items():
        if isinstance(condition, Mapping):
            if not condition:
                raise InvalidInput(f"filter on {field!r} is an empty object; use one of {', '.join(_OPERATORS)}")
            for operator, value in condition.items():
                conditions.append(_condition(field, operator, value))
        else:
            conditions.append(_condition(field, "$eq", condition))
    return conditions


def _condition(field: str, operator: str, value: Any) -> Condition:
    if operator not in _OPERATORS:
        raise InvalidInput(f"unknown filter operator {operator!r} on {field!r}; use one of {', '.join(_OPERATORS)}")
    if operator in ("$in", "$nin"):
        if not isinstance(value, list) or not value:
            raise InvalidInput(f"{operator} on {field!r} needs a non-empty list of values")
        if not all(isinstance(v, Scalar) for v in value):
            raise InvalidInput(f"{operator} on {field!r} takes strings, numbers or booleans")
    elif operator in _RANGE:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise InvalidInput(f"{operator} on {field!r} needs a number or a string")
    elif not isinstance(value, Scalar):
        raise InvalidInput(f"{operator} on {field!r} needs a string, number or boolean")
    return Condition(field, operator, value)

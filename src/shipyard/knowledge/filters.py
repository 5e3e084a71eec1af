"""Metadata filters: `{"field": value | {"$in": [...]} | {"$gte": x, "$lte": y} | ...}`.

Conditions on different fields are ANDed. Operators: `$eq`, `$ne`, `$in`, `$nin`, `$gt`, `$gte`,
`$lt`, `$lte`; a bare value means `$eq`. Ranges compare numbers with numbers and strings with
strings (ISO dates sort correctly as strings). Besides metadata keys, `document_id`, `title` and
`source` can be filtered. A field no document in the collection has is an error, not an empty
result: a typo should not look like "nothing matched".

Filters are evaluated per document on columns built once per index, with numpy: a filter over
100k documents costs a few vectorised comparisons, not a Python loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shipyard.errors import InvalidInput

BUILTIN_FIELDS = ("document_id", "title", "source")
_RANGE = ("$gt", "$gte", "$lt", "$lte")
_OPERATORS = ("$eq", "$ne", "$in", "$nin", *_RANGE)
Scalar = str | int | float | bool


@dataclass(frozen=True)
class Condition:
    field: str
    operator: str
    value: Any


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


class _Column:
    """One field over all documents: raw values, numeric view and string view."""

    def __init__(self, values: Sequence[Any]) -> None:
        self.values = np.empty(len(values), dtype=object)
        self.values[:] = list(values)
        numeric = [v if isinstance(v, int | float) and not isinstance(v, bool) else np.nan for v in values]
        self.numbers = np.asarray(numeric, dtype=np.float64)
        self.is_string = np.asarray([isinstance(v, str) for v in values], dtype=bool)
        self.strings = np.asarray([v if isinstance(v, str) else "" for v in values], dtype=str)

    def equals(self, value: Scalar) -> NDArray[np.bool_]:
        if isinstance(value, bool):
            return np.asarray([v is value for v in self.values], dtype=bool)
        if isinstance(value, int | float):
            return np.asarray(self.numbers == value, dtype=bool)
        return np.asarray(self.is_string & (self.strings == value), dtype=bool)

    def compare(self, operator: str, value: float | str) -> NDArray[np.bool_]:
        if isinstance(value, str):
            left: NDArray[Any] = self.strings
            present = self.is_string
        else:
            left, present = self.numbers, ~np.isnan(self.numbers)
        with np.errstate(invalid="ignore"):
            result = {
                "$gt": lambda: left > value,
                "$gte": lambda: left >= value,
                "$lt": lambda: left < value,
                "$lte": lambda: left <= value,
            }[operator]()
        return np.asarray(result & present, dtype=bool)


class DocumentFields:
    """Filterable fields of a collection's documents, in index order."""

    def __init__(self, documents: Sequence[Mapping[str, Any]]) -> None:
        keys = sorted({key for doc in documents for key in doc})
        self._init(len(documents), {key: [doc.get(key) for doc in documents] for key in keys})

    @classmethod
    def from_columns(cls, count: int, columns: Mapping[str, Sequence[Any]]) -> DocumentFields:
        """Rebuild from `columns()` (a saved index)."""
        fields = cls.__new__(cls)
        fields._init(count, columns)
        return fields

    def _init(self, count: int, columns: Mapping[str, Sequence[Any]]) -> None:
        self.count = count
        self._columns = {key: _Column(values) for key, values in sorted(columns.items())}

    def columns(self) -> dict[str, list[Any]]:
        """Every field's values in document order (JSON-able: strings, numbers, booleans, None)."""
        return {key: column.values.tolist() for key, column in self._columns.items()}

    @property
    def names(self) -> list[str]:
        return list(self._columns)

    def mask(self, conditions: Sequence[Condition]) -> NDArray[np.bool_] | None:
        """Which documents pass every condition; None when there are no conditions."""
        if not conditions:
            return None
        result = np.ones(self.count, dtype=bool)
        for condition in conditions:
            column = self._columns.get(condition.field)
            if column is None:
                if self.count == 0:
                    return np.zeros(0, dtype=bool)
                known = ", ".join(self.names)
                raise InvalidInput(f"unknown filter field {condition.field!r}; fields in this collection: {known}")
            result &= _evaluate(column, condition)
        return result


def _evaluate(column: _Column, condition: Condition) -> NDArray[np.bool_]:
    operator, value = condition.operator, condition.value
    if operator == "$eq":
        return column.equals(value)
    if operator == "$ne":
        return ~column.equals(value)
    if operator in ("$in", "$nin"):
        hit = np.zeros(len(column.values), dtype=bool)
        for item in value:
            hit |= column.equals(item)
        return hit if operator == "$in" else ~hit
    return column.compare(operator, value)

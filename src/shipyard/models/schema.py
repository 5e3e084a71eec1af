"""A model's input signature, and turning protocol payloads into a checked DataFrame.

Every protocol (Open Inference v2, MLflow scoring, KServe V1) ends here, so a wrong column, type or
shape is the same 400 naming it, whatever the client spoke. Checking is strict where MLflow's
own enforcement is lenient: an unknown column is an error (it is usually a typo), and a number
is never accepted as a string or the other way round.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.models.errors import InvalidPayload

if TYPE_CHECKING:
    import pandas as pd

_FLOATS = {"double": "float64", "float": "float32"}
_INTEGERS = {"long": "int64", "integer": "int32"}
# OIP v2 tensor datatypes a column type accepts.
OIP_TYPES = {
    "double": {"FP64", "FP32", "FP16", "INT64", "INT32", "INT16", "INT8", "UINT64", "UINT32", "UINT16", "UINT8"},
    "float": {"FP32", "FP16", "FP64", "INT32", "INT16", "INT8", "UINT16", "UINT8"},
    "long": {"INT64", "INT32", "INT16", "INT8", "UINT32", "UINT16", "UINT8"},
    "integer": {"INT32", "INT16", "INT8", "UINT16", "UINT8"},
    "boolean": {"BOOL"},
    "string": {"BYTES"},
    "datetime": {"BYTES"},
}
TO_OIP = {
    "double": "FP64",
    "float": "FP32",
    "long": "INT64",
    "integer": "INT32",
    "boolean": "BOOL",
    "string": "BYTES",
    "datetime": "BYTES",
    "binary": "BYTES",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # MLflow's: double, float, long, integer, boolean, string, datetime, binary
    required: bool = True


@dataclass(frozen=True)
class InputSchema:
    """The columns a model takes; empty when the model was logged without a signature."""

    columns: tuple[Column, ...] = ()

    @classmethod
    def of(cls, model: Any) -> InputSchema:
        """The column-based input schema of an MLflow pyfunc model (tensor signatures: none)."""
        schema = model.metadata.get_input_schema()
        if schema is None or not schema.has_input_names() or schema.is_tensor_spec():
            return cls()
        return cls(tuple(Column(c.name, str(c.type.name), bool(c.required)) for c in schema.inputs))

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def from_columns(self, data: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
        """A DataFrame from `{column: [values]}`, checked against the signature."""
        import pandas as pd

        lengths = {len(values) for values in data.values()}
        if len(lengths) > 1:
            sizes = ", ".join(f"{name}: {len(values)}" for name, values in data.items())
            raise InvalidPayload(f"columns have different numbers of rows ({sizes})")
        if not self.columns:
            return pd.DataFrame({name: list(values) for name, values in data.items()})
        unknown = [name for name in data if name not in {c.name for c in self.columns}]
        if unknown:
            raise InvalidPayload(f"unknown column {unknown[0]!r}; the model takes: {', '.join(self.names)}")
        frame: dict[str, Any] = {}
        rows = lengths.pop() if lengths else 0
        for column in self.columns:
            if column.name not in data:
                if column.required:
                    raise InvalidPayload(f"missing column {column.name!r}; the model takes: {', '.join(self.names)}")
                continue
            frame[column.name] = _coerce(column, data[column.name])
        if rows == 0:
            raise InvalidPayload("no rows to predict")
        # Plain-object column labels: pandas 3 would make them Arrow strings, which scikit-learn's
        # feature-name check converts back on every call.
        return pd.DataFrame(frame, columns=pd.Index(list(frame), dtype=object))

    def from_records(self, records: Sequence[Any]) -> pd.DataFrame:
        """A DataFrame from `[{column: value}, …]`, or `[[v1, v2, …], …]` in signature order."""
        if not isinstance(records, list) or not records:
            raise InvalidPayload("expected a non-empty list of rows")
        if all(isinstance(r, dict) for r in records):
            names = list(dict.fromkeys(k for r in records for k in r))
            return self.from_columns({n: [r.get(n) for r in records] for n in names})
        if all(isinstance(r, list) for r in records):
            if not self.columns:
                raise InvalidPayload("rows given as lists need a model with a signature; send {column: value} rows")
            width = len(self.columns)
            bad = next((i for i, r in enumerate(records) if len(r) != width), None)
            if bad is not None:
                raise InvalidPayload(
                    f"row {bad} has {len(records[bad])} values; the model takes {width}: {', '.join(self.names)}"
                )
            return self.from_columns({c.name: [r[i] for r in records] for i, c in enumerate(self.columns)})
        raise InvalidPayload("rows must all be objects ({column: value}) or all be lists")


def _coerce(column: Column, values: Sequence[Any]) -> Any:
    """Check every value's JSON type against the column's, and return a typed numpy array."""
    kind = column.type
    if kind in _FLOATS or kind in _INTEGERS:
        for i, value in enumerate(values):
            if type(value) not in (int, float) and not isinstance(value, (np.integer, np.floating)):
                raise InvalidPayload(_wrong(column, i, value))
        array = np.asarray(values, dtype="float64")
        if kind in _INTEGERS:
            if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
                i = int(np.flatnonzero(~np.isfinite(array) | (array != np.round(array)))[0])
                raise InvalidPayload(_wrong(column, i, values[i]))
            return array.astype(_INTEGERS[kind])
        return array.astype(_FLOATS[kind], copy=False)
    if kind == "boolean":
        for i, value in enumerate(values):
            if type(value) is not bool:
                raise InvalidPayload(_wrong(column, i, value))
        return np.asarray(values, dtype=bool)
    if kind in ("string", "datetime"):
        for i, value in enumerate(values):
            if not isinstance(value, str) and not (value is None and not column.required):
                raise InvalidPayload(_wrong(column, i, value))
        if kind == "datetime":
            import pandas as pd

            try:
                return pd.to_datetime(list(values))
            except (ValueError, TypeError) as exc:
                raise InvalidPayload(f"column {column.name!r} expects datetime strings: {exc}") from None
        return np.asarray(values, dtype=object)
    return list(values)


def _wrong(column: Column, row: int, value: Any) -> str:
    shown = "NaN" if isinstance(value, float) and math.isnan(value) else repr(value)
    return f"column {column.name!r} expects {column.type}, got {shown} (row {row})"

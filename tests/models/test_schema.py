"""Payload checking against a model signature: every mistake names its column."""

from __future__ import annotations

import pytest

from shipyard.models.errors import InvalidPayload
from shipyard.models.schema import Column, InputSchema

SCHEMA = InputSchema((Column("hr", "long"), Column("temp", "double"), Column("city", "string"),
                      Column("holiday", "boolean"), Column("note", "string", required=False)))  # fmt: skip


def test_records_and_columns_give_typed_frames() -> None:
    frame = SCHEMA.from_records([{"hr": 8, "temp": 0.5, "city": "dc", "holiday": False}])
    assert list(frame.columns) == ["hr", "temp", "city", "holiday"]
    assert str(frame["hr"].dtype) == "int64" and str(frame["temp"].dtype) == "float64"
    positional = SCHEMA.from_records([[8, 1, "dc", True, "x"]])
    assert positional["temp"].tolist() == [1.0] and positional["note"].tolist() == ["x"]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"hr": 8, "temp": 0.5, "city": "dc", "holiday": False, "tmep": 1}], "unknown column 'tmep'"),
        ([{"hr": 8, "city": "dc", "holiday": False}], "missing column 'temp'"),
        ([{"hr": 8.5, "temp": 0.5, "city": "dc", "holiday": False}], "'hr' expects long, got 8.5"),
        ([{"hr": "8", "temp": 0.5, "city": "dc", "holiday": False}], "'hr' expects long, got '8'"),
        ([{"hr": 8, "temp": True, "city": "dc", "holiday": False}], "'temp' expects double, got True"),
        ([{"hr": 8, "temp": 0.5, "city": 3, "holiday": False}], "'city' expects string, got 3"),
        ([{"hr": 8, "temp": 0.5, "city": "dc", "holiday": 0}], "'holiday' expects boolean, got 0"),
        ([{"hr": 8, "temp": float("nan"), "city": "dc", "holiday": False}, {"hr": float("inf")}], "'hr' expects long"),
        ([[8, 0.5]], "row 0 has 2 values; the model takes 5"),
        ([], "non-empty list of rows"),
        ([{"hr": 1}, [1]], "all be objects"),
    ],
)
def test_mistakes_name_the_column(rows: list[object], message: str) -> None:
    with pytest.raises(InvalidPayload, match=message.replace("(", r"\(").replace(")", r"\)")):
        SCHEMA.from_records(rows)


def test_columns_of_different_lengths_are_refused() -> None:
    with pytest.raises(InvalidPayload, match="different numbers of rows"):
        SCHEMA.from_columns({"hr": [1, 2], "temp": [0.1]})

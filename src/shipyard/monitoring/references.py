"""What a monitor compares its current window with, and the durations monitors are written in."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from shipyard.errors import InvalidInput

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: str | float) -> int:
    """Seconds from `90`, `90s`, `15m`, `1h`, `7d` or `2w`."""
    if isinstance(value, int | float):
        return int(value)
    match = _DURATION.match(value)
    if not match:
        raise InvalidInput(f"invalid duration {value!r}: use a number of seconds or e.g. 15m, 1h, 7d")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def format_duration(seconds: int) -> str:
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class Reference:
    """What the current window is compared with: a model version's training data, a fixed window
    of the target's own traffic, or the window just before the current one (`previous`)."""

    source: Literal["training", "window", "previous"] = "training"
    version: int | None = None  # training: this version's data; None = the version served at run time
    start: datetime | None = None  # window: the deployment's traffic in [start, end)
    end: datetime | None = None

    def checked(self) -> Reference:
        if self.source == "training":
            if self.start or self.end:
                raise InvalidInput("a training reference takes no start/end (that is a window reference)")
        elif self.source == "previous":
            if self.version is not None or self.start or self.end:
                raise InvalidInput("a previous reference takes no version, start or end")
        elif self.source == "window":
            if self.start is None or self.end is None:
                raise InvalidInput("a window reference needs a start and an end")
            if self.start.tzinfo is None or self.end.tzinfo is None:
                raise InvalidInput("the reference window's start and end need a time zone (e.g. Z or +00:00)")
            if self.start >= self.end:
                raise InvalidInput("a window reference needs start < end")
        else:
            raise InvalidInput(f"reference source must be 'training', 'window' or 'previous', got {self.source!r}")
        return self

    @classmethod
    def parse(cls, text: str) -> Reference:
        """`training`, `training:3` (version 3's data), `window:START/END` (ISO 8601 times) or
        `previous` (the window before the current one)."""
        kind, _, rest = text.partition(":")
        if text == "previous":
            return cls("previous").checked()
        if kind == "training":
            if rest and not rest.isdigit():
                raise InvalidInput(f"invalid reference {text!r}: use training or training:VERSION")
            return cls("training", int(rest) if rest else None).checked()
        if kind == "window":
            start, _, end = rest.partition("/")
            try:
                return cls("window", start=_aware(start), end=_aware(end)).checked()
            except ValueError:
                raise InvalidInput(f"invalid reference {text!r}: use window:START/END with ISO 8601 times") from None
        raise InvalidInput(f"invalid reference {text!r}: use training, training:VERSION, window:START/END or previous")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reference:
        if set(data) - {"source", "version", "start", "end"}:
            raise InvalidInput("reference takes source, version, start and end")
        start, end = data.get("start"), data.get("end")
        try:
            return cls(
                source=data.get("source", "training"),
                version=int(data["version"]) if data.get("version") is not None else None,
                start=_aware(start) if isinstance(start, str) else start,
                end=_aware(end) if isinstance(end, str) else end,
            ).checked()
        except ValueError as exc:
            raise InvalidInput(f"invalid reference: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"source": self.source}
        if self.version is not None:
            data["version"] = self.version
        if self.start is not None and self.end is not None:
            data["start"], data["end"] = self.start.isoformat(), self.end.isoformat()
        return data

    def __str__(self) -> str:
        if self.source == "previous":
            return "previous"
        if self.source == "window":
            return f"window:{self.start.isoformat() if self.start else ''}/{self.end.isoformat() if self.end else ''}"
        return "training" if self.version is None else f"training:{self.version}"


def _aware(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone (add Z or +00:00)")
    return value

"""What a monitor compares its current window with, and the durations monitors are written in.

Every duration a tenant writes — a monitor's window and schedule, a silence, an alert rule's
window, `for` and `hold` — goes through `parse_duration`, which bounds it to 400 days: a value it
returns can be added to or subtracted from now, stored in a 32-bit integer column and shown again,
so no later `timedelta` or `datetime` arithmetic can overflow (a 500) and no schedule can be put
centuries away (a monitor that silently never runs again).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from shipyard.errors import InvalidInput
from shipyard.limits import INT_MAX

# One number and an optional unit, nothing else; the text is stripped first, so no two adjacent
# `\s*` can split the same run of spaces (which made the old pattern quadratic on long input).
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([smhdw]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# The longest durations anything uses are a drift monitor's window (90 d), a silence (30 d) and the
# SLO budget (30 d); 400 days leaves room for a yearly window and is far from datetime's limits
# (year 1 … 9999) and from 2**31 seconds (68 years: the Integer columns holding windows).
MAX_DURATION_SECONDS = 400 * 86400
# No duration is written in more characters than this ("34560000s" is 9); longer text is refused
# before any pattern looks at it.
_MAX_DURATION_TEXT = 32
# MLflow stores model versions as 32-bit integers, as the store's INTEGER columns do.
MAX_VERSION = INT_MAX


def parse_duration(value: str | float) -> int:
    """Whole seconds from `90`, `90s`, `15m`, `1h`, `7d` or `2w`: from 0 up to 400 days.

    Raises InvalidInput for anything else — not a number and a unit, negative, not finite, or
    longer than 400 days (MAX_DURATION_SECONDS) — so callers can do date arithmetic with the result.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float) or _nan(value):
        raise InvalidInput(f"invalid duration {value!r}: use a number of seconds or e.g. 15m, 1h, 7d")
    if isinstance(value, str):
        text = value.strip()
        match = _DURATION.fullmatch(text) if len(text) <= _MAX_DURATION_TEXT else None
        if not match:
            shown = value if len(value) <= _MAX_DURATION_TEXT else value[:_MAX_DURATION_TEXT] + "…"
            raise InvalidInput(f"invalid duration {shown!r}: use a number of seconds or e.g. 15m, 1h, 7d")
        seconds: float = float(match.group(1)) * _UNITS[match.group(2)]
    else:  # a bare number of seconds (an int may have any number of digits: compare, never convert)
        seconds, text = value, f"{value:.15g}" if abs(value) < 1e15 else "that many seconds"
    if not (0 <= seconds <= MAX_DURATION_SECONDS):
        raise InvalidInput(f"duration {text} is out of range: use 0 s up to 400 days (e.g. 15m, 1h, 30d)")
    return int(seconds)


def _nan(value: str | float) -> bool:
    return isinstance(value, float) and math.isnan(value)


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

    def bounded(self) -> Reference:
        """Check what a new reference must also be (stored ones are read as they are): a version
        MLflow can hold, and times that exist in UTC (how the store compares them)."""
        if self.version is not None and not 1 <= self.version <= MAX_VERSION:
            raise InvalidInput(f"the reference version is out of range: model versions run from 1 to {MAX_VERSION}")
        for moment in (self.start, self.end):
            if moment is not None:
                _utc(moment)
        return self

    @classmethod
    def parse(cls, text: str) -> Reference:
        """`training`, `training:3` (version 3's data), `window:START/END` (ISO 8601 times) or
        `previous` (the window before the current one)."""
        kind, _, rest = text.partition(":")
        if text == "previous":
            return cls("previous").checked()
        if kind == "training":
            if rest and not (rest.isascii() and rest.isdigit() and len(rest) <= len(str(MAX_VERSION))):
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


def _utc(moment: datetime) -> datetime:
    """`moment` in UTC (how the store keeps times); InvalidInput for a time whose UTC equivalent
    falls outside the years 1 … 9999 (e.g. 9999-12-31T23:00-05:00)."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"{moment.isoformat()} is out of range: use a time in the years 1 to 9999 UTC") from None

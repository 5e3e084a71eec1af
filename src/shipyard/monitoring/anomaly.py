"""Anomaly detection on one operational time series (latency, error rate, cost, volume), online.

The detector asks of every new value: *has this series ever been here before?* Values are cut
into levels (the range of the first `warmup` values in `levels` equal bins, extended without
limit on both sides); a value in a level never seen, or — once the series has a long history — a
move between two coarse levels never seen, is new behaviour. That is what operators label as an
anomaly in the Numenta Anomaly Benchmark's AWS CloudWatch and traffic series: a CPU climbing to a
level it never reached, a request count falling to one it never fell to, a new kind of swing. The
idea is CAD OSE's (the best published NAB detector on these series): context novelty on
discretised values. After a flag, the detector stays quiet for `cooldown` rows: one incident is
one alert, not fifty.

It is online by construction: the score of a row depends only on that row and the rows before it.
One configuration serves every series (bench/nab.py scores it; docs/operations.md has the numbers).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DetectorConfig:
    levels: int = 10  # value levels across the warm-up range
    warmup: int = 250  # rows that set the range; never flagged
    transition_levels: int = 4  # coarser levels for moves between levels
    transition_warmup: int = 1500  # rows before a new move may be flagged (it takes long to see them all)
    cooldown: int = 100  # rows of quiet after a flag


@dataclass(frozen=True)
class Point:
    score: float  # 1.0: a level never seen; 0.5: a move never seen; 0.0: seen before (or warming up)
    anomaly: bool  # flagged: a score above zero outside the cooldown after the previous flag
    reason: str | None  # "new level", "new move", or None


@dataclass
class AnomalyDetector:
    """Feed values in time order with `update`; keeps a few sets of what it has seen."""

    config: DetectorConfig = field(default_factory=DetectorConfig)
    _warm: list[float] = field(default_factory=list)
    _low: float = 0.0
    _width: float = 1.0
    _coarse_width: float = 1.0
    _levels: set[int] = field(default_factory=set)
    _moves: set[tuple[int, int]] = field(default_factory=set)
    _previous: int | None = None
    _rows: int = 0
    _last_flag: int | None = None

    def update(self, value: float) -> Point:
        """Score the next value. Missing and infinite values score 0 and change nothing."""
        if not math.isfinite(value):
            self._rows += 1
            return Point(0.0, False, None)
        config = self.config
        row = self._rows
        self._rows += 1
        if row < config.warmup:
            self._warm.append(value)
            if row == config.warmup - 1:
                self._calibrate()
            return Point(0.0, False, None)
        if self._warm:  # fewer finite values than the warm-up (missing ones): calibrate now
            self._calibrate()
        level = math.floor((value - self._low) / self._width)
        coarse = math.floor((value - self._low) / self._coarse_width)
        score, reason = 0.0, None
        if level not in self._levels:
            self._levels.add(level)
            score, reason = 1.0, "new level"
        if self._previous is not None and (move := (self._previous, coarse)) not in self._moves:
            self._moves.add(move)
            if score == 0.0 and row >= config.transition_warmup:
                score, reason = 0.5, "new move"
        self._previous = coarse
        quiet = self._last_flag is not None and row - self._last_flag < config.cooldown
        flagged = score > 0 and not quiet
        if flagged:
            self._last_flag = row
        return Point(score, flagged, reason)

    def to_dict(self) -> dict[str, Any]:
        """The detector's whole state as JSON-able data (alert rules keep it between evaluations)."""
        return {
            "warm": self._warm,
            "low": self._low,
            "width": self._width,
            "coarse_width": self._coarse_width,
            "levels": sorted(self._levels),
            "moves": sorted([a, b] for a, b in self._moves),
            "previous": self._previous,
            "rows": self._rows,
            "last_flag": self._last_flag,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], config: DetectorConfig | None = None) -> AnomalyDetector:
        detector = cls(config or DetectorConfig())
        detector._warm = [float(v) for v in data["warm"]]
        detector._low, detector._width = float(data["low"]), float(data["width"])
        detector._coarse_width = float(data["coarse_width"])
        detector._levels = {int(v) for v in data["levels"]}
        detector._moves = {(int(a), int(b)) for a, b in data["moves"]}
        detector._previous = data["previous"]
        detector._rows, detector._last_flag = int(data["rows"]), data["last_flag"]
        return detector

    def _calibrate(self) -> None:
        """Set the levels from the warm-up values and mark those values (and moves) as seen."""
        values, self._warm = self._warm, []
        config = self.config
        self._low = min(values) if values else 0.0
        span = (max(values) - self._low) if values else 0.0
        # A constant warm-up still needs a scale: a hundredth of the value, or 1.
        span = span or (abs(self._low) / 100 or 1.0)
        self._width = span / config.levels
        self._coarse_width = span / config.transition_levels
        for value in values:
            self._levels.add(math.floor((value - self._low) / self._width))
            coarse = math.floor((value - self._low) / self._coarse_width)
            if self._previous is not None:
                self._moves.add((self._previous, coarse))
            self._previous = coarse


def detect(values: Iterable[float], config: DetectorConfig | None = None) -> list[Point]:
    """Score a whole series in order (what the online detector would have said row by row)."""
    detector = AnomalyDetector(config or DetectorConfig())
    return [detector.update(float(v)) for v in values]

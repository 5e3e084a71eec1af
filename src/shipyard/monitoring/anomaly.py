"""Anomaly detection on one operational time series (latency, error rate, cost, volume), online.

The detector asks of every new value: *has this series ever been here before?* Values are cut
into levels (the range of the first `warmup` values in `levels` equal bins, extended without
limit on both sides); a value in a level never seen, or — once the series has a long history — a
move between two coarse levels never seen, is new behaviour. That is what operators label as an
anomaly in the Numenta Anomaly Benchmark's AWS CloudWatch and traffic series: a CPU climbing to a
level it never reached, a request count falling to one it never fell to, a new kind of swing. The
idea is CAD OSE's (the best published NAB detector on these series): context novelty on
discretised values.

Two more rules make it hold up on real metrics:

- *Re-cutting the levels.* A warm-up can be unrepresentative — a disk that wrote nothing for the
  first hours, a CPU that idled in a narrow band — and levels cut from it are then so fine that
  every later value is "new". A value more than `regrid_growth` warm-up spans outside the known
  range is flagged, and the levels are cut again over the wider range (the recent `history`
  values are re-filed, so what was seen stays seen).
- *Stuck values.* A run of one exact value longer than any run before it (and at least
  `min_stuck` rows) is a stuck metric — an exporter reporting zeros, a frozen gauge — even though
  the value itself is familiar. A series that has never changed is not stuck.

After a flag, the detector stays quiet for `cooldown` rows: one incident is one alert, not fifty.
It is online by construction: the score of a row depends only on that row and the rows before it.
One configuration serves every series (bench/nab.py scores it; docs/operations.md has the numbers).
"""

from __future__ import annotations

import math
from collections import deque
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
    regrid_growth: float = 2.0  # a value this many spans outside the known range re-cuts the levels
    history: int = 500  # recent values re-filed when the levels are re-cut
    min_stuck: int = 12  # the shortest run of one value that can count as stuck


@dataclass(frozen=True)
class Point:
    score: float  # 1.0: a level never seen; 0.5: a move never seen or a stuck value; 0.0: nothing new
    anomaly: bool  # flagged: a score above zero outside the cooldown after the previous flag
    reason: str | None  # "new level", "new move", "stuck", or None


@dataclass
class AnomalyDetector:
    """Feed values in time order with `update`; keeps a few sets of what it has seen."""

    config: DetectorConfig = field(default_factory=DetectorConfig)
    _warm: list[float] = field(default_factory=list)
    _recent: deque[float] = field(default_factory=deque)
    _low: float = 0.0
    _high: float = 0.0
    _span: float = 1.0
    _levels: set[int] = field(default_factory=set)
    _moves: set[tuple[int, int]] = field(default_factory=set)
    _previous: int | None = None
    _rows: int = 0
    _last_flag: int | None = None
    _last_value: float | None = None
    _run: int = 0  # rows of the current run of one value
    _longest_run: int = 0  # the longest run that has ended
    _run_flagged: bool = False

    def __post_init__(self) -> None:
        self._recent = deque(self._recent, maxlen=self.config.history)

    def update(self, value: float) -> Point:
        """Score the next value. Missing and infinite values score 0 and change nothing."""
        if not math.isfinite(value):
            self._rows += 1
            return Point(0.0, False, None)
        config = self.config
        row = self._rows
        self._rows += 1
        stuck = self._track_run(value)
        self._recent.append(value)
        if row < config.warmup:
            self._warm.append(value)
            if row == config.warmup - 1:
                self._calibrate()
            return Point(0.0, False, None)
        if self._warm:  # fewer finite values than the warm-up (missing ones): calibrate now
            self._calibrate()
        score, reason = self._novelty(value, row)
        if score == 0.0 and stuck:
            score, reason = 0.5, "stuck"
        if (
            value > self._high + config.regrid_growth * self._span
            or value < self._low - config.regrid_growth * self._span
        ):
            self._cut(min(self._low, value), max(self._high, value))
        quiet = self._last_flag is not None and row - self._last_flag < config.cooldown
        flagged = score > 0 and not quiet
        if flagged:
            self._last_flag = row
        return Point(score, flagged, reason)

    def _novelty(self, value: float, row: int) -> tuple[float, str | None]:
        level, coarse = self._level(value)
        score, reason = 0.0, None
        if level not in self._levels:
            self._levels.add(level)
            score, reason = 1.0, "new level"
        if self._previous is not None and (move := (self._previous, coarse)) not in self._moves:
            self._moves.add(move)
            if score == 0.0 and row >= self.config.transition_warmup:
                score, reason = 0.5, "new move"
        self._previous = coarse
        return score, reason

    def _track_run(self, value: float) -> bool:
        """Whether `value` makes the current run of one value the longest yet (once per run)."""
        if value == self._last_value:
            self._run += 1
        else:
            self._longest_run = max(self._longest_run, self._run)
            self._run, self._run_flagged = 1, False
        self._last_value = value
        if self._run_flagged or not self._longest_run or self._run <= max(self._longest_run, self.config.min_stuck):
            return False
        if self._rows <= self.config.warmup:
            return False
        self._run_flagged = True
        return True

    def _level(self, value: float) -> tuple[int, int]:
        config = self.config
        level = math.floor((value - self._low) / (self._span / config.levels))
        coarse = math.floor((value - self._low) / (self._span / config.transition_levels))
        return level, coarse

    def _calibrate(self) -> None:
        """Cut the levels from the warm-up values."""
        values, self._warm = self._warm, []
        if values:
            self._cut(min(values), max(values))
        else:
            self._cut(0.0, 0.0)

    def _cut(self, low: float, high: float) -> None:
        """Cut the levels over [low, high] and file the recent values (and their moves) as seen."""
        self._low, self._high = low, high
        # A constant range still needs a scale: a hundredth of the value, or 1.
        self._span = (high - low) or (abs(low) / 100 or 1.0)
        self._levels, self._moves, previous = set(), set(), None
        for value in self._recent:
            level, coarse = self._level(value)
            self._levels.add(level)
            if previous is not None:
                self._moves.add((previous, coarse))
            previous = coarse
        self._previous = previous

    def to_dict(self) -> dict[str, Any]:
        """The detector's whole state as JSON-able data (alert rules keep it between evaluations)."""
        return {
            "warm": self._warm,
            "recent": list(self._recent),
            "low": self._low,
            "high": self._high,
            "span": self._span,
            "levels": sorted(self._levels),
            "moves": sorted([a, b] for a, b in self._moves),
            "previous": self._previous,
            "rows": self._rows,
            "last_flag": self._last_flag,
            "run": [self._last_value, self._run, self._longest_run, self._run_flagged],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], config: DetectorConfig | None = None) -> AnomalyDetector:
        detector = cls(config or DetectorConfig())
        detector._warm = [float(v) for v in data["warm"]]
        detector._recent = deque((float(v) for v in data.get("recent", [])), maxlen=detector.config.history)
        detector._low, detector._high = float(data["low"]), float(data.get("high", data["low"]))
        detector._span = float(data.get("span", 1.0))
        detector._levels = {int(v) for v in data["levels"]}
        detector._moves = {(int(a), int(b)) for a, b in data["moves"]}
        detector._previous = data["previous"]
        detector._rows, detector._last_flag = int(data["rows"]), data["last_flag"]
        last, run, longest, flagged = data.get("run", [None, 0, 0, False])
        detector._last_value, detector._run, detector._longest_run, detector._run_flagged = last, run, longest, flagged
        return detector


def detect(values: Iterable[float], config: DetectorConfig | None = None) -> list[Point]:
    """Score a whole series in order (what the online detector would have said row by row)."""
    detector = AnomalyDetector(config or DetectorConfig())
    return [detector.update(float(v)) for v in values]

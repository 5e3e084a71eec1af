"""Drift of what a RAG collection is asked, and of how well it can answer.

A collection monitor compares two windows of the collection's `ask` traces on three columns:

- `query_embedding`: the questions, embedded with the collection's own embedder, compared by
  Evidently's domain classifier (drift when its ROC AUC exceeds 0.55) or by MMD
  (`embeddings.py`) — are users asking about other things?
- `top_similarity`: each question's best passage similarity (Evidently's numeric tests) — does
  retrieval still find close passages?
- `no_answer`: 1 when the relevance gate found nothing relevant, else 0 (the tests for a
  two-valued column) — is "I found nothing" getting more common?

The dataset drifts when at least `drift_share` of the three do (default one half: two of them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from shipyard.errors import InvalidInput
from shipyard.monitoring.drift import ColumnDrift, ColumnTest, DriftConfig, DriftReport, detect_drift
from shipyard.monitoring.embeddings import embedding_drift
from shipyard.store import Database, TraceRow

QUERY_EMBEDDING = "query_embedding"
TOP_SIMILARITY = "top_similarity"
NO_ANSWER = "no_answer"
COLUMNS = (QUERY_EMBEDDING, TOP_SIMILARITY, NO_ANSWER)
EMBEDDING_METHODS = ("model", "mmd")
# Questions embedded per window: newest first. Enough for the classifier's AUC to be stable
# (±0.02 at 2,000 + 2,000) at ~1 s of embedding on one core.
MAX_QUESTIONS = 2000
# Calls that reached retrieval: failed ones say nothing about the questions or the collection.
ANSWERED = ("ok", "no_answer", "truncated")

Embed = Callable[[Sequence[str]], Any]


@dataclass(frozen=True)
class AskWindow:
    """The ask calls of one window, one entry per call."""

    questions: list[str]
    top_similarity: list[float]
    no_answer: list[int]

    def __len__(self) -> int:
        return len(self.questions)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({TOP_SIMILARITY: self.top_similarity, NO_ANSWER: self.no_answer})


def ask_window(
    database: Database, project_id: str, collection: str, since: datetime, until: datetime, *,
    max_rows: int = MAX_QUESTIONS,
) -> AskWindow:  # fmt: skip
    """The collection's ask traces started in [since, until), newest first, at most `max_rows`."""
    query = (
        select(TraceRow.question, TraceRow.status, TraceRow.details)
        .where(
            TraceRow.project_id == project_id,
            TraceRow.kind == "ask",
            TraceRow.collection == collection,
            TraceRow.started_at >= since,
            TraceRow.started_at < until,
            TraceRow.status.in_(ANSWERED),
        )  # fmt: skip
        .order_by(TraceRow.id.desc())
        .limit(max_rows)
    )
    questions: list[str] = []
    similarity: list[float] = []
    no_answer: list[int] = []
    with database.read() as session:
        for question, status, details in session.execute(query):
            if not question:
                continue
            retrieved = (details or {}).get("retrieved") or []
            best = max((r.get("similarity") or 0.0 for r in retrieved), default=0.0)
            questions.append(question)
            similarity.append(float(best))
            no_answer.append(1 if status == "no_answer" else 0)
    return AskWindow(questions, similarity, no_answer)


def check_columns(columns: Sequence[str] | None, config: DriftConfig) -> list[str]:
    """The columns a collection monitor compares; InvalidInput naming the ones there are."""
    chosen = list(columns) if columns else list(COLUMNS)
    if unknown := [c for c in chosen if c not in COLUMNS]:
        raise InvalidInput(f"a collection monitor compares {', '.join(COLUMNS)}; not {', '.join(unknown)}")
    embedding = config.columns.get(QUERY_EMBEDDING)
    if embedding is not None and (embedding.method not in (None, *EMBEDDING_METHODS) or embedding.kind):
        raise InvalidInput(f"{QUERY_EMBEDDING} takes method model or mmd (and a threshold is not configurable)")
    for name, test in config.columns.items():
        if name != QUERY_EMBEDDING and test.method in EMBEDDING_METHODS:
            raise InvalidInput(f"column {name!r}: {test.method} is a method for {QUERY_EMBEDDING}")
    return chosen


def rag_report(
    reference: AskWindow, current: AskWindow, embed: Embed, config: DriftConfig, columns: Sequence[str]
) -> DriftReport:
    """Compare two windows of ask calls on `columns` (see the module docstring)."""
    results: list[ColumnDrift] = []
    if QUERY_EMBEDDING in columns:
        results.append(_embedding_column(reference, current, embed, config))
    tabular = [c for c in columns if c != QUERY_EMBEDDING]
    if tabular:
        kinds = {TOP_SIMILARITY: "numeric", NO_ANSWER: "categorical"}
        tests = {c: _with_kind(config.columns.get(c), kinds[c]) for c in tabular}
        tabular_config = DriftConfig(drift_share=config.drift_share, min_rows=config.min_rows, columns=tests)
        results.extend(detect_drift(reference.frame(), current.frame(), tabular_config, columns=tabular).columns)
    tested = [r for r in results if r.status != "insufficient_data"]
    drifted = sum(1 for r in tested if r.drifted)
    return DriftReport(results, config.drift_share, drifted, len(tested), len(reference), len(current))


def _with_kind(test: ColumnTest | None, kind: str) -> ColumnTest:
    test = test or ColumnTest()
    return ColumnTest(kind=test.kind or kind, method=test.method, threshold=test.threshold)  # type: ignore[arg-type]


def _embedding_column(reference: AskWindow, current: AskWindow, embed: Embed, config: DriftConfig) -> ColumnDrift:
    test = config.columns.get(QUERY_EMBEDDING)
    method = test.method if test is not None and test.method else "model"
    if len(reference) < config.min_rows or len(current) < config.min_rows:
        threshold = 0.55 if method == "model" else 0.05
        return ColumnDrift(QUERY_EMBEDDING, "embedding", method, None, _score_kind(method), threshold,
                           "insufficient_data", None, len(reference), len(current))  # fmt: skip
    result = embedding_drift(
        np.asarray(embed(reference.questions)), np.asarray(embed(current.questions)), method=method,  # type: ignore[arg-type]
        min_rows=config.min_rows,
    )  # fmt: skip
    # The AUC's distance from a coin toss does not grow with sample size: the effect size.
    effect = abs(result.score - 0.5) if method == "model" and result.score is not None else None
    return ColumnDrift(QUERY_EMBEDDING, "embedding", method, result.score, _score_kind(method),
                       result.threshold, result.status, effect, result.reference_rows, result.current_rows)  # fmt: skip


def _score_kind(method: str) -> str:
    return "roc_auc" if method == "model" else "p_value"

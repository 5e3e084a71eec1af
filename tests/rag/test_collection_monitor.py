"""Drift of a RAG collection's questions, on real questions: SciFact's claims asked of SciFact's
abstracts (the extractive answerer, real retrieval, real traces), then SQuAD-style trivia asked of
the same collection. The monitor compares the questions' embeddings, their best similarities and
the share of "nothing relevant found" answers."""

from __future__ import annotations

import asyncio
import csv
import gzip
import json
from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import update

from shipyard.errors import InvalidInput
from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.knowledge.documents import DocumentInput
from shipyard.monitoring import EmptyWindow, Reference
from shipyard.monitoring.drift import ColumnTest, DriftConfig
from shipyard.platform import Platform
from shipyard.rag import AskRequest
from shipyard.store import TraceRow
from shipyard.store.types import utcnow
from tests.examples import shared_data

DATA = shared_data()


def _qrels() -> list[dict[str, str]]:
    return list(csv.DictReader((DATA / "scifact" / "qrels" / "train.tsv").read_text().splitlines(), delimiter="\t"))


@pytest.fixture
def asked(services: Platform) -> Iterator[Platform]:
    """A collection of the 40 SciFact abstracts the first training claims cite."""
    cited = {row["corpus-id"] for row in _qrels()[:40]}
    with gzip.open(DATA / "scifact" / "corpus.jsonl.gz", "rt") as lines:
        docs = [json.loads(line) for line in lines]
    collection = services.collections.create(DEFAULT_PROJECT_ID, "papers")
    services.ingester.ingest(collection, [DocumentInput(d["_id"], d["text"], title=d["title"]) for d in docs
                                          if d["_id"] in cited])  # fmt: skip
    yield services


def ask(services: Platform, questions: list[str]) -> None:
    async def run() -> None:
        for question in questions:
            await services.rag.ask(DEFAULT_PROJECT_ID, AskRequest(collection="papers", question=question))

    asyncio.run(run())
    services.traces.writer.flush_now()


def age_traces(services: Platform, minutes: float) -> None:
    """Move every trace so far back in time (the test's way of letting an hour pass)."""
    with services.database.write() as session:
        for row in session.query(TraceRow).all():
            session.execute(update(TraceRow).where(TraceRow.id == row.id)
                            .values(started_at=row.started_at - timedelta(minutes=minutes)))  # fmt: skip


def claims(start: int, count: int) -> list[str]:
    """Training claims in a fixed shuffled order: any two slices are alike."""
    texts = {
        q["_id"]: q["text"] for q in map(json.loads, (DATA / "scifact" / "queries.jsonl").read_text().splitlines())
    }
    ids = list(dict.fromkeys(row["query-id"] for row in _qrels()))
    order = np.random.default_rng(0).permutation(len(ids))
    return [texts[ids[i]] for i in order[start : start + count]]


def trivia(count: int) -> list[str]:
    with gzip.open(DATA / "xquad_en" / "qa.jsonl.gz", "rt") as lines:
        return [json.loads(line)["question"] for line in lines][:count]


def test_questions_from_elsewhere_drift_and_more_of_the_same_do_not(asked: Platform) -> None:
    monitors = asked.monitors
    created = monitors.create(DEFAULT_PROJECT_ID, "papers-questions", collection="papers", window_seconds=3600, by="t")
    assert (created.collection, created.deployment, str(created.reference)) == ("papers", None, "previous")
    ask(asked, claims(0, 80))
    age_traces(asked, 90)  # last hour's questions: the reference of the next run
    ask(asked, claims(80, 80))
    calm = monitors.run(DEFAULT_PROJECT_ID, "papers-questions")
    columns = {c["column"]: c for c in calm.report["columns"]}  # type: ignore[index]
    assert set(columns) == {"query_embedding", "top_similarity", "no_answer"}
    assert calm.status == "no_drift", columns
    embedding = columns["query_embedding"]
    assert (embedding["kind"], embedding["method"], embedding["score_kind"]) == ("embedding", "model", "roc_auc")
    assert embedding["score"] < embedding["threshold"] and (calm.reference_rows, calm.current_rows) == (80, 80)

    age_traces(asked, 180)  # both claim sets are history now
    ask(asked, claims(0, 60))
    age_traces(asked, 90)
    ask(asked, trivia(60))  # users start asking trivia of a paper collection
    drift = monitors.run(DEFAULT_PROJECT_ID, "papers-questions")
    columns = {c["column"]: c for c in drift.report["columns"]}  # type: ignore[index]
    assert drift.status == "drift" and columns["query_embedding"]["score"] > 0.95, columns
    assert columns["no_answer"]["status"] == "drift" and columns["top_similarity"]["status"] == "drift"
    assert drift.drifted_columns == 3
    history = monitors.results(DEFAULT_PROJECT_ID, "papers-questions").items
    assert [r.status for r in history] == ["drift", "no_drift"]
    events = asked.audit.find(DEFAULT_PROJECT_ID, target="monitor:papers-questions").items
    assert events[0].action == "monitor.drift" and events[0].detail["collection"] == "papers"


@pytest.fixture
def empty(services: Platform) -> Platform:
    """A collection with nothing in it: every question is answered "nothing relevant found"."""
    services.collections.create(DEFAULT_PROJECT_ID, "papers")
    return services


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the drift test above covers both stores
def test_collection_monitors_check_what_they_are_given(empty: Platform) -> None:
    asked, monitors = empty, empty.monitors
    with pytest.raises(InvalidInput, match="either a deployment or a collection"):
        monitors.create(DEFAULT_PROJECT_ID, "m", by="t")
    with pytest.raises(InvalidInput, match="no training data"):
        monitors.create(DEFAULT_PROJECT_ID, "m", collection="papers", reference=Reference("training"), by="t")
    with pytest.raises(InvalidInput, match="compares query_embedding, top_similarity, no_answer; not temp"):
        monitors.create(DEFAULT_PROJECT_ID, "m", collection="papers", columns=["temp"], by="t")
    with pytest.raises(InvalidInput, match="role and on_drift are for deployment monitors"):
        monitors.create(DEFAULT_PROJECT_ID, "m", collection="papers", role="canary", by="t")
    with pytest.raises(InvalidInput, match="mmd is a method for query_embedding"):
        monitors.create(DEFAULT_PROJECT_ID, "m", collection="papers",
                        config=DriftConfig(columns={"no_answer": ColumnTest(method="mmd")}), by="t")  # fmt: skip
    with pytest.raises(Exception, match="no collection named 'nope'"):
        monitors.create(DEFAULT_PROJECT_ID, "m", collection="nope", by="t")
    config = DriftConfig(columns={"query_embedding": ColumnTest(method="mmd")})
    mmd = monitors.create(DEFAULT_PROJECT_ID, "m", collection="papers", columns=["query_embedding"], config=config,
                          by="t")  # fmt: skip
    with pytest.raises(EmptyWindow, match="no questions asked of collection 'papers' in the last 1h"):
        monitors.run(DEFAULT_PROJECT_ID, mmd.name)
    ask(asked, claims(0, 40))
    with pytest.raises(EmptyWindow, match="in the reference window"):
        monitors.run(DEFAULT_PROJECT_ID, mmd.name)
    scheduled = monitors.run(DEFAULT_PROJECT_ID, mmd.name, trigger="schedule")
    assert scheduled.status == "insufficient_data" and "reference window" in (scheduled.error or "")
    age_traces(asked, 60)
    ask(asked, claims(40, 40))
    result = monitors.run(DEFAULT_PROJECT_ID, mmd.name, trigger="schedule")
    (column,) = result.report["columns"]  # type: ignore[index]
    assert (column["method"], column["score_kind"], column["status"]) == ("mmd", "p_value", "no_drift")
    assert utcnow() - result.at < timedelta(minutes=1)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the drift test above covers both stores
def test_collection_monitors_over_http(empty: Platform) -> None:
    from shipyard.auth import Role
    from tests.conftest import serve

    with serve(empty) as live:
        headers = live.key(Role.EDITOR)
        created = live.client.post("/v1/monitors", json={"name": "qs", "collection": "papers", "window": "1d"},
                                   headers=headers)  # fmt: skip
        assert created.status_code == 201, created.text
        body = created.json()
        assert (body["collection"], body["deployment"], body["reference"]) == ("papers", None, {"source": "previous"})
        both = live.client.post("/v1/monitors", json={"name": "x", "collection": "papers", "deployment": "bikes"},
                                headers=headers)  # fmt: skip
        assert both.status_code == 400 and "either a deployment or a collection" in both.json()["error"]["message"]
        unknown = live.client.post("/v1/monitors", json={"name": "y", "collection": "nope"}, headers=headers)
        assert unknown.status_code == 404
        run = live.client.post("/v1/monitors/qs/run", headers=headers)
        assert run.status_code == 422 and run.json()["error"]["code"] == "empty_window"

"""The audit log: every registry, deployment and policy change, with who, when and why.

Rows are only ever added. Listeners (webhooks) hear each event after its row is committed, so a
notification never announces a change that was rolled back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from shipyard.ids import ProjectId, new_id
from shipyard.paging import Page, check_limit, id_cursors, page_of
from shipyard.store import AuditEventRow, Database
from shipyard.store.types import utcnow

_CURSORS = id_cursors("aud")


@dataclass(frozen=True)
class AuditEvent:
    id: str
    project_id: ProjectId
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


class AuditLog:
    def __init__(self, database: Database) -> None:
        self._db = database
        self._listeners: list[Callable[[AuditEvent], None]] = []

    def listen(self, listener: Callable[[AuditEvent], None]) -> None:
        """Call `listener` with every event after it is stored (it must not block)."""
        self._listeners.append(listener)

    def record(
        self, project_id: ProjectId, actor: str, action: str, target: str, detail: dict[str, Any] | None = None
    ) -> AuditEvent:
        event = AuditEvent(new_id("aud"), project_id, utcnow(), actor, action, target, dict(detail or {}))
        with self._db.write() as session:
            session.add(
                AuditEventRow(
                    id=event.id,
                    project_id=project_id,
                    at=event.at,
                    actor=actor,
                    action=action,
                    target=target,
                    detail=event.detail,
                )
            )
        for listener in self._listeners:
            listener(event)
        return event

    def find(
        self,
        project_id: ProjectId,
        *,
        target: str | None = None,
        action: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[AuditEvent]:
        """Events newest first; `target` matches exactly or as a prefix ending in `/` or `:`."""
        query = select(AuditEventRow).where(AuditEventRow.project_id == project_id)
        if target is not None:
            if target.endswith(("/", ":")):
                query = query.where(AuditEventRow.target.startswith(target, autoescape=True))
            else:
                query = query.where(AuditEventRow.target == target)
        if action is not None:
            query = query.where(AuditEventRow.action == action)
        if cursor is not None:
            query = query.where(AuditEventRow.id < _CURSORS.check(cursor))
        limit = check_limit(limit)
        with self._db.read() as session:
            rows = session.scalars(query.order_by(AuditEventRow.id.desc()).limit(limit + 1)).all()
            return page_of(rows, limit, _event, lambda e: e.id)


def _event(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(row.id, ProjectId(row.project_id), row.at, row.actor, row.action, row.target, row.detail)

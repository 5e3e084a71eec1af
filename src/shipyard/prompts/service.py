"""The prompt registry: named prompts per project, immutable numbered versions, movable labels.

Prompts are code: pushing the same content again is a no-op, a change is a new version, and
what runs in production is whatever version the `production` label points at — moved (and moved
back) without a deploy. Shipped defaults (`rag-answer`) are created in a project the first time
they are asked for, as version 1 labelled `production`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import anyio
import yaml
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shipyard.errors import InvalidInput
from shipyard.ids import ProjectId, new_id
from shipyard.limits import version_number
from shipyard.llm import Message
from shipyard.names import check_name
from shipyard.prompts.errors import PromptNotFound
from shipyard.prompts.rendering import RenderSlots, check_variables, render
from shipyard.prompts.spec import PromptSpec, parse_spec
from shipyard.store import Database, PromptLabelRow, PromptRow, PromptVersionRow
from shipyard.store.types import utcnow
from shipyard.yamlfile import load_yaml

DEFAULT_LABEL = "production"
LATEST = "latest"  # not a stored label: always the newest version
SHIPPED = ("rag-answer",)


@dataclass(frozen=True)
class PromptVersion:
    project_id: ProjectId
    name: str
    version: int
    messages: tuple[tuple[str, str], ...]  # (role, template)
    model: str | None
    parameters: dict[str, Any]
    variables: dict[str, dict[str, Any]]
    commit_message: str | None
    author: str | None
    content_hash: str
    created_at: datetime
    labels: tuple[str, ...]

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_yaml(self) -> str:
        content = {"messages": [{"role": r, "content": c} for r, c in self.messages], "model": self.model,
                   "parameters": self.parameters, "variables": self.variables}  # fmt: skip
        return yaml.safe_dump(content, sort_keys=False, allow_unicode=True, width=100)


@dataclass(frozen=True)
class PromptSummary:
    name: str
    description: str | None
    latest_version: int
    labels: dict[str, int]
    updated_at: datetime


def parse_ref(ref: str) -> tuple[str, str]:
    """`name`, `name@3` or `name@production` → (name, version-or-label); bare names mean latest."""
    name, _, selector = ref.partition("@")
    return name, selector or LATEST


class PromptService:
    def __init__(self, database: Database, slots: RenderSlots | None = None) -> None:
        self._db = database
        self._slots = slots or RenderSlots()

    def push(self, project_id: ProjectId, spec: PromptSpec, *, author: str | None) -> tuple[PromptVersion, bool]:
        """Store `spec` as the next version, or return the newest version if it has the same
        content. Returns (version, created)."""
        spec = spec.checked()
        digest = spec.content_hash()
        for _ in range(3):  # two writers racing for the same next number: the loser retries
            try:
                with self._db.write() as session:
                    prompt = self._prompt_row(session, project_id, spec.name, create=True, lock=True)
                    assert prompt is not None
                    latest = self._latest_row(session, prompt.id)
                    if latest is not None and latest.content_hash == digest:
                        return self._version(session, prompt, latest), False
                    row = PromptVersionRow(
                        id=new_id("pv"), project_id=project_id, prompt_id=prompt.id,
                        version=(latest.version if latest else 0) + 1,
                        messages=[m.model_dump() for m in spec.chat_messages()], model=spec.model,
                        parameters=spec.parameters.model_dump(exclude_none=True),
                        variables={k: v.model_dump(exclude_none=True) for k, v in spec.variables.items()},
                        commit_message=spec.message, author=author, content_hash=digest, created_at=utcnow(),
                    )  # fmt: skip
                    session.add(row)
                    if spec.description is not None:
                        prompt.description = spec.description
                    prompt.updated_at = row.created_at
                    session.flush()
                    return self._version(session, prompt, row), True
            except IntegrityError:
                continue
        raise InvalidInput(f"prompt {spec.name!r} is being pushed concurrently; try again")

    def summaries(self, project_id: ProjectId) -> list[PromptSummary]:
        with self._db.read() as session:
            prompts = session.scalars(
                select(PromptRow).where(PromptRow.project_id == project_id).order_by(PromptRow.name)
            ).all()
            latest = dict(
                session.execute(
                    select(PromptVersionRow.prompt_id, func.max(PromptVersionRow.version))
                    .where(PromptVersionRow.project_id == project_id)
                    .group_by(PromptVersionRow.prompt_id)
                ).all()
            )
            labels: dict[str, dict[str, int]] = {}
            ids = [p.id for p in prompts]
            for row in session.scalars(select(PromptLabelRow).where(PromptLabelRow.prompt_id.in_(ids))):
                labels.setdefault(row.prompt_id, {})[row.label] = row.version
            return [
                PromptSummary(p.name, p.description, latest.get(p.id, 0), labels.get(p.id, {}), p.updated_at)
                for p in prompts
            ]

    def versions(self, project_id: ProjectId, name: str) -> list[PromptVersion]:
        """Every version of a prompt, newest first."""
        with self._db.read() as session:
            prompt = self._existing(session, project_id, name)
            rows = session.scalars(
                select(PromptVersionRow)
                .where(PromptVersionRow.prompt_id == prompt.id)
                .order_by(PromptVersionRow.version.desc())
            ).all()
            labels = self._labels(session, prompt.id)
            return [_version(prompt, row, labels) for row in rows]

    def get(self, project_id: ProjectId, ref: str) -> PromptVersion:
        """The version `ref` names (`name`, `name@3`, `name@label`). Shipped defaults are created on
        first use. Raises `PromptNotFound` listing what exists."""
        name, selector = parse_ref(ref)
        try:
            return self._get(project_id, name, selector)
        except PromptNotFound:
            if name not in SHIPPED or not self._seed(project_id, name):
                raise
            return self._get(project_id, name, selector)

    def set_label(self, project_id: ProjectId, name: str, label: str, version: int, *, by: str | None) -> PromptVersion:
        """Point `label` at `version` (creating the label or moving it)."""
        check_name("label", label)
        if label == LATEST:
            raise InvalidInput(f"'{LATEST}' always means the newest version; it cannot be set")
        with self._db.write() as session:
            prompt = self._existing(session, project_id, name)
            row = self._version_row(session, prompt, str(version))
            current = session.get(PromptLabelRow, (prompt.id, label))
            if current is None:
                session.add(PromptLabelRow(prompt_id=prompt.id, label=label, version=version, updated_by=by,
                                           updated_at=utcnow()))  # fmt: skip
            else:
                current.version, current.updated_by, current.updated_at = version, by, utcnow()
            session.flush()
            return self._version(session, prompt, row)

    def diff(self, project_id: ProjectId, name: str, old: str, new: str) -> str:
        """A unified diff between two versions (numbers or labels) of one prompt."""
        first, second = self._get(project_id, name, old), self._get(project_id, name, new)
        lines = difflib.unified_diff(
            first.to_yaml().splitlines(keepends=True),
            second.to_yaml().splitlines(keepends=True),
            fromfile=first.ref,
            tofile=second.ref,
        )
        return "".join(lines)

    def render(self, version: PromptVersion, variables: Mapping[str, Any]) -> list[Message]:
        """The chat messages of `version` with `variables` filled in, within the render limits
        (rendering.py). Raises `PromptRenderError`, or `PromptRendersBusy` when the project
        already has as many renders in progress as it may."""
        with self._slots.hold(version.project_id):
            return self._render(version, variables)

    async def arender(self, version: PromptVersion, variables: Mapping[str, Any]) -> list[Message]:
        """`render` on a worker thread. The project's render slot is taken first, on the event loop:
        a project at its limit is refused at once instead of queueing for the threads all share."""
        with self._slots.hold(version.project_id):
            return await anyio.to_thread.run_sync(self._render, version, variables)

    async def arender_ref(
        self, project_id: ProjectId, ref: str, variables: Mapping[str, Any]
    ) -> tuple[PromptVersion, list[Message]]:
        """`get` then `render`, on one worker thread, once the project's render slot is taken (as `arender`)."""
        with self._slots.hold(project_id):
            return await anyio.to_thread.run_sync(self._get_and_render, project_id, ref, variables)

    def _get_and_render(
        self, project_id: ProjectId, ref: str, variables: Mapping[str, Any]
    ) -> tuple[PromptVersion, list[Message]]:
        version = self.get(project_id, ref)
        return version, self._render(version, variables)

    def _render(self, version: PromptVersion, variables: Mapping[str, Any]) -> list[Message]:
        check_variables(version.variables, variables, version.ref)
        # Optional variables that were not given are None, so `{% if tone %}` works.
        values = {name: None for name, spec in version.variables.items() if not spec.get("required", True)}
        values.update(variables)
        texts = render([template for _, template in version.messages], values, version.ref)
        return [Message(role, text) for (role, _), text in zip(version.messages, texts, strict=True)]  # type: ignore[arg-type]

    def _get(self, project_id: ProjectId, name: str, selector: str) -> PromptVersion:
        with self._db.read() as session:
            prompt = self._existing(session, project_id, name)
            return self._version(session, prompt, self._version_row(session, prompt, selector))

    def _seed(self, project_id: ProjectId, name: str) -> bool:
        text = resources.files("shipyard.prompts").joinpath("defaults", f"{name}.yaml").read_text(encoding="utf-8")
        spec = parse_spec(load_yaml(text, f"shipped prompt {name}"), f"shipped prompt {name}")
        try:
            version, _ = self.push(project_id, spec, author="shipyard")
            self.set_label(project_id, name, DEFAULT_LABEL, version.version, by="shipyard")
        except IntegrityError:
            pass  # another process seeded it at the same moment
        return True

    def _existing(self, session: Session, project_id: ProjectId, name: str) -> PromptRow:
        prompt = self._prompt_row(session, project_id, name)
        if prompt is None:
            known = session.scalars(select(PromptRow.name).where(PromptRow.project_id == project_id)).all()
            names = ", ".join(sorted(set(known) | set(SHIPPED)))
            raise PromptNotFound(f"no prompt {name!r} in this project; prompts: {names}")
        return prompt

    def _prompt_row(
        self, session: Session, project_id: ProjectId, name: str, *, create: bool = False, lock: bool = False
    ) -> PromptRow | None:
        query = select(PromptRow).where(PromptRow.project_id == project_id, PromptRow.name == name)
        prompt = session.scalars(query.with_for_update() if lock else query).first()
        if prompt is None and create:
            now = utcnow()
            prompt = PromptRow(id=new_id("prm"), project_id=project_id, name=name, created_at=now, updated_at=now)
            session.add(prompt)
            session.flush()
        return prompt

    def _latest_row(self, session: Session, prompt_id: str) -> PromptVersionRow | None:
        return session.scalars(
            select(PromptVersionRow)
            .where(PromptVersionRow.prompt_id == prompt_id)
            .order_by(PromptVersionRow.version.desc())
            .limit(1)
        ).first()

    def _version_row(self, session: Session, prompt: PromptRow, selector: str) -> PromptVersionRow:
        if selector == LATEST:
            row = self._latest_row(session, prompt.id)
        elif (number := version_number(selector)) is not None:  # InvalidInput past the column's range
            row = session.scalars(
                select(PromptVersionRow).where(
                    PromptVersionRow.prompt_id == prompt.id, PromptVersionRow.version == number
                )
            ).first()
        else:
            label = session.get(PromptLabelRow, (prompt.id, selector))
            if label is None:
                labels = ", ".join(sorted(self._labels(session, prompt.id))) or "none"
                raise PromptNotFound(f"prompt {prompt.name!r} has no label {selector!r}; labels: {labels}")
            return self._version_row(session, prompt, str(label.version))
        if row is None:
            latest = self._latest_row(session, prompt.id)
            raise PromptNotFound(
                f"prompt {prompt.name!r} has no version {selector}; versions: 1–{latest.version if latest else 0}"
            )
        return row

    def _labels(self, session: Session, prompt_id: str) -> dict[str, int]:
        rows = session.scalars(select(PromptLabelRow).where(PromptLabelRow.prompt_id == prompt_id))
        return {row.label: row.version for row in rows}

    def _version(self, session: Session, prompt: PromptRow, row: PromptVersionRow) -> PromptVersion:
        return _version(prompt, row, self._labels(session, prompt.id))


def _version(prompt: PromptRow, row: PromptVersionRow, labels: dict[str, int]) -> PromptVersion:
    return PromptVersion(
        project_id=ProjectId(prompt.project_id),
        name=prompt.name,
        version=row.version,
        messages=tuple((m["role"], m["content"]) for m in row.messages),
        model=row.model,
        parameters=dict(row.parameters or {}),
        variables={k: dict(v) for k, v in (row.variables or {}).items()},
        commit_message=row.commit_message,
        author=row.author,
        content_hash=row.content_hash,
        created_at=row.created_at,
        labels=tuple(sorted(label for label, version in labels.items() if version == row.version)),
    )

"""Answers written in the console and the examples staff reviewed, gathered for training.

A new topic is a new label: staff may draft it, only an admin can approve it. An answer
for a topic the repository has replaces the repository's text in the next model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.console.audit import Actor, add_entry
from backend.crypto import FieldCipher
from backend.errors import ApiError
from backend.inbox.states import ASSIGNED, DRAFTED
from backend.learning.states import APPROVED, PROPOSED
from backend.learning.training_data import (
    ASK_HUMAN,
    DID_YOU_MEAN,
    HANDOFF_REASON,
    INBOX,
    Answer,
    Example,
    RepositoryData,
    Snapshot,
    check,
    training_text,
)
from backend.models import InboxGroup, InboxItem, KnowledgeAnswer

Clock = Callable[[], datetime]
ANSWER_MAX = 200  # the knowledge base's limit for an answer


@dataclass(frozen=True)
class AnswerText:
    """An answer as staff wrote it; every field is required (the knowledge base's rule)."""

    topic: str
    title: str
    text: str
    source: str
    reviewed: date

    def __post_init__(self) -> None:
        if not (self.title and self.text and self.source and self.reviewed):
            raise ApiError(400, "invalid_field", "标题、答案、来源和核对日期都要填")


def answer_from(form: Any, today: date) -> AnswerText:
    """The fields the knowledge base requires of every answer: none may be missing."""

    def text(field: str, limit: int) -> str:
        value = str(form.get(field, "")).strip()
        if not value:
            raise ApiError(400, "invalid_field", "标题、答案、来源和核对日期都要填", field=field)
        if len(value) > limit:
            raise ApiError(400, "invalid_field", f"最多 {limit} 个字", field=field)
        return value

    try:
        reviewed = date.fromisoformat(str(form.get("reviewed", "")))
    except ValueError:
        reviewed = None
    if reviewed is None or reviewed > today:
        raise ApiError(400, "invalid_field", "核对日期要填，且不能晚于今天", field="reviewed")
    topic = str(form.get("topic", "")).strip()
    return AnswerText(
        topic, text("title", 30), text("answer", ANSWER_MAX), text("source", 300), reviewed
    )


class KnowledgeBase:
    def __init__(
        self, sessions: Callable[[], AsyncSession], cipher: FieldCipher, root: Path, clock: Clock
    ) -> None:
        self._sessions = sessions
        self._cipher = cipher
        self._root = root
        self._clock = clock

    def repository(self) -> RepositoryData:
        """Read each time: the repository's data changes with every pull."""
        return RepositoryData.read(self._root)

    async def write(
        self, answer: AnswerText, who: Actor, *, approved: bool, group_id: int | None = None
    ) -> KnowledgeAnswer:
        """Create or replace the console's answer for a topic. What residents will be told
        goes into training only once an admin approved it (written by an admin, it is):
        the gate scores understanding, not what an answer says."""
        new_label = not self.repository().knows(answer.topic)
        now = self._clock()
        async with self._sessions() as session, session.begin():
            row = await session.scalar(
                select(KnowledgeAnswer).where(KnowledgeAnswer.topic == answer.topic)
            )
            if row is None:
                row = KnowledgeAnswer(topic=answer.topic, group_id=group_id)
                session.add(row)
            row.title, row.text, row.source = answer.title, answer.text, answer.source
            row.reviewed, row.new_label = answer.reviewed, new_label
            row.written_by, row.written_at = who.username, now
            row.state = APPROVED if approved else PROPOSED
            row.approved_by, row.approved_at = (who.username, now) if approved else (None, None)
            add_entry(session, who, "answer_written", now, target=answer.topic)
            return row

    async def approve(self, topic: str, who: Actor) -> KnowledgeAnswer:
        """An admin accepts the answer's text (and a new topic's label) for training."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            row = await _locked_answer(session, topic)
            row.state, row.approved_by, row.approved_at = APPROVED, who.username, now
            add_entry(session, who, "answer_approved", now, target=topic)
            return row

    async def delete(self, topic: str, who: Actor) -> None:
        """An admin withdraws a console answer: the repository's text applies again."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            row = await _locked_answer(session, topic)
            await session.delete(row)
            add_entry(session, who, "answer_deleted", now, target=topic)

    async def exclude_example(self, item_id: int, who: Actor) -> None:
        """An admin keeps one question out of every training (a wrong button pressed, a
        question that does not belong to its group's topic); the question stays."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            item = await session.get(InboxItem, item_id, with_for_update=True)
            if item is None:
                raise ApiError(404, "not_found", "没有这条问题")
            item.training_excluded = True
            add_entry(session, who, "example_excluded", now, target=f"inbox_item:{item_id}")

    async def answers(self) -> list[KnowledgeAnswer]:
        async with self._sessions() as session:
            return list(
                await session.scalars(select(KnowledgeAnswer).order_by(KnowledgeAnswer.topic))
            )

    async def snapshot(self) -> tuple[Snapshot, RepositoryData]:
        """What a run queued now would train on, checked against the repository."""
        repository = self.repository()
        async with self._sessions() as session:
            rows = await session.execute(
                select(InboxItem.id, InboxItem.text_enc, InboxGroup.label, InboxItem.resolved_label)
                .join(InboxGroup, InboxItem.group_id == InboxGroup.id)
                .where(
                    # A group's topic is its questions' label, but not of a request for a
                    # person in it, nor of a question a resident already resolved.
                    (
                        InboxGroup.state.in_((ASSIGNED, DRAFTED))
                        & InboxGroup.label.is_not(None)
                        & (InboxItem.reason != HANDOFF_REASON)
                        & InboxItem.resolved_label.is_(None)
                    )
                    | (
                        InboxItem.resolved_label.is_not(None)
                        & (InboxItem.resolved_label != ASK_HUMAN)
                    ),
                    InboxItem.training_excluded.is_(False),
                )
                .order_by(InboxItem.id)
            )
            candidates = [
                Example(
                    item_id,
                    training_text(self._cipher.decrypt(text_enc)),
                    resolved or group_label,
                    DID_YOU_MEAN if resolved else INBOX,
                )
                for item_id, text_enc, group_label, resolved in rows
            ]
        answers = [
            Answer(
                a.topic, a.title, a.text, a.source, a.reviewed.isoformat(), a.new_label,
                a.state == APPROVED,
            )
            for a in await self.answers()
        ]  # fmt: skip
        return check(candidates, answers, repository), repository


async def _locked_answer(session: AsyncSession, topic: str) -> KnowledgeAnswer:
    row = await session.scalar(
        select(KnowledgeAnswer).where(KnowledgeAnswer.topic == topic).with_for_update()
    )
    if row is None:
        raise ApiError(404, "not_found", "没有这个问答")
    return row

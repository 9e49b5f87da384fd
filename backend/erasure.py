"""A resident's 「删除我的聊天记录」 reaches the store too: what the store keeps of the
conversation itself goes with it (PIPL art. 47).

Deleted: the captured questions (and a group left empty, with its shingles), the handoff
messages and handoffs, the notices not yet delivered. Ratings stay for the service's
figures but lose what ties them to the person: the conversation id and the comment.
Applications are not erased here: they follow the records rules (backend/retention.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.inbox.operations import delete_groups
from backend.models import (
    Handoff,
    HandoffMessage,
    InboxItem,
    Notification,
    Rating,
)
from backend.notifications.states import PENDING


@dataclass(frozen=True)
class Erased:
    questions: int
    handoffs: int
    notices: int
    ratings: int


def erased_id(conversation_id: str) -> str:
    return f"{conversation_id.partition(':')[0]}:erased"


async def erase_conversation(sessions: Callable[[], AsyncSession], conversation_id: str) -> Erased:
    async with sessions() as session, session.begin():
        groups = set(
            (
                await session.scalars(
                    select(InboxItem.group_id).where(InboxItem.conversation_id == conversation_id)
                )
            ).all()
        )
        questions = await session.execute(
            delete(InboxItem).where(InboxItem.conversation_id == conversation_id)
        )
        left = set(
            (
                await session.scalars(
                    select(InboxItem.group_id).where(InboxItem.group_id.in_(groups)).distinct()
                )
            ).all()
        )
        await delete_groups(session, sorted(groups - left))
        handoff_ids = select(Handoff.id).where(Handoff.conversation_id == conversation_id)
        await session.execute(
            delete(HandoffMessage).where(HandoffMessage.handoff_id.in_(handoff_ids))
        )
        handoffs = await session.execute(
            delete(Handoff).where(Handoff.conversation_id == conversation_id)
        )
        notices = await session.execute(
            delete(Notification).where(
                Notification.conversation_id == conversation_id, Notification.state == PENDING
            )
        )
        ratings = await session.execute(
            update(Rating)
            .where(Rating.conversation_id == conversation_id)
            .values(conversation_id=erased_id(conversation_id), comment_enc=None)
        )
        return Erased(questions.rowcount, handoffs.rowcount, notices.rowcount, ratings.rowcount)

"""The console's audit log: who did what, when, from where (pseudonymised), and why.

Every state-changing action and every view of unmasked personal data is recorded in the
same transaction as the action where there is one, so that nothing is done unrecorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import AuditEntry
from personaldata.masks import pseudonym

Clock = Callable[[], datetime]

# What the log says each action is, for the audit page.
ACTION_LABELS = {
    "login": "登录",
    "login_failed": "登录失败",
    "login_throttled": "登录过于频繁被拒",
    "logout": "退出",
    "account_created": "新建账号",
    "account_disabled": "停用账号",
    "account_enabled": "启用账号",
    "password_reset": "重置密码",
    "password_changed": "修改密码",
    "unmask": "查看未遮盖的个人信息",
    "inbox_reply": "回复居民",
    "inbox_assign": "归入意图/问答",
    "inbox_draft": "起草新问答",
    "inbox_dismiss": "忽略问题",
    "export": "导出表格",
    "search_person": "按身份证号或手机号查办件",
    "application_transition": "变更办件状态",
    "rating_called_back": "差评已回访",
    "rating_rectified": "差评已整改",
    "handoff_reach_out": "主动联系居民（回访）",
    "handoff_take": "接入人工对话",
    "handoff_close": "结束人工对话",
    "handoff_forward": "转交人工对话",
    "answer_written": "编写问答",
    "answer_approved": "批准问答（新问答会新增标签）",
    "answer_deleted": "撤下控制台改的问答",
    "training_queued": "开始训练模型",
    "training_cancelled": "取消训练",
    "example_excluded": "不让某条问题用于训练",
    "model_activated": "启用模型",
    "model_activated_override": "越过比较结果启用模型",
    "model_rolled_back": "回退模型",
}


@dataclass(frozen=True)
class Actor:
    account_id: int | None
    username: str
    client: str | None


def actor(account_id: int | None, username: str, remote: str | None) -> Actor:
    return Actor(account_id, username, None if remote is None else pseudonym(remote))


def add_entry(
    session: AsyncSession,
    who: Actor,
    action: str,
    at: datetime,
    *,
    target: str | None = None,
    reason: str | None = None,
) -> None:
    """Add an entry to the session's transaction (committed with the action)."""
    if action not in ACTION_LABELS:
        raise ValueError(f"unknown audit action {action}")
    session.add(
        AuditEntry(
            at=at,
            account_id=who.account_id,
            username=who.username,
            action=action,
            target=target,
            reason=reason,
            client=who.client,
        )
    )


class AuditLog:
    def __init__(self, sessions: Callable[[], AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def record(
        self, who: Actor, action: str, *, target: str | None = None, reason: str | None = None
    ) -> None:
        async with self._sessions() as session, session.begin():
            add_entry(session, who, action, self._clock(), target=target, reason=reason)

    async def entries(
        self, limit: int, offset: int, action: str | None = None
    ) -> tuple[list[AuditEntry], int]:
        query = select(AuditEntry)
        if action is not None:
            query = query.where(AuditEntry.action == action)
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(query.subquery()))
            rows = await session.scalars(
                query.order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
            )
            return list(rows.all()), int(total or 0)

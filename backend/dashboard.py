"""Figures for the dashboard: containment, handoffs, applications, satisfaction, 差评.

Every table is computed here, once, for the page and for its CSV export. Figures of
applications, ratings and handoffs follow a staff member's township limit; turn counts
are anonymous district totals (the assistant does not know a place for most turns).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Integer, cast, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.contract import CAPTURE_REASONS
from backend.handoff.calendar import working_days_before
from backend.lifecycle import OPEN_STATUSES, SERVICE_LABELS, STATUS_LABELS, STATUSES
from backend.models import Application, Handoff, Rating, Rectification, TurnBatch, TurnCount
from backend.ratings.levels import BAD, LEVEL_LABELS, LEVELS
from backend.ratings.operations import on_time, overdue
from backend.ratings.states import SUBJECT_LABELS
from backend.tracking import CHINA_TZ, local_day

Clock = Callable[[], datetime]

ANSWERED = "answered"
# An answer given inside a form (a name, an ID number, 「对的」) is no question.
FORM = "form"
OUTCOMES: tuple[str, ...] = (ANSWERED, FORM, *CAPTURE_REASONS)
# How the containment rate groups outcomes: a referral elsewhere is an answer.
DIRECT = frozenset({ANSWERED, "out_of_scope"})
CLARIFIED = frozenset({"clarified"})
SATISFIED = frozenset(level for level in LEVELS if level not in BAD)


@dataclass(frozen=True)
class Table:
    """A titled table: the page shows it, the CSV export writes it."""

    name: str
    title: str
    header: tuple[str, ...]
    rows: list[tuple]


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "—"


class Dashboard:
    def __init__(self, sessions: Callable[[], AsyncSession], clock: Clock, due_days: int) -> None:
        self._sessions = sessions
        self._clock = clock
        self._due_days = due_days

    async def add_turns(self, batch_id: str, counts: list[tuple[date, str, str, int]]) -> bool:
        """Add a batch of counts once; False when the batch was added before."""
        async with self._sessions() as session:
            try:
                async with session.begin():
                    session.add(TurnBatch(batch_id=batch_id, received_at=self._clock()))
                    await session.flush()
                    for day, channel, outcome, count in counts:
                        row = await session.get(
                            TurnCount, (day, channel, outcome), with_for_update=True
                        )
                        if row is None:
                            session.add(
                                TurnCount(day=day, channel=channel, outcome=outcome, count=count)
                            )
                            await session.flush()
                        else:
                            row.count += count
            except IntegrityError:
                return False
        return True

    async def tables(self, township: str | None, days: int) -> list[Table]:
        today = local_day(self._clock())
        first = today - timedelta(days=days - 1)
        async with self._sessions() as session:
            return [
                await self._turns(session, first, today),
                await self._handoffs(session, township, first, today),
                await self._applications(session, township, today),
                await self._satisfaction(session, township, first),
                await self._rectifications(session, township, first, today),
            ]

    async def _turns(self, session: AsyncSession, first: date, today: date) -> Table:
        rows = await session.execute(
            select(TurnCount.day, TurnCount.outcome, func.sum(TurnCount.count))
            .where(TurnCount.day >= first)
            .group_by(TurnCount.day, TurnCount.outcome)
        )
        per_day: dict[date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
        for day, outcome, count in rows:
            if outcome in OUTCOMES:
                per_day[day][outcome] += int(count)
        table = []
        for offset in range((today - first).days + 1):
            day = first + timedelta(days=offset)
            counts = per_day[day]
            total = sum(counts.values()) - counts[FORM]
            direct = sum(counts[o] for o in DIRECT)
            clarified = sum(counts[o] for o in CLARIFIED)
            table.append(
                (
                    day.isoformat(),
                    total,
                    direct,
                    clarified,
                    total - direct - clarified,
                    counts["handoff"],
                    _share(direct, total),
                )
            )
        return Table(
            "turns",
            "每天的问题：直接答上 / 猜了几个 / 没答上（直接答上的比例即自助解决率）",
            (
                "日期",
                "问题数",
                "直接答上",
                "猜了几个",
                "没答上",
                "要求转人工（次）",
                "直接答上比例",
            ),
            table,
        )

    async def _handoffs(
        self, session: AsyncSession, township: str | None, first: date, today: date
    ) -> Table:
        query = select(Handoff).where(Handoff.requested_at >= _midnight(first))
        if township is not None:
            query = query.where(or_(Handoff.township == township, Handoff.township.is_(None)))
        handoffs = list((await session.scalars(query)).all())
        turns = await session.scalar(
            select(func.coalesce(func.sum(TurnCount.count), 0)).where(
                TurnCount.day >= first, TurnCount.outcome != FORM
            )
        )
        waits = [
            (handoff.taken_at - handoff.requested_at).total_seconds() / 60
            for handoff in handoffs
            if handoff.taken_at is not None
        ]
        return Table(
            "handoffs",
            "转人工",
            (
                "期间",
                "转人工（人次）",
                "占问题数",
                "已接入",
                "等待中位数（分钟）",
                "最长等待（分钟）",
            ),
            [
                (
                    f"{first.isoformat()} 至 {today.isoformat()}",
                    len(handoffs),
                    _share(len(handoffs), int(turns or 0)),
                    len(waits),
                    f"{statistics.median(waits):.1f}" if waits else "—",
                    f"{max(waits):.1f}" if waits else "—",
                )
            ],
        )

    async def _applications(
        self, session: AsyncSession, township: str | None, today: date
    ) -> Table:
        cutoff = _midnight(working_days_before(today, self._due_days))
        late = Application.status.in_(OPEN_STATUSES) & (Application.created_at < cutoff)
        query = select(
            Application.service_type,
            Application.status,
            func.count(),
            func.sum(cast(late, Integer)),
        ).group_by(Application.service_type, Application.status)
        if township is not None:
            query = query.where(Application.township == township)
        counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STATUSES, 0))
        overdue_counts: dict[str, int] = defaultdict(int)
        for service, status, count, late_count in await session.execute(query):
            counts[service][status] = int(count)
            overdue_counts[service] += int(late_count or 0)
        rows = [
            (
                SERVICE_LABELS[service],
                *(counts[service][status] for status in STATUSES),
                overdue_counts[service],
            )
            for service in SERVICE_LABELS
        ]
        return Table(
            "applications",
            f"办件状态（超期：超过 {self._due_days} 个工作日未办完）",
            ("事项", *(STATUS_LABELS[status] for status in STATUSES), "超期"),
            rows,
        )

    async def _satisfaction(
        self, session: AsyncSession, township: str | None, first: date
    ) -> Table:
        query = select(Rating).where(
            Rating.level.is_not(None), Rating.answered_at >= _midnight(first)
        )
        if township is not None:
            query = query.where(Rating.township == township)
        # After a 差评 was put right, the follow-up rating replaces the first one.
        latest: dict[tuple[str, str], Rating] = {}
        for rating in (await session.scalars(query.order_by(Rating.round))).all():
            latest[(rating.subject, rating.subject_ref)] = rating
        groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        for rating in latest.values():
            item = (
                SERVICE_LABELS[rating.service_type]
                if rating.service_type
                else SUBJECT_LABELS[rating.subject]
            )
            month = rating.answered_at.astimezone(CHINA_TZ).strftime("%Y-%m")
            groups[(month, item, rating.township or "未说")].append(rating.level)
        rows = [
            (
                month,
                item,
                place,
                len(levels),
                *(levels.count(level) for level in LEVELS),
                _share(sum(level in SATISFIED for level in levels), len(levels)),
            )
            for (month, item, place), levels in sorted(groups.items())
        ]
        return Table(
            "satisfaction",
            "满意度（按事项、乡镇和月份；满意率 = 非常满意 + 满意 + 基本满意；整改后的再评价代替第一次）",
            (
                "月份",
                "事项",
                "乡镇（街道）",
                "评价数",
                *(LEVEL_LABELS[v] for v in LEVELS),
                "满意率",
            ),
            rows,
        )

    async def _rectifications(
        self, session: AsyncSession, township: str | None, first: date, today: date
    ) -> Table:
        query = (
            select(Rectification, Rating)
            .join(Rating, Rating.id == Rectification.rating_id)
            .where(Rectification.opened_at >= _midnight(first))
        )
        if township is not None:
            query = query.where(Rating.township == township)
        tasks = [task for task, _ in (await session.execute(query)).all()]
        done = [task for task in tasks if task.rectified_at is not None]
        return Table(
            "rectifications",
            "差评整改",
            ("差评数", "已整改", "按时整改", "按时率", "超期未办"),
            [
                (
                    len(tasks),
                    len(done),
                    sum(on_time(task) for task in done),
                    _share(sum(on_time(task) for task in done), len(done)),
                    sum(overdue(task, today) for task in tasks),
                )
            ],
        )


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ)

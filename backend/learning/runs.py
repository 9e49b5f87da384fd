"""Training runs: queued by an admin, done by the worker (trainer/) one at a time.

The worker claims a run under a lease that each progress report renews. A run whose
worker stopped reporting (killed, machine restarted) is queued again once, then failed
with a message for the admin; the console only reads these rows, so restarting it
changes nothing. A run never touches the live model: it ends with a candidate.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.console.audit import Actor, add_entry
from backend.crypto import FieldCipher
from backend.errors import ApiError
from backend.learning import gate
from backend.learning.registry import Registry
from backend.learning.states import CONSOLE, FAILED, QUEUED, RUNNING, STAGES, TRAINED
from backend.learning.training_data import RepositoryData, Snapshot
from backend.models import TrainedModel, TrainingRun

Clock = Callable[[], datetime]
LEASE_SECONDS = 120
MAX_ATTEMPTS = 2
# The console shows the log's end; a whole training log is a few hundred kilobytes.
LOG_MAX_CHARS = 60_000
INTERRUPTED = "训练进程中断了两次，请重新开始训练"


class Training:
    def __init__(
        self,
        sessions: Callable[[], AsyncSession],
        cipher: FieldCipher,
        registry: Registry,
        clock: Clock,
    ) -> None:
        self._sessions = sessions
        self._cipher = cipher
        self._registry = registry
        self._clock = clock
        self.lease_seconds = LEASE_SECONDS

    async def queue(
        self, snapshot: Snapshot, repository: RepositoryData, who: Actor
    ) -> TrainingRun:
        """Freeze the console's data into a new run; one run at a time."""
        now = self._clock()
        # Settled on its own: a run whose worker died shows as waiting again (or failed)
        # even when this request is refused because of it.
        async with self._sessions() as session, session.begin():
            await self._recover_abandoned(session, now)
        async with self._sessions() as session, session.begin():
            busy = await session.scalar(
                select(TrainingRun.id).where(TrainingRun.state.in_((QUEUED, RUNNING))).limit(1)
            )
            if busy is not None:
                raise ApiError(409, "training_busy", "已经有一次训练在排队或进行中，请等它结束")
            run = TrainingRun(
                state=QUEUED,
                percent=0,
                requested_by=who.username,
                requested_at=now,
                attempts=0,
                log="",
                console_data_enc=self._cipher.encrypt(snapshot.console_data(repository)),
                contents=json.dumps(snapshot.contents(), ensure_ascii=False),
            )
            session.add(run)
            await session.flush()
            add_entry(session, who, "training_queued", now, target=f"training_run:{run.id}")
            return run

    async def claim(self, worker: str) -> tuple[TrainingRun, str, TrainedModel | None] | None:
        """The oldest queued run, leased to `worker`, with its console data and the live
        model to compare with; None when there is nothing to do."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            await self._recover_abandoned(session, now)
            run = await session.scalar(
                select(TrainingRun)
                .where(TrainingRun.state == QUEUED)
                .order_by(TrainingRun.id)
                .limit(1)
                .with_for_update()
            )
            if run is None:
                return None
            run.state, run.worker, run.stage, run.percent = RUNNING, worker[:64], STAGES[0], 0
            run.started_at = now
            run.attempts += 1
            run.lease_until = now + timedelta(seconds=LEASE_SECONDS)
            live = await self._registry.active_in(session)
            return run, self._cipher.decrypt(run.console_data_enc), live

    async def _recover_abandoned(self, session: AsyncSession, now: datetime) -> None:
        abandoned = await session.scalars(
            select(TrainingRun)
            .where(TrainingRun.state == RUNNING, TrainingRun.lease_until < now)
            .with_for_update()
        )
        for run in abandoned:
            run.log = _appended(run.log, f"\n[{now:%H:%M:%S}] 训练进程没有回应，重新排队\n")
            if run.attempts >= MAX_ATTEMPTS:
                run.state, run.error, run.finished_at = FAILED, INTERRUPTED, now
            else:
                run.state = QUEUED

    async def progress(self, run_id: int, stage: str, percent: int, log: str) -> None:
        async with self._sessions() as session, session.begin():
            run = await self._leased(session, run_id)
            run.stage, run.percent = stage, max(0, min(100, percent))
            run.log = _appended(run.log, log)
            run.lease_until = self._clock() + timedelta(seconds=LEASE_SECONDS)

    async def fail(self, run_id: int, stage: str, error: str, log: str) -> None:
        async with self._sessions() as session, session.begin():
            run = await self._leased(session, run_id)
            run.state, run.stage, run.error = FAILED, stage, error[:300]
            run.log = _appended(run.log, log)
            run.finished_at = self._clock()

    async def attach_model(self, run_id: int, sha256: str, size: int, manifest: dict) -> int:
        async with self._sessions() as session, session.begin():
            run = await self._leased(session, run_id)
            manifest = {**manifest, "training_run": run.id, "contents": json.loads(run.contents)}
            model = await self._registry.register(
                session, sha256, size, origin=CONSOLE, by=run.requested_by, manifest=manifest
            )
            run.model_id = model.id
            return model.id

    async def finish(
        self,
        run_id: int,
        candidate: dict[str, Any],
        live: dict[str, Any] | None,
        model_id: int | None = None,
    ) -> dict[str, Any]:
        """Record both models' scores and the gate's verdict; the run is done."""
        async with self._sessions() as session, session.begin():
            run = await self._leased(session, run_id)
            if run.model_id is None or model_id not in (None, run.model_id):
                raise ApiError(409, "no_model", "这次训练没有上传这个模型")
            model = await session.get(TrainedModel, run.model_id)
            verdict = gate.compare(candidate, live)
            model.comparison = json.dumps(
                {"candidate": candidate, "live": live, "gate": verdict}, ensure_ascii=False
            )
            model.gate_allowed = verdict["allowed"]
            run.state, run.stage, run.percent = TRAINED, STAGES[-1], 100
            run.finished_at = self._clock()
            return verdict

    async def cancel(self, run_id: int, who: Actor) -> None:
        """An admin stops a run: a queued one is never trained, a running one's worker
        is refused its next report (409) and stops; the live model is untouched."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            run = await session.get(TrainingRun, run_id, with_for_update=True)
            if run is None:
                raise ApiError(404, "not_found", "没有这次训练")
            if run.state not in (QUEUED, RUNNING):
                raise ApiError(409, "run_ended", "这次训练已经结束了")
            run.state, run.error, run.finished_at = FAILED, f"已由 {who.username} 取消", now
            add_entry(session, who, "training_cancelled", now, target=f"training_run:{run.id}")

    async def runs(self, limit: int = 20) -> list[TrainingRun]:
        async with self._sessions() as session:
            query = select(TrainingRun).order_by(TrainingRun.id.desc()).limit(limit)
            return list(await session.scalars(query))

    async def run(self, run_id: int) -> TrainingRun:
        async with self._sessions() as session:
            run = await session.get(TrainingRun, run_id)
        if run is None:
            raise ApiError(404, "not_found", "没有这次训练")
        return run

    def console_data(self, run: TrainingRun) -> str:
        return self._cipher.decrypt(run.console_data_enc)

    async def _leased(self, session: AsyncSession, run_id: int) -> TrainingRun:
        run = await session.get(TrainingRun, run_id, with_for_update=True)
        if run is None:
            raise ApiError(404, "not_found", "没有这次训练")
        if run.state != RUNNING or run.lease_until < self._clock():
            raise ApiError(409, "lease_lost", "这次训练已经不归这个进程了")
        return run


def _appended(log: str, more: str) -> str:
    return (log + more)[-LOG_MAX_CHARS:]

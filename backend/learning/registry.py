"""The model registry: model files by content hash, which one is live, and its history.

The active model is what every Rasa replica pulls (backend/api/models.py): activation
and rollback change one row, and each replica loads the model at its next pull — no
restart, and a restarted replica pulls the active model, not the newest file on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.console.audit import Actor, add_entry
from backend.errors import ApiError
from backend.learning.states import ACTIVATE, ACTIVE, CANDIDATE, REPOSITORY, RETIRED, ROLLBACK
from backend.models import ModelEvent, TrainedModel

Clock = Callable[[], datetime]
CHUNK_BYTES = 1 << 20
# What a model is trained from, in the repository (scripts/train.sh hashes the same).
TRAINING_INPUTS = (
    "config.yml",
    "domain.yml",
    "bot/data",
    "bot/nlu",
    "bot/lexicon/misspellings.yml",
)
# A model of this pipeline is tens of megabytes; anything far larger is not one.
MAX_MODEL_BYTES = 1 << 30


class Registry:
    def __init__(self, sessions: Callable[[], AsyncSession], folder: Path, clock: Clock) -> None:
        self._sessions = sessions
        self._folder = folder
        self._clock = clock

    def path_of(self, model: TrainedModel) -> Path:
        return self._folder / f"{model.sha256}.tar.gz"

    async def save_stream(self, chunks: AsyncIterator[bytes]) -> tuple[str, int]:
        """Write an uploaded model under its hash; the same model twice is one file."""
        self._folder.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        handle, temporary = tempfile.mkstemp(dir=self._folder, suffix=".part")
        try:
            with os.fdopen(handle, "wb") as file:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > MAX_MODEL_BYTES:
                        raise ApiError(413, "payload_too_large", "模型文件过大")
                    digest.update(chunk)
                    file.write(chunk)
            if not is_model_archive(Path(temporary)):
                raise ApiError(400, "invalid_body", "不是 Rasa 模型文件")
            os.replace(temporary, self._folder / f"{digest.hexdigest()}.tar.gz")
        finally:
            Path(temporary).unlink(missing_ok=True)
        return digest.hexdigest(), size

    def save_file(self, source: Path) -> tuple[str, int]:
        self._folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with source.open("rb") as file:
            for chunk in iter(lambda: file.read(CHUNK_BYTES), b""):
                digest.update(chunk)
        target = self._folder / f"{digest.hexdigest()}.tar.gz"
        if not target.exists():
            shutil.copyfile(source, target.with_suffix(".part"))
            os.replace(target.with_suffix(".part"), target)
        return digest.hexdigest(), source.stat().st_size

    async def register(
        self,
        session: AsyncSession,
        sha256: str,
        size: int,
        *,
        origin: str,
        by: str,
        manifest: dict[str, Any],
    ) -> TrainedModel:
        """The model of that hash, added as a candidate if it is new."""
        model = await session.scalar(select(TrainedModel).where(TrainedModel.sha256 == sha256))
        if model is None:
            model = TrainedModel(
                sha256=sha256,
                size=size,
                origin=origin,
                state=CANDIDATE,
                created_at=self._clock(),
                created_by=by,
                manifest=json.dumps(manifest, ensure_ascii=False),
            )
            session.add(model)
            await session.flush()
        return model

    async def import_repository_model(self, path: Path, manifest: dict[str, Any]) -> TrainedModel:
        """`make train`'s model: made live when nothing is, or when the live model was also
        built from the repository alone (a developer's new data goes live with `make
        run`); a model trained in the console stays live until an admin changes it."""
        sha256, size = self.save_file(path)
        async with self._sessions() as session, session.begin():
            model = await self.register(
                session, sha256, size, origin=REPOSITORY, by="make train", manifest=manifest
            )
            live = await self.active_in(session)
            if live is None or (live.origin == REPOSITORY and live.id != model.id):
                await self._make_live(session, model, live, ACTIVATE, "make train", None)
            return model

    async def active(self) -> TrainedModel | None:
        async with self._sessions() as session:
            return await self.active_in(session)

    async def model(self, model_id: int) -> TrainedModel:
        async with self._sessions() as session:
            model = await session.get(TrainedModel, model_id)
        if model is None:
            raise ApiError(404, "not_found", "没有这个模型")
        return model

    async def models(self) -> list[TrainedModel]:
        async with self._sessions() as session:
            return list(
                await session.scalars(select(TrainedModel).order_by(TrainedModel.id.desc()))
            )

    async def events(self) -> list[ModelEvent]:
        async with self._sessions() as session:
            return list(await session.scalars(select(ModelEvent).order_by(ModelEvent.id.desc())))

    async def activate(self, model_id: int, who: Actor, override_reason: str | None) -> ModelEvent:
        """Put a model live. When the gate refused it, only with a reason, logged."""
        async with self._sessions() as session, session.begin():
            model = await session.get(TrainedModel, model_id, with_for_update=True)
            if model is None:
                raise ApiError(404, "not_found", "没有这个模型")
            live = await self.active_in(session)
            if live is not None and live.id == model.id:
                raise ApiError(409, "already_active", "这个模型已经在使用了")
            # Not scored against the live model (built outside a console run) counts as
            # refused: only a written reason puts it live.
            refused = model.gate_allowed is not True
            if refused and not override_reason:
                raise ApiError(409, "gate_refused", "这个模型没有通过比较：要启用，请写明理由")
            reason = override_reason if refused else None
            event = await self._make_live(session, model, live, ACTIVATE, who.username, reason)
            action = "model_activated_override" if refused else "model_activated"
            add_entry(session, who, action, event.at, target=f"model:{model.id}", reason=reason)
            return event

    async def rollback(self, who: Actor) -> ModelEvent:
        """Back to the model that was live before the current one was activated (twice:
        to the one before that, not forth again)."""
        async with self._sessions() as session, session.begin():
            live = await self.active_in(session)
            last = await session.scalar(
                select(ModelEvent)
                .where(
                    ModelEvent.model_id == (live.id if live else None),
                    ModelEvent.action == ACTIVATE,
                )
                .order_by(ModelEvent.id.desc())
                .limit(1)
            )
            if live is None or last is None or last.previous_model_id is None:
                raise ApiError(409, "nothing_to_roll_back", "没有可以回退到的上一个模型")
            previous = await session.get(TrainedModel, last.previous_model_id)
            event = await self._make_live(session, previous, live, ROLLBACK, who.username, None)
            add_entry(session, who, "model_rolled_back", event.at, target=f"model:{previous.id}")
            return event

    async def active_in(self, session: AsyncSession) -> TrainedModel | None:
        # Locked: two admins activating at once must not leave two models active.
        return await session.scalar(
            select(TrainedModel).where(TrainedModel.state == ACTIVE).with_for_update()
        )

    async def _make_live(
        self,
        session: AsyncSession,
        model: TrainedModel,
        live: TrainedModel | None,
        action: str,
        by: str,
        reason: str | None,
    ) -> ModelEvent:
        if live is not None:
            live.state = RETIRED
            await session.flush()
        model.state = ACTIVE
        event = ModelEvent(
            model_id=model.id,
            previous_model_id=live.id if live else None,
            action=action,
            at=self._clock(),
            by=by,
            override_reason=reason,
        )
        session.add(event)
        await session.flush()
        return event


def is_model_archive(path: Path) -> bool:
    """A gzipped tar with Rasa's model metadata: what a replica can load at all (a file
    that is not one would leave a restarted replica with no model)."""
    try:
        with tarfile.open(path, "r:gz") as archive:
            return any(name.rsplit("/", 1)[-1] == "metadata.json" for name in archive.getnames())
    except (tarfile.TarError, OSError, EOFError):
        return False


def repository_state(root: Path) -> dict[str, Any]:
    """The commit the repository is at, and whether its training inputs differ from it."""

    def git(*arguments: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *arguments], cwd=root, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain", "--", *TRAINING_INPUTS)
    return {"git_commit": git("rev-parse", "HEAD"), "git_dirty": bool(status)}

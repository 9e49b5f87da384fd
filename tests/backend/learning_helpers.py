"""The learning loop from tests: a trainer's calls, a finished run, scores of a model."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from typing import Any

from aiohttp.test_utils import TestClient
from store_helpers import TRAINER_TOKEN

from backend.api.common import KNOWLEDGE, TRAINING
from backend.console.audit import Actor

TRAINER_HEADERS = {"Authorization": f"Bearer {TRAINER_TOKEN}"}
ADMIN = Actor(None, "admin-zhou", None)
MANIFEST = {"git_commit": "abc123", "git_dirty": False, "data_digest": "d", "console_digest": "c"}


def scores(accuracy: float = 0.9, **labels: tuple[int, int]) -> dict[str, Any]:
    """An evaluation as the worker sends it; `labels` maps a label to (right, total)."""
    labels = labels or {"greet": (9, 10)}
    return {
        "heldout_digest": "same-questions",
        "examples": sum(total for _, total in labels.values()),
        "accuracy": accuracy,
        "labels": {
            name.replace("__", "/"): {"right": right, "total": total}
            for name, (right, total) in labels.items()
        },
        "decisions": {"faq": {"answered right": 90, "answered wrong": 1, "clarified": 9}},
        "confusions": [],
        "model_id": "m",
    }


def model_archive(tag: bytes) -> bytes:
    """A small stand-in of a model file, shaped as Rasa's (a gzipped tar with its
    metadata), the same bytes for the same tag."""
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w") as archive,
    ):
        content = json.dumps({"tag": tag.decode()}).encode()
        member = tarfile.TarInfo("metadata.json")
        member.size = len(content)
        archive.addfile(member, io.BytesIO(content))
    return buffer.getvalue()


async def queue_run(client: TestClient) -> int:
    snapshot, repository = await client.app[KNOWLEDGE].snapshot()
    run = await client.app[TRAINING].queue(snapshot, repository, ADMIN)
    return run.id


async def claim(client: TestClient, worker: str = "worker-1") -> Any:
    return await client.post("/training/claim", json={"worker": worker}, headers=TRAINER_HEADERS)


async def upload(client: TestClient, run_id: int, content: bytes) -> int:
    response = await client.put(
        f"/training/runs/{run_id}/model",
        data=content,
        headers={**TRAINER_HEADERS, "X-Data-Manifest": json.dumps(MANIFEST)},
    )
    assert response.status == 200, await response.text()
    return (await response.json())["model_id"]


async def trained_model(
    client: TestClient, content: bytes, candidate: dict[str, Any], live: dict[str, Any] | None
) -> tuple[int, dict[str, Any]]:
    """A run queued, claimed, uploaded and finished: the new model's id and the verdict."""
    run_id = await queue_run(client)
    assert (await claim(client)).status == 200
    model_id = await upload(client, run_id, model_archive(content))
    response = await client.post(
        f"/training/runs/{run_id}/finish",
        json={"candidate": candidate, "live": live},
        headers=TRAINER_HEADERS,
    )
    assert response.status == 200, await response.text()
    return model_id, (await response.json())["gate"]

"""The model registry and server: what every Rasa replica pulls, activation behind the
gate, the admin's override (logged), rollback, and models built by `make train`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from learning_helpers import (
    ADMIN,
    TRAINER_HEADERS,
    claim,
    model_archive,
    queue_run,
    scores,
    trained_model,
)
from sqlalchemy import text
from sqlalchemy.engine import Engine
from store_helpers import SERVICE_HEADERS, STAFF_HEADERS

from backend.api.common import REGISTRY
from backend.errors import ApiError


def rows(raw_db: Engine, query: str) -> list[tuple]:
    with raw_db.connect() as connection:
        return [tuple(row) for row in connection.execute(text(query))]


async def import_repository_model(client: TestClient, tmp_path: Path, content: bytes) -> int:
    path = tmp_path / f"model-{hashlib.sha1(content).hexdigest()[:8]}.tar.gz"
    path.write_bytes(content)
    model = await client.app[REGISTRY].import_repository_model(path, {"git_commit": "abc"})
    return model.id


async def active_model(client: TestClient, etag: str | None = None) -> tuple[int, bytes, str]:
    headers = dict(SERVICE_HEADERS)
    if etag is not None:
        headers["If-None-Match"] = etag
    response = await client.get("/models/active", headers=headers)
    return response.status, await response.read(), response.headers.get("ETag", "")


async def test_replicas_pull_the_active_model_once_and_then_get_304(
    client: TestClient, tmp_path: Path
) -> None:
    assert (await active_model(client))[0] == 204  # nothing active yet
    await import_repository_model(client, tmp_path, b"model one")
    status, body, etag = await active_model(client)
    assert (status, body, etag) == (200, b"model one", hashlib.sha256(b"model one").hexdigest())
    assert (await active_model(client, etag))[0] == 304
    assert (await active_model(client, f'"{etag}"'))[0] == 304
    assert (await active_model(client, "another-model"))[0] == 200


async def test_the_model_server_needs_the_service_token(client: TestClient, tmp_path: Path) -> None:
    await import_repository_model(client, tmp_path, b"model one")
    assert (await client.get("/models/active")).status == 401
    assert (await client.get("/models/active", headers=STAFF_HEADERS)).status == 401


async def test_a_repository_model_replaces_a_repository_model_but_not_a_console_one(
    client: TestClient, tmp_path: Path
) -> None:
    first = await import_repository_model(client, tmp_path, b"repository one")
    second = await import_repository_model(client, tmp_path, b"repository two")
    assert (await client.app[REGISTRY].active()).id == second != first
    console_model, _ = await trained_model(client, b"console", scores(0.95), scores(0.9))
    await client.app[REGISTRY].activate(console_model, ADMIN, None)
    await import_repository_model(client, tmp_path, b"repository three")
    assert (await client.app[REGISTRY].active()).id == console_model
    # The same file imported again is the same model.
    assert await import_repository_model(client, tmp_path, b"repository two") == second


async def test_a_worse_model_is_refused_unless_an_admin_gives_a_reason_which_is_logged(
    client: TestClient, tmp_path: Path, raw_db: Engine
) -> None:
    live = await import_repository_model(client, tmp_path, b"live")
    worse = scores(0.80, greet=(3, 10))
    model, verdict = await trained_model(client, b"worse", worse, scores(0.9, greet=(9, 10)))
    assert verdict["allowed"] is False
    registry = client.app[REGISTRY]
    with pytest.raises(ApiError) as refused:
        await registry.activate(model, ADMIN, None)
    assert refused.value.code == "gate_refused"
    assert (await registry.active()).id == live
    await registry.activate(model, ADMIN, "区里要求今天上线新政策问答")
    assert (await registry.active()).id == model
    assert rows(raw_db, "SELECT action, reason FROM audit_log WHERE action LIKE 'model%'") == [
        ("model_activated_override", "区里要求今天上线新政策问答")
    ]
    assert rows(raw_db, "SELECT model_id, previous_model_id, override_reason FROM model_events")[
        -1
    ] == (model, live, "区里要求今天上线新政策问答")


async def test_rollback_restores_the_previous_model_and_a_second_goes_further_back(
    client: TestClient, tmp_path: Path
) -> None:
    registry = client.app[REGISTRY]
    first = await import_repository_model(client, tmp_path, b"first")
    second, _ = await trained_model(client, b"second", scores(0.91), scores(0.9))
    await registry.activate(second, ADMIN, None)
    third, _ = await trained_model(client, b"third", scores(0.92), scores(0.91))
    await registry.activate(third, ADMIN, None)
    etag = (await active_model(client))[2]
    await registry.rollback(ADMIN)
    status, body, _ = await active_model(client, etag)
    assert (status, body) == (200, model_archive(b"second"))
    await registry.rollback(ADMIN)
    assert (await registry.active()).id == first
    with pytest.raises(ApiError) as refused:
        await registry.rollback(ADMIN)
    assert refused.value.code == "nothing_to_roll_back"
    assert (await registry.active()).id == first


def test_polls_that_found_nothing_stay_out_of_the_access_log(caplog) -> None:
    import logging

    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from backend.api.access_log import PseudonymousAccessLogger

    logger = PseudonymousAccessLogger(logging.getLogger("access-test"), "")
    with caplog.at_level(logging.INFO, logger="access-test"):
        for method, path, status in (
            ("GET", "/models/active", 304),
            ("POST", "/training/claim", 204),
            ("GET", "/models/active", 200),
            ("POST", "/training/claim", 200),
        ):
            logger.log(make_mocked_request(method, path), web.Response(status=status), 0.001)
    assert [record.getMessage().split('"')[1] for record in caplog.records] == [
        "GET /models/active",
        "POST /training/claim",
    ]


async def test_a_model_never_compared_goes_live_only_with_a_reason(
    client: TestClient, tmp_path: Path
) -> None:
    """A repository build has no comparison with the live model: not a free pass."""
    registry = client.app[REGISTRY]
    live = await import_repository_model(client, tmp_path, b"live")
    console_model, _ = await trained_model(client, b"console", scores(0.95), scores(0.9))
    await registry.activate(console_model, ADMIN, None)
    with pytest.raises(ApiError) as refused:
        await registry.activate(live, ADMIN, None)
    assert refused.value.code == "gate_refused"
    await registry.activate(live, ADMIN, "回到代码库的模型")
    assert (await registry.active()).id == live


async def test_what_is_not_a_model_file_is_refused_and_not_kept(
    client: TestClient, tmp_path: Path
) -> None:
    run_id = await queue_run(client)
    await claim(client)
    for content in (b"", b"not a model at all", model_archive(b"x")[:40]):
        response = await client.put(
            f"/training/runs/{run_id}/model",
            data=content,
            headers={**TRAINER_HEADERS, "X-Data-Manifest": "{}"},
        )
        assert response.status == 400
    assert list((tmp_path / "models").glob("*")) == []


@pytest.mark.parametrize("accuracy", [float("nan"), 1.5, -0.1])
async def test_scores_out_of_range_are_refused(client: TestClient, accuracy: float) -> None:
    run_id = await queue_run(client)
    await claim(client)
    await client.put(
        f"/training/runs/{run_id}/model",
        data=model_archive(b"m"),
        headers={**TRAINER_HEADERS, "X-Data-Manifest": "{}"},
    )
    candidate = json.dumps(scores(0.9)).replace('"accuracy": 0.9', f'"accuracy": {accuracy}')
    body = '{"candidate": ' + candidate.replace("nan", "NaN") + ', "live": null}'
    response = await client.post(
        f"/training/runs/{run_id}/finish",
        data=body,
        headers={**TRAINER_HEADERS, "Content-Type": "application/json"},
    )
    assert response.status == 400

"""The training worker's routes (trainer token) and the model server every Rasa replica
pulls from (service token): `models: url` in the endpoints file, with ETag and 304."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from backend.api.common import REGISTRY, TRAINING, json_response
from backend.errors import ApiError
from backend.learning.registry import CHUNK_BYTES
from backend.learning.states import STAGES
from backend.models import TrainedModel

routes = web.RouteTableDef()
# Scores of two models and a log batch: far below this; the worker is trusted, not unbounded.
MAX_TRAINER_BODY = 1 << 20


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.content.read(MAX_TRAINER_BODY + 1)
    if len(raw) > MAX_TRAINER_BODY:
        raise ApiError(413, "payload_too_large", "请求体过大")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "请求体不是有效的 JSON")
    return body


def _run_id(request: web.Request) -> int:
    return int(request.match_info["run_id"])


def _text(body: dict[str, Any], field: str, limit: int) -> str:
    value = body.get(field, "")
    if not isinstance(value, str):
        raise ApiError(400, "invalid_field", f"{field} 应为文字", field=field)
    return value[-limit:]


def _stage(body: dict[str, Any]) -> str:
    stage = body.get("stage")
    if stage not in STAGES:
        raise ApiError(400, "invalid_field", "未知的训练阶段", field="stage")
    return stage


@routes.post("/training/claim")
async def claim(request: web.Request) -> web.Response:
    body = await _body(request)
    claimed = await request.app[TRAINING].claim(_text(body, "worker", 64) or "worker")
    if claimed is None:
        return web.Response(status=204)
    run, console_data, live = claimed
    live_model = None if live is None else {"id": live.id, "sha256": live.sha256}
    return json_response(
        {
            "run": {
                "id": run.id,
                "lease_seconds": request.app[TRAINING].lease_seconds,
                "console_data": console_data,
                "live_model": live_model,
            }
        }
    )


@routes.post("/training/runs/{run_id:[0-9]{1,12}}/progress")
async def progress(request: web.Request) -> web.Response:
    body = await _body(request)
    percent = body.get("percent", 0)
    if not isinstance(percent, int) or isinstance(percent, bool):
        raise ApiError(400, "invalid_field", "percent 应为整数", field="percent")
    await request.app[TRAINING].progress(
        _run_id(request), _stage(body), percent, _text(body, "log", MAX_TRAINER_BODY)
    )
    return json_response({"ok": True})


@routes.post("/training/runs/{run_id:[0-9]{1,12}}/fail")
async def fail(request: web.Request) -> web.Response:
    body = await _body(request)
    error = _text(body, "error", 300) or "训练失败"
    await request.app[TRAINING].fail(
        _run_id(request), _stage(body), error, _text(body, "log", MAX_TRAINER_BODY)
    )
    return json_response({"ok": True})


@routes.put("/training/runs/{run_id:[0-9]{1,12}}/model")
async def upload_model(request: web.Request) -> web.Response:
    try:
        manifest = json.loads(request.headers.get("X-Data-Manifest", ""))
    except ValueError:
        manifest = None
    if not isinstance(manifest, dict):
        raise ApiError(400, "invalid_field", "缺少数据清单", field="X-Data-Manifest")
    run_id = _run_id(request)
    await request.app[TRAINING].run(run_id)  # 404 before reading a large body
    sha256, size = await request.app[REGISTRY].save_stream(
        request.content.iter_chunked(CHUNK_BYTES)
    )
    model_id = await request.app[TRAINING].attach_model(run_id, sha256, size, manifest)
    return json_response({"model_id": model_id})


@routes.post("/training/runs/{run_id:[0-9]{1,12}}/finish")
async def finish(request: web.Request) -> web.Response:
    body = await _body(request)
    candidate, live = body.get("candidate"), body.get("live")
    if body.get("model_id") is not None and not isinstance(body["model_id"], int):
        raise ApiError(400, "invalid_field", "model_id 应为整数", field="model_id")
    if not _evaluation(candidate) or not (live is None or _evaluation(live)):
        raise ApiError(400, "invalid_field", "评分格式不对", field="candidate")
    verdict = await request.app[TRAINING].finish(
        _run_id(request), candidate, live, body.get("model_id")
    )
    return json_response({"gate": verdict})


def _evaluation(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("accuracy"), (int, float))
        and 0 <= value["accuracy"] <= 1  # NaN fails too: it would pass every comparison
        and isinstance(value.get("labels"), dict)
        and all(
            isinstance(score, dict)
            and isinstance(score.get("right"), int)
            and isinstance(score.get("total"), int)
            for score in value["labels"].values()
        )
        and isinstance(value.get("decisions", {}), dict)
    )


@routes.get("/training/models/{model_id:[0-9]{1,12}}/file")
async def model_file(request: web.Request) -> web.StreamResponse:
    model = await request.app[REGISTRY].model(int(request.match_info["model_id"]))
    return await _send_model(request, model)


@routes.get("/models/active")
async def active_model(request: web.Request) -> web.StreamResponse:
    """Rasa's model server protocol: `If-None-Match` carries the ETag of the model the
    replica runs; 304 keeps it, 200 sends the active one, 204 when none is active."""
    model = await request.app[REGISTRY].active()
    if model is None:
        return web.Response(status=204)
    if request.headers.get("If-None-Match", "").strip('" ') == model.sha256:
        return web.Response(status=304, headers={"ETag": model.sha256})
    return await _send_model(request, model)


async def _send_model(request: web.Request, model: TrainedModel) -> web.StreamResponse:
    path = request.app[REGISTRY].path_of(model)
    if not path.is_file():
        raise ApiError(404, "not_found", "模型文件不见了")
    response = web.StreamResponse(
        headers={
            # Rasa keeps the ETag as the model's fingerprint and sends it back unquoted.
            "ETag": model.sha256,
            "filename": f"model-{model.sha256[:16]}.tar.gz",
            "Content-Type": "application/gzip",
            "Content-Length": str(model.size),
        }
    )
    await response.prepare(request)
    async for chunk in _chunks(path):
        await response.write(chunk)
    await response.write_eof()
    return response


async def _chunks(path: Any) -> AsyncIterator[bytes]:
    with path.open("rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            yield chunk

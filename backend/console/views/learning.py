"""训练与模型 (admins): what the next training would learn from, training runs with their
progress and log, the comparison with the live model, activation (gated), rollback, and
the model history. 问答 (all staff): answers written in the console."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any, NoReturn

import aiohttp_jinja2
from aiohttp import web

from backend.api.common import KNOWLEDGE, REGISTRY, STORE, TRAINING
from backend.console.keys import LABELS
from backend.console.labels import Label
from backend.console.security import STAFF, admin_only
from backend.console.views.auth import who
from backend.errors import ApiError
from backend.learning.answers import ANSWER_MAX, answer_from
from backend.learning.states import ACTIVE, FAILED, QUEUED, RUNNING, TRAINED
from backend.learning.training_data import FLAG_TEXT
from backend.models import TrainedModel
from backend.tracking import local_day

routes = web.RouteTableDef()

RUN_STATE_LABELS = {QUEUED: "排队中", RUNNING: "进行中", TRAINED: "已完成", FAILED: "失败"}
STAGE_LABELS = {
    "prepare": "准备数据",
    "validate": "校验数据",
    "train": "训练",
    "evaluate": "评分对比",
    "upload": "保存模型",
}
MODEL_STATE_LABELS = {"candidate": "候选", "active": "正在使用", "retired": "已停用"}
OVERRIDE_REASON_MAX = 200


def _model_row(model: TrainedModel) -> dict[str, Any]:
    manifest = json.loads(model.manifest)
    comparison = json.loads(model.comparison) if model.comparison else None
    candidate = comparison["candidate"] if comparison else None
    return {
        "model": model,
        "manifest": manifest,
        "examples": len(manifest.get("contents", {}).get("examples", [])),
        "answers": len(manifest.get("contents", {}).get("answers", [])),
        "accuracy": candidate["accuracy"] if candidate else None,
        "comparison": comparison,
    }


@routes.get("/learning")
@admin_only
@aiohttp_jinja2.template("learning.html")
async def learning_page(request: web.Request) -> dict[str, Any]:
    snapshot, _ = await request.config_dict[KNOWLEDGE].snapshot()
    registry = request.config_dict[REGISTRY]
    return {
        "nav": "learning",
        "snapshot": snapshot,
        "flag_text": FLAG_TEXT,
        "runs": await request.config_dict[TRAINING].runs(),
        "models": [_model_row(model) for model in await registry.models()],
        "events": await registry.events(),
        "RUN_STATE_LABELS": RUN_STATE_LABELS,
        "STAGE_LABELS": STAGE_LABELS,
        "MODEL_STATE_LABELS": MODEL_STATE_LABELS,
        "error": request.query.get("error"),
    }


@routes.post("/learning/train")
@admin_only
async def queue_training(request: web.Request) -> web.StreamResponse:
    knowledge = request.config_dict[KNOWLEDGE]
    snapshot, repository = await knowledge.snapshot()
    try:
        run = await request.config_dict[TRAINING].queue(snapshot, repository, who(request))
    except ApiError as refused:
        raise web.HTTPSeeOther(f"/console/learning?error={refused.code}") from None
    raise web.HTTPSeeOther(f"/console/learning/runs/{run.id}")


@routes.get("/learning/runs/{run_id:[0-9]{1,12}}")
@admin_only
@aiohttp_jinja2.template("training_run.html")
async def run_page(request: web.Request) -> dict[str, Any]:
    training = request.config_dict[TRAINING]
    try:
        run = await training.run(int(request.match_info["run_id"]))
    except ApiError:
        raise web.HTTPNotFound(text="没有这次训练") from None
    model = None
    if run.model_id is not None:
        model = _model_row(await request.config_dict[REGISTRY].model(run.model_id))
    return {
        "nav": "learning",
        "run": run,
        "model": model,
        "live": await request.config_dict[REGISTRY].active(),
        "RUN_STATE_LABELS": RUN_STATE_LABELS,
        "STAGE_LABELS": STAGE_LABELS,
        "MODEL_STATE_LABELS": MODEL_STATE_LABELS,
        "error": None,
        "ACTIVE": ACTIVE,
    }


@routes.post("/learning/runs/{run_id:[0-9]{1,12}}/cancel")
@admin_only
async def cancel_run(request: web.Request) -> web.StreamResponse:
    run_id = int(request.match_info["run_id"])
    try:
        await request.config_dict[TRAINING].cancel(run_id, who(request))
    except ApiError as refused:
        raise web.HTTPSeeOther(f"/console/learning?error={refused.code}") from None
    raise web.HTTPSeeOther(f"/console/learning/runs/{run_id}")


@routes.get("/learning/runs/{run_id:[0-9]{1,12}}/status.json")
@admin_only
async def run_status(request: web.Request) -> web.StreamResponse:
    """What the run page polls while a run is under way."""
    try:
        run = await request.config_dict[TRAINING].run(int(request.match_info["run_id"]))
    except ApiError:
        raise web.HTTPNotFound(text="没有这次训练") from None
    return web.json_response(
        {
            "state": run.state,
            "state_label": RUN_STATE_LABELS[run.state],
            "stage_label": STAGE_LABELS.get(run.stage or "", ""),
            "percent": run.percent,
            "log_tail": run.log[-4000:],
        }
    )


@routes.get("/learning/runs/{run_id:[0-9]{1,12}}/console-data.yml")
@admin_only
async def console_data(request: web.Request) -> web.StreamResponse:
    """The exact console file a run trained with: to commit into bot/data, or to check
    what a model learned (residents' numbers are masked in it)."""
    training = request.config_dict[TRAINING]
    try:
        run = await training.run(int(request.match_info["run_id"]))
    except ApiError:
        raise web.HTTPNotFound(text="没有这次训练") from None
    return web.Response(
        text=training.console_data(run),
        content_type="text/yaml",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="console-run-{run.id}.yml"'},
    )


async def _back_to_learning(action: Awaitable[Any]) -> NoReturn:
    """Do an admin's action, then show the page again, with the refusal's code if any."""
    try:
        await action
    except ApiError as refused:
        raise web.HTTPSeeOther(f"/console/learning?error={refused.code}") from None
    raise web.HTTPSeeOther("/console/learning")


@routes.post("/learning/models/{model_id:[0-9]{1,12}}/activate")
@admin_only
async def activate(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    reason = str(form.get("reason", "")).strip()[:OVERRIDE_REASON_MAX] or None
    model_id = int(request.match_info["model_id"])
    await _back_to_learning(request.config_dict[REGISTRY].activate(model_id, who(request), reason))


@routes.post("/learning/rollback")
@admin_only
async def rollback(request: web.Request) -> web.StreamResponse:
    await _back_to_learning(request.config_dict[REGISTRY].rollback(who(request)))


@routes.post("/learning/examples/{item_id:[0-9]{1,12}}/exclude")
@admin_only
async def exclude_example(request: web.Request) -> web.StreamResponse:
    item_id = int(request.match_info["item_id"])
    await _back_to_learning(request.config_dict[KNOWLEDGE].exclude_example(item_id, who(request)))


@routes.post("/learning/answers/delete")
@admin_only
async def delete_answer(request: web.Request) -> web.StreamResponse:
    topic = str((await request.post()).get("topic", ""))
    await _back_to_learning(request.config_dict[KNOWLEDGE].delete(topic, who(request)))


@routes.post("/learning/answers/approve")
@admin_only
async def approve_answer(request: web.Request) -> web.StreamResponse:
    topic = str((await request.post()).get("topic", ""))
    await _back_to_learning(request.config_dict[KNOWLEDGE].approve(topic, who(request)))


def faq_topics(request: web.Request) -> list[Label]:
    """The knowledge base's answers: only they may be rewritten in the console (the
    assistant's other words — greetings, the complaint answer, referrals — live in the
    repository, reviewed with the code)."""
    return [label for label in request.config_dict[LABELS] if label.name.startswith("faq/")]


async def _answers_context(request: web.Request, error: str | None = None) -> dict[str, Any]:
    return {
        "nav": "answers",
        "answers": await request.config_dict[KNOWLEDGE].answers(),
        "topics": faq_topics(request),
        "error": error,
        "ANSWER_MAX": ANSWER_MAX,
    }


@routes.get("/answers")
@aiohttp_jinja2.template("answers.html")
async def answers_page(request: web.Request) -> dict[str, Any]:
    return await _answers_context(request)


@routes.post("/answers")
async def write_answer(request: web.Request) -> web.StreamResponse:
    """A new text for a topic the assistant answers; it goes live with the next model."""
    form = await request.post()
    staff = request[STAFF]
    known = {label.name for label in faq_topics(request)}
    known |= {a.topic for a in await request.config_dict[KNOWLEDGE].answers()}
    today = local_day(request.config_dict[STORE].clock())
    try:
        if staff.township is not None:
            raise ApiError(403, "district_only", "全区的问答请区里的同事修改")
        answer = answer_from(form, today)
        if answer.topic not in known:
            raise ApiError(400, "invalid_field", "请从列表里选一个问答")
        await request.config_dict[KNOWLEDGE].write(answer, who(request), approved=staff.is_admin)
    except ApiError as refused:
        context = await _answers_context(request, refused.message)
        response = aiohttp_jinja2.render_template("answers.html", request, context)
        response.set_status(refused.status)
        return response
    raise web.HTTPSeeOther("/console/answers")

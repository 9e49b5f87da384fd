"""Training data from the console and training runs: what staff reviewed becomes
examples and answers, checked against the repository's data before a run is queued;
runs are done one at a time by the worker under a lease that survives its death."""

from __future__ import annotations

from datetime import date

import pytest
import yaml
from aiohttp.test_utils import TestClient
from console_helpers import log_in, make_account, post_form
from learning_helpers import (
    ADMIN,
    TRAINER_HEADERS,
    claim,
    model_archive,
    queue_run,
    scores,
    upload,
)
from sqlalchemy import text
from sqlalchemy.engine import Engine
from store_helpers import SERVICE_HEADERS, FakeClock, capture_body

from backend.api.common import INBOX, KNOWLEDGE, REGISTRY, TRAINING
from backend.config import REPO_ROOT
from backend.errors import ApiError
from backend.inbox.operations import Handling
from backend.inbox.states import ASSIGNED
from backend.learning.answers import AnswerText
from backend.learning.runs import LEASE_SECONDS
from backend.learning.training_data import ANNOTATION, HELDOUT_GLOB, RepositoryData

ELDERLY = "faq/elderly_card_eligibility"
KNOWN_EXAMPLE = "多大岁数能办老年证"  # in bot/data under ELDERLY
ID_NUMBER = "510304195503120042"


def first_heldout_question() -> str:
    path = sorted(REPO_ROOT.glob(HELDOUT_GLOB))[0]
    block = yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"][0]
    line = block["examples"].splitlines()[0]
    return ANNOTATION.sub(r"\1", line.strip()[2:])


async def captured(client: TestClient, question: str) -> int:
    response = await client.post(
        "/inbox/items", json=capture_body(question), headers=SERVICE_HEADERS
    )
    assert response.status == 201
    return (await response.json())["group_id"]


async def assign(client: TestClient, question: str, label: str) -> int:
    group = await captured(client, question)
    await client.app[INBOX].handle(group, Handling(ASSIGNED, label=label), ADMIN)
    return group


async def test_assigned_questions_and_confirmed_picks_become_masked_examples(
    client: TestClient,
) -> None:
    await assign(client, f"老人卡咋个弄 我身份证{ID_NUMBER} [急]", ELDERLY)
    picked = capture_body("低保的钱好久到账", reason="clarified")
    await client.post("/inbox/items", json=picked, headers=SERVICE_HEADERS)
    await client.post(
        f"/inbox/items/{picked['capture_id']}/resolution",
        json={"label": "faq/subsistence_eligibility"},
        headers=SERVICE_HEADERS,
    )
    snapshot, repository = await client.app[KNOWLEDGE].snapshot()
    by_label = {example.label: example for example in snapshot.examples}
    assert set(by_label) == {ELDERLY, "faq/subsistence_eligibility"}
    assert ID_NUMBER not in by_label[ELDERLY].text and "【急】" in by_label[ELDERLY].text
    document = yaml.safe_load(snapshot.console_data(repository))
    blocks = {block["intent"]: block["examples"] for block in document["nlu"]}
    assert blocks["faq/subsistence_eligibility"] == "- 低保的钱好久到账\n"
    assert "responses" not in document


async def test_examples_the_model_has_contradicts_or_is_tested_on_are_left_out_with_a_reason(
    client: TestClient,
) -> None:
    await assign(client, KNOWN_EXAMPLE, ELDERLY)  # duplicate
    await assign(client, "老年证办理条件！", "faq/subsistence_eligibility")  # contradiction
    await assign(client, first_heldout_question(), "greet")  # held out
    await assign(client, "我屋头老人想办那个优待卡卡", ELDERLY)  # new: kept
    snapshot, _ = await client.app[KNOWLEDGE].snapshot()
    assert [e.text for e in snapshot.examples] == ["我屋头老人想办那个优待卡卡"]
    flags = sorted(flag for _, flag in snapshot.flagged)
    assert flags == ["contradiction", "duplicate", "heldout"]


async def test_a_new_topic_needs_an_admins_approval_before_it_is_trained(
    client: TestClient,
) -> None:
    group = await captured(client, "养老金资格认证在手机上咋个弄")
    draft = {"topic": "faq/pension_certification", "title": "养老金资格认证", "answer": "用“四川e社保”刷脸认证。", "source": "人社部 社会保险待遇资格认证经办规程", "reviewed": "2026-11-30"}  # fmt: skip
    await client.app[INBOX].handle(
        group, Handling("drafted", label=draft["topic"], draft=draft), ADMIN
    )
    knowledge = client.app[KNOWLEDGE]
    await knowledge.write(
        AnswerText(draft["topic"], draft["title"], draft["answer"], draft["source"], date(2026, 11, 30)),
        ADMIN,
        approved=False,  # drafted by staff
        group_id=group,
    )  # fmt: skip
    snapshot, _ = await knowledge.snapshot()
    assert snapshot.examples == [] and [flag for _, flag in snapshot.flagged] == ["waiting"]
    assert [a.topic for a in snapshot.waiting_answers] == [draft["topic"]]
    await knowledge.approve(draft["topic"], ADMIN)
    snapshot, repository = await knowledge.snapshot()
    assert [e.label for e in snapshot.examples] == [draft["topic"]]
    response = yaml.safe_load(snapshot.console_data(repository))["responses"]
    metadata = response["utter_faq/pension_certification"][0]["metadata"]
    assert metadata == {
        "title": "养老金资格认证",
        "source": draft["source"],
        "reviewed": "2026-11-30",
    }


async def test_an_edited_answer_keeps_the_repositorys_buttons(client: TestClient) -> None:
    topic = "faq/subsistence_eligibility"
    knowledge = client.app[KNOWLEDGE]
    await knowledge.write(
        AnswerText(topic, "低保条件", "新的答案。", "民政部 最低生活保障审核确认办法", date(2026, 11, 30)),
        ADMIN,
        approved=True,
    )  # fmt: skip
    snapshot, repository = await knowledge.snapshot()
    (response,) = yaml.safe_load(snapshot.console_data(repository))["responses"][f"utter_{topic}"]
    assert response["text"] == "新的答案。"
    assert response["buttons"] == repository.responses[f"utter_{topic}"][0]["buttons"]


@pytest.mark.parametrize("missing", ["title", "text", "source"])
def test_an_answer_without_its_source_or_text_cannot_be_saved(missing: str) -> None:
    fields = {
        "topic": "faq/x",
        "title": "t",
        "text": "a",
        "source": "s",
        "reviewed": date(2026, 1, 1),
    }
    with pytest.raises(ApiError):
        AnswerText(**{**fields, missing: ""})


async def test_staff_write_answers_that_wait_for_an_admin_before_training(
    client: TestClient, raw_db: Engine
) -> None:
    await make_account(client, "wang")
    await log_in(client, "wang")
    form = {"topic": "faq/subsistence_eligibility", "title": "低保条件", "answer": "答案", "source": "民政部文件", "reviewed": "2026-11-30"}  # fmt: skip
    for broken in (
        {"source": ""},
        {"reviewed": ""},
        {"reviewed": "2999-01-01"},
        {"topic": "faq/made_up"},
        # Only knowledge-base answers: not the greeting, the complaint answer or a referral.
        {"topic": "greet"},
        {"topic": "complain"},
        {"topic": "out_of_scope/other"},
    ):
        refused = await post_form(
            client, "/console/answers", "/console/answers", **{**form, **broken}
        )
        assert refused.status == 400, broken
    saved = await post_form(client, "/console/answers", "/console/answers", **form)
    assert saved.status == 303
    with raw_db.connect() as connection:
        assert connection.execute(text("SELECT topic, state FROM knowledge_answers")).all() == [
            ("faq/subsistence_eligibility", "proposed")
        ]
    snapshot, repository = await client.app[KNOWLEDGE].snapshot()
    assert "responses" not in yaml.safe_load(snapshot.console_data(repository))
    await client.app[KNOWLEDGE].approve("faq/subsistence_eligibility", ADMIN)
    snapshot, repository = await client.app[KNOWLEDGE].snapshot()
    assert "utter_faq/subsistence_eligibility" in snapshot.console_data(repository)
    await client.app[KNOWLEDGE].delete("faq/subsistence_eligibility", ADMIN)
    assert await client.app[KNOWLEDGE].answers() == []


async def test_township_staff_cannot_rewrite_the_districts_answers(
    client: TestClient, raw_db: Engine
) -> None:
    await make_account(client, "niufo", township="牛佛镇")
    await log_in(client, "niufo")
    form = {"topic": "faq/subsistence_eligibility", "title": "低保条件", "answer": "答案", "source": "民政部文件", "reviewed": "2026-11-30"}  # fmt: skip
    refused = await post_form(client, "/console/answers", "/console/answers", **form)
    assert refused.status == 403
    assert await client.app[KNOWLEDGE].answers() == []


async def test_one_run_at_a_time_and_the_worker_gets_its_data(client: TestClient) -> None:
    await assign(client, "我屋头老人想办那个优待卡卡", ELDERLY)
    run_id = await queue_run(client)
    with pytest.raises(ApiError) as busy:
        await queue_run(client)
    assert busy.value.code == "training_busy"
    response = await claim(client)
    run = (await response.json())["run"]
    assert run["id"] == run_id and run["live_model"] is None
    assert "我屋头老人想办那个优待卡卡" in run["console_data"]
    assert (await claim(client, "worker-2")).status == 204  # one at a time


async def test_the_trainers_routes_need_the_trainers_own_token(client: TestClient) -> None:
    for headers in ({}, SERVICE_HEADERS):
        response = await client.post("/training/claim", json={}, headers=headers)
        assert response.status == 401


async def test_a_run_whose_worker_died_is_queued_again_once_then_failed(
    client: TestClient, clock: FakeClock
) -> None:
    run_id = await queue_run(client)
    assert (await claim(client, "dies-1")).status == 200
    clock.advance(LEASE_SECONDS + 1)
    late = await client.post(
        f"/training/runs/{run_id}/progress", json={"stage": "train"}, headers=TRAINER_HEADERS
    )
    assert late.status == 409  # the lease is gone
    assert (await claim(client, "dies-2")).status == 200  # queued again
    clock.advance(LEASE_SECONDS + 1)
    assert (await claim(client, "worker-3")).status == 204
    run = await client.app[TRAINING].run(run_id)
    assert run.state == "failed" and "重新开始" in run.error


async def test_progress_renews_the_lease_and_the_log_is_kept(
    client: TestClient, clock: FakeClock
) -> None:
    run_id = await queue_run(client)
    await claim(client)
    for step in range(3):
        clock.advance(LEASE_SECONDS - 10)
        response = await client.post(
            f"/training/runs/{run_id}/progress",
            json={"stage": "train", "percent": 30 * step, "log": f"epoch {step}\n"},
            headers=TRAINER_HEADERS,
        )
        assert response.status == 200
    run = await client.app[TRAINING].run(run_id)
    assert (run.stage, run.percent, run.log) == ("train", 60, "epoch 0\nepoch 1\nepoch 2\n")


async def test_a_failed_run_leaves_the_live_model_alone(client: TestClient, tmp_path) -> None:
    path = tmp_path / "live.tar.gz"
    path.write_bytes(b"live")
    live = await client.app[REGISTRY].import_repository_model(path, {})
    run_id = await queue_run(client)
    run = (await (await claim(client)).json())["run"]
    assert run["live_model"]["id"] == live.id
    response = await client.post(
        f"/training/runs/{run_id}/fail",
        json={"stage": "validate", "error": "训练数据校验没通过：domain 缺少回答", "log": "..."},
        headers=TRAINER_HEADERS,
    )
    assert response.status == 200
    assert (await client.app[TRAINING].run(run_id)).state == "failed"
    assert (await client.app[REGISTRY].active()).id == live.id


async def test_the_verdict_is_recorded_with_the_model(client: TestClient) -> None:
    run_id = await queue_run(client)
    await claim(client)
    model_id = await upload(client, run_id, model_archive(b"model bytes"))
    response = await client.post(
        f"/training/runs/{run_id}/finish",
        json={"candidate": scores(0.93), "live": scores(0.90)},
        headers=TRAINER_HEADERS,
    )
    assert (await response.json())["gate"]["allowed"] is True
    model = await client.app[REGISTRY].model(model_id)
    assert model.gate_allowed is True and model.state == "candidate"
    assert (await client.app[TRAINING].run(run_id)).state == "trained"


def test_the_repository_data_reads_labels_and_heldout_questions() -> None:
    repository = RepositoryData.read(REPO_ROOT)
    assert ELDERLY in repository.labels_of[KNOWN_EXAMPLE]
    assert repository.knows("greet") and not repository.knows("faq/made_up")
    assert len(repository.heldout) > 100


async def test_the_training_pages_are_for_admins_and_show_runs_and_models(
    client: TestClient, tmp_path
) -> None:
    path = tmp_path / "live.tar.gz"
    path.write_bytes(b"live")
    await client.app[REGISTRY].import_repository_model(path, {})  # no git details known
    await assign(client, "我屋头老人想办那个优待卡卡", ELDERLY)
    await make_account(client, "wang")
    await log_in(client, "wang")
    assert (await client.get("/console/learning")).status == 403
    await client.post("/console/logout", data={})
    await make_account(client, "zhou", role="admin")
    await log_in(client, "zhou")
    page = await (await client.get("/console/learning")).text()
    assert ELDERLY in page and "代码库（make train）" in page and "正在使用" in page
    started = await post_form(client, "/console/learning/train", "/console/learning")
    assert started.status == 303
    run_page = started.headers["Location"]
    assert "排队中" in await (await client.get(run_page)).text()
    status = await (await client.get(f"{run_page}/status.json")).json()
    assert status["state"] == "queued" and status["percent"] == 0
    again = await post_form(client, "/console/learning/train", "/console/learning")
    assert again.headers["Location"].endswith("error=training_busy")
    assert "已经有一次训练" in await (await client.get(again.headers["Location"])).text()


async def test_a_run_whose_worker_died_waits_again_and_an_admin_can_cancel_it(
    client: TestClient, clock: FakeClock
) -> None:
    """No worker alive to claim again: the run shows as waiting, not as training, and
    the admin's cancel frees the queue."""
    first = await queue_run(client)
    await claim(client, "dies")
    clock.advance(LEASE_SECONDS + 1)
    with pytest.raises(ApiError):
        await queue_run(client)
    assert (await client.app[TRAINING].run(first)).state == "queued"
    await client.app[TRAINING].cancel(first, ADMIN)
    assert await queue_run(client) != first


async def test_an_admin_cancels_a_run_and_its_worker_is_refused_after(
    client: TestClient,
) -> None:
    run_id = await queue_run(client)
    await claim(client)
    await client.app[TRAINING].cancel(run_id, ADMIN)
    response = await client.post(
        f"/training/runs/{run_id}/progress", json={"stage": "train"}, headers=TRAINER_HEADERS
    )
    assert response.status == 409
    run = await client.app[TRAINING].run(run_id)
    assert run.state == "failed" and "取消" in run.error
    await queue_run(client)  # the queue is free again


async def test_a_request_for_a_person_in_an_assigned_group_is_not_its_topics_example(
    client: TestClient,
) -> None:
    group = await captured(client, "社保卡掉了咋个补办嘛")
    asked = capture_body("社保卡掉了咋个补 帮我找个真人嘛", reason="handoff")
    await client.post("/inbox/items", json=asked, headers=SERVICE_HEADERS)
    await client.app[INBOX].handle(
        group, Handling(ASSIGNED, label="faq/social_security_card"), ADMIN
    )
    snapshot, _ = await client.app[KNOWLEDGE].snapshot()
    assert [e.text for e in snapshot.examples] == ["社保卡掉了咋个补办嘛"]


async def test_an_admin_keeps_a_wrong_press_out_of_training_and_invisible_marks_go(
    client: TestClient,
) -> None:
    pressed = capture_body("征地的补偿款\u200b啥时候\u202e打到卡上", reason="clarified")
    await client.post("/inbox/items", json=pressed, headers=SERVICE_HEADERS)
    await client.post(
        f"/inbox/items/{pressed['capture_id']}/resolution",
        json={"label": "faq/medical_insurance_contribution"},
        headers=SERVICE_HEADERS,
    )
    knowledge = client.app[KNOWLEDGE]
    (example,) = (await knowledge.snapshot())[0].examples
    assert example.text == "征地的补偿款啥时候打到卡上"
    await make_account(client, "zhou", role="admin")
    await log_in(client, "zhou")
    page = await (await client.get("/console/learning")).text()
    assert example.text in page and "居民点选" in page
    excluded = await post_form(
        client, f"/console/learning/examples/{example.item_id}/exclude", "/console/learning"
    )
    assert excluded.status == 303
    assert (await knowledge.snapshot())[0].examples == []


async def test_an_approved_new_topic_is_offered_for_assigning(client: TestClient) -> None:
    knowledge = client.app[KNOWLEDGE]
    answer = AnswerText("faq/spring_festival_visit", "春节慰问", "春节前乡镇会走访困难群众。", "区民政局通知", date(2026, 11, 30))  # fmt: skip
    await knowledge.write(answer, ADMIN, approved=True)
    group = await captured(client, "过年社区发不发米发油")
    await make_account(client, "wang")
    await log_in(client, "wang")
    page = await (await client.get(f"/console/inbox/{group}")).text()
    assert 'value="faq/spring_festival_visit"' in page
    assigned = await post_form(
        client, f"/console/inbox/{group}", f"/console/inbox/{group}",
        action="assign", label="faq/spring_festival_visit",
    )  # fmt: skip
    assert assigned.status == 303
    assert [e.label for e in (await knowledge.snapshot())[0].examples] == [answer.topic]

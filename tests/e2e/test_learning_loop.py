"""The learning loop end to end, in the production profile (two Rasa replicas pulling
models from the store, PostgreSQL, Redis) with the training worker running: a question
the live model cannot answer is captured, staff assign it in the console, an admin
trains, reads the comparison and activates; both replicas then answer it, without a
restart; rolled back, they no longer do."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.e2e.production import fresh_databases, production_environment
from tests.e2e.rest import RestClient, post_json
from tests.servers import Stack, running_stack, training_worker
from tests.staff_console import StaffConsole, create_admin
from tests.trainingdata import responses

QUESTION = "老年人补贴好多钱"  # clarified by the model of bot/data (a trial's miss)
TOPIC = "faq/senior_allowance"
ANSWER = responses()[f"utter_{TOPIC}"][0]["text"]
INTEGRATION = RestClient("hotline", uuid.uuid4().hex + uuid.uuid4().hex)
# A training on two busy cores, and a replica's next pull and load.
TRAINING_SECONDS = 900
REPLICA_SECONDS = 90


@pytest.fixture(scope="module")
def learning_stack(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("learning")
    with fresh_databases("trackers", "store") as (trackers, store):
        env = production_environment(trackers, store, INTEGRATION)
        channels = (ROOT / "credentials.production.yml").read_text(encoding="utf-8")
        endpoints = ROOT / "endpoints.production.yml"
        with (
            running_stack(folder, model_path, channels, env, endpoints, rasa_replicas=2) as stack,
            training_worker(stack),
        ):
            yield stack


def ask(replica: str, text: str) -> str:
    """A new resident on that replica asks; the bot's texts."""
    replies = post_json(
        f"{replica}/webhooks/rest/webhook",
        {"sender": f"learner-{uuid.uuid4().hex[:8]}", "message": text},
        client=INTEGRATION,
    )
    return "\n".join(reply.get("text") or "" for reply in replies)


def eventually(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:.0f} s: {what}")
        time.sleep(1)


async def wait_for_run(console: StaffConsole, run_path: str) -> dict:
    deadline = time.monotonic() + TRAINING_SECONDS
    while time.monotonic() < deadline:
        status = await console.json(f"{run_path}/status.json")
        if status["state"] not in ("queued", "running"):
            return status
        await asyncio.sleep(3)
    raise AssertionError(f"training did not finish within {TRAINING_SECONDS} s")


def answered_by_every_replica(stack: Stack) -> bool:
    return all(ANSWER in ask(replica, QUESTION) for replica in stack.rasa_urls)


def answered_by_no_replica(stack: Stack) -> bool:
    return not any(ANSWER in ask(replica, QUESTION) for replica in stack.rasa_urls)


async def test_a_missed_question_is_learned_activated_everywhere_and_rolled_back(
    learning_stack: Stack,
) -> None:
    stack = learning_stack
    pids = {name: s.process.pid for name, s in stack.services.items() if s.process}
    assert answered_by_no_replica(stack)  # the live model asks back instead
    password = create_admin(stack, "zhou")
    async with StaffConsole(stack.store_url) as console:
        await console.log_in("zhou", password)
        for _ in range(60):  # the capture reaches the inbox through the replica's outbox
            group = await console.inbox_group(QUESTION)
            if group is not None:
                break
            await asyncio.sleep(1)
        assert group is not None, "the question never reached the inbox"
        page = f"/console/inbox/{group}"
        await console.submit(page, page, action="assign", label=TOPIC)

        run_path = await console.submit("/console/learning/train", "/console/learning")
        status = await wait_for_run(console, run_path)
        assert status["state"] == "trained", status["log_tail"]
        run_page = await console.page(run_path)
        assert 'id="comparison"' in run_page and "可以启用" in run_page, run_page[-3000:]
        model_id = int(run_page.split("/console/learning/models/")[1].split("/")[0])

        await console.submit(f"/console/learning/models/{model_id}/activate", run_path)
        await asyncio.to_thread(
            eventually, lambda: answered_by_every_replica(stack), REPLICA_SECONDS, "new model live"
        )
        await console.submit("/console/learning/rollback", "/console/learning")
        await asyncio.to_thread(
            eventually, lambda: answered_by_no_replica(stack), REPLICA_SECONDS, "rolled back"
        )
        history = await console.page("/console/learning")
        assert "回退到模型" in history and f"启用模型 {model_id}" in history
    # Nothing was restarted: the same processes answered throughout.
    assert {n: s.process.pid for n, s in stack.services.items() if s.process} == pids
    assert all(s.process.poll() is None for s in stack.services.values() if s.process)

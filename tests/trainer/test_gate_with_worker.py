"""The gate and the validation, with the real worker and the real store: a model trained
with one topic's examples put under another topic is refused activation (an admin can
still activate it with a reason, which the audit log keeps), and a broken training data
file fails the run at validation; neither touches the live model. The store and its
console are restarted while a training runs: the run goes on and ends."""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.servers import StoreProcess, running_store, training_worker
from tests.staff_console import StaffConsole, create_admin

WEAKENED = "faq/senior_allowance"
MERGED_INTO = "faq/elderly_card_benefits"
TRAINING_SECONDS = 900


def checkout_copy(folder: Path) -> Path:
    """What the worker trains from: the repository's config, domain and bot/ package."""
    shutil.copytree(
        ROOT / "bot", folder / "bot", ignore=shutil.ignore_patterns("models", "__pycache__")
    )
    for name in ("config.yml", "domain.yml"):
        shutil.copy2(ROOT / name, folder / name)
    return folder


def with_topic_merged_away(folder: Path) -> Path:
    """The weakened topic's examples labelled as another topic: the model never learns it."""
    root = checkout_copy(folder)
    for path in (root / "bot" / "data").rglob("*.yml"):
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace(f"- intent: {WEAKENED}\n", f"- intent: {MERGED_INTO}\n"))
    return root


def with_a_broken_file(folder: Path) -> Path:
    root = checkout_copy(folder)
    (root / "bot" / "data" / "core" / "broken.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - 你好\n  - intent: [\n',
        encoding="utf-8",
    )
    return root


@pytest.fixture(scope="module")
def store(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreProcess]:
    with running_store(tmp_path_factory.mktemp("gate")) as store:
        store.stack.import_model(model_path)
        yield store


def served_model(store: StoreProcess) -> str:
    request = urllib.request.Request(
        f"{store.url}/models/active",
        headers={"Authorization": f"Bearer {store.stack.env['STORE_SERVICE_TOKEN']}"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return hashlib.sha256(response.read()).hexdigest()


async def finished(console: StaffConsole, run_path: str) -> dict:
    deadline = time.monotonic() + TRAINING_SECONDS
    while time.monotonic() < deadline:
        status = await console.json(f"{run_path}/status.json")
        if status["state"] not in ("queued", "running"):
            return status
        await asyncio.sleep(2)
    raise AssertionError("the run did not end")


async def restart_during_training(store: StoreProcess, console: StaffConsole, run: str) -> None:
    """The store (and its console) restarted while the worker trains: nothing is lost."""
    while (await console.json(f"{run}/status.json"))["stage_label"] != "训练":
        await asyncio.sleep(2)
    store.stack.stop("store")
    await asyncio.sleep(5)
    store.stack.start("store")


async def test_a_worse_model_is_refused_and_an_override_is_logged(
    store: StoreProcess, tmp_path: Path
) -> None:
    live = served_model(store)
    password = create_admin(store.stack, "zhou")
    root = with_topic_merged_away(tmp_path / "checkout")
    with training_worker(store.stack, TRAINER_REPOSITORY=str(root)):
        async with StaffConsole(store.url) as console:
            await console.log_in("zhou", password)
            run_path = await console.submit("/console/learning/train", "/console/learning")
            await restart_during_training(store, console, run_path)
            status = await finished(console, run_path)
            assert status["state"] == "trained", status["log_tail"]
            page = await console.page(run_path)
            assert "不建议启用" in page and f"「{WEAKENED}」明显变差" in page
            model_id = re.search(r"/console/learning/models/(\d+)/activate", page).group(1)
            activate = f"/console/learning/models/{model_id}/activate"
            refused = await console.submit(activate, run_path)
            assert "error=gate_refused" in refused
            assert served_model(store) == live
            reason = "测试：明知变差也要启用"
            await console.submit(activate, run_path, reason=reason)
            assert served_model(store) != live
            audit = await console.page("/console/audit")
            assert "越过比较结果启用模型" in audit and reason in audit


async def test_a_broken_data_file_fails_validation_and_leaves_the_live_model(
    store: StoreProcess, tmp_path: Path
) -> None:
    live = served_model(store)
    password = create_admin(store.stack, "li")
    root = with_a_broken_file(tmp_path / "checkout")
    with training_worker(store.stack, TRAINER_REPOSITORY=str(root)):
        async with StaffConsole(store.url) as console:
            await console.log_in("li", password)
            run_path = await console.submit("/console/learning/train", "/console/learning")
            status = await finished(console, run_path)
            assert status["state"] == "failed"
            page = await console.page(run_path)
            assert "校验" in page and "正在使用的模型没有变" in page
    assert served_model(store) == live

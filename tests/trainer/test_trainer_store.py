"""The worker's client against the real status store: a run queued in the console is
claimed with its console file, reported on, given a model and finished; after that the
run is no longer the worker's. (The whole loop with a real training runs in
tests/e2e/test_learning_loop.py.)"""

from __future__ import annotations

import datetime
import hashlib
import io
import os
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from scripts import processes
from tests.servers import StoreProcess, running_store
from tests.staff_console import StaffConsole, create_admin
from trainer.client import LeaseLost, StoreClient
from trainer.workspace import prepare, workspace_for

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "faq/pension_enroll"
EDITED = "年满16周岁、不在校、没参加职工养老保险的居民都可以参保，带身份证和户口本到镇（街道）便民服务中心劳保窗口登记。"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreProcess]:
    with running_store(tmp_path_factory.mktemp("store")) as running:
        yield running


@pytest.fixture(scope="module")
def client(store: StoreProcess) -> StoreClient:
    return StoreClient(store.url, store.stack.env["STORE_TRAINER_TOKEN"], timeout=30)


async def edit_answer_and_train(store: StoreProcess) -> str:
    """As an admin: a new text for one answer, then 开始训练; the run's page."""
    password = create_admin(store.stack, "zhou")
    async with StaffConsole(store.url) as console:
        await console.log_in("zhou", password)
        await console.submit(
            "/console/answers",
            "/console/answers",
            topic=TOPIC,
            title="养老保险参保",
            answer=EDITED,
            source="国发〔2014〕8号",
            reviewed=datetime.date.today().isoformat(),
        )
        return await console.submit("/console/learning/train", "/console/learning")


def model_file() -> bytes:
    """A small gzip archive standing in for a model (the registry stores bytes)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        content = b'{"model_id": "stand-in"}'
        info = tarfile.TarInfo("metadata.json")
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def evaluation(accuracy: float) -> dict:
    return {
        "heldout_digest": "d" * 64,
        "examples": 2,
        "accuracy": accuracy,
        "labels": {TOPIC: {"right": 2, "total": 2}},
        "decisions": {"faq": {"answered right": 2}, "out_of_scope": {}},
        "confusions": [],
        "model_id": "stand-in",
    }


async def test_a_queued_run_is_claimed_reported_on_given_a_model_and_finished(
    store: StoreProcess, client: StoreClient, tmp_path: Path
):
    assert client.claim("host:1") is None
    run_page = await edit_answer_and_train(store)
    claim = client.claim("host:1")
    assert claim is not None and run_page.endswith(f"/runs/{claim.run_id}")
    assert claim.live_model is None and claim.lease_seconds > 30

    # The console's file is Rasa's format, and its answer replaces the repository's.
    console = yaml.safe_load(claim.console_data)
    assert console["responses"][f"utter_{TOPIC}"][0]["text"] == EDITED
    space = workspace_for(tmp_path, claim.run_id)
    manifest = prepare(ROOT, space, claim.console_data)
    assert "utter_faq/pension_enroll" not in (space.data / "insurance" / "faq.yml").read_text()

    client.progress(claim.run_id, "train", 40, "Epochs: 100%| 40/40\n")
    model = tmp_path / "run.tar.gz"
    model.write_bytes(model_file())
    model_id = client.upload_model(claim.run_id, model, manifest.as_dict())
    downloaded = tmp_path / "downloaded.tar.gz"
    assert (
        client.download_model(model_id, downloaded)
        == hashlib.sha256(model.read_bytes()).hexdigest()
    )

    gate = client.finish(claim.run_id, model_id, evaluation(0.95), None)
    assert gate["allowed"] is True
    with pytest.raises(LeaseLost):
        client.progress(claim.run_id, "upload", 100, "")
    assert client.claim("host:1") is None


def test_the_worker_process_polls_and_stops_on_sigterm(store: StoreProcess, tmp_path: Path):
    env = {
        **processes.environment("trainer", store.stack.env),
        "TRAINER_POLL_SECONDS": "0.2",
        "TRAINER_WORKSPACES": str(tmp_path / "training"),
    }
    log = tmp_path / "trainer.log"
    with log.open("wb") as output:
        worker = subprocess.Popen(
            processes.command("trainer"), cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 30
        while "training worker polling" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)  # a few polls, each answered "nothing queued"
        assert worker.poll() is None, log.read_text()
        # The lowest priority: the live assistant on the same cores keeps answering.
        assert os.getpriority(os.PRIO_PROCESS, worker.pid) == 19
    finally:
        worker.send_signal(signal.SIGTERM)
        status = worker.wait(timeout=30)
    assert status == 0, log.read_text()
    assert "stopping" in log.read_text()


def test_without_its_token_the_worker_says_so_and_exits():
    env = processes.environment("trainer", {"PATH": os.environ["PATH"]})
    result = subprocess.run(
        processes.command("trainer"), cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "STORE_TRAINER_TOKEN is not set" in result.stderr

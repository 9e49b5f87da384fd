"""The worker's handling of a run and its loop, with a stand-in for the store's client:
validation really runs `rasa data validate` on a real workspace."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.trainer.console_files import BROKEN_CONSOLE_DATA, CONSOLE_DATA, NEW_EXAMPLES
from trainer import worker as worker_module
from trainer.client import Claim, LeaseLost, StoreUnavailable
from trainer.settings import TrainerSettings
from trainer.worker import Worker, validation_error


class StoreStandIn:
    """Records what the worker reports; `lease_lost` makes every report a 409."""

    def __init__(self, claims: list[Any] | None = None) -> None:
        self.claims = list(claims or [])
        self.progress_reports: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []
        self.lease_lost = False

    def claim(self, worker: str) -> Claim | None:
        answer = self.claims.pop(0) if self.claims else None
        if isinstance(answer, Exception):
            raise answer
        return answer

    def progress(self, run_id: int, stage: str, percent: int, log: str) -> None:
        if self.lease_lost:
            raise LeaseLost(str(run_id))
        self.progress_reports.append({"stage": stage, "percent": percent, "log": log})

    def fail(self, run_id: int, stage: str, error: str, log: str) -> None:
        self.failures.append({"run_id": run_id, "stage": stage, "error": error, "log": log})

    def upload_model(self, *_args: Any) -> int:
        raise AssertionError("a failed run uploads nothing")

    def log(self) -> str:
        return "".join(r["log"] for r in self.progress_reports) + "".join(
            f["log"] for f in self.failures
        )


@pytest.fixture
def settings(tmp_path: Path) -> TrainerSettings:
    return dataclasses.replace(
        TrainerSettings(),
        workspaces=tmp_path / "training",
        heartbeat_seconds=0.5,
        poll_seconds=0.01,
        retry_max_seconds=0.05,
    )


def claim(console_data: str, run_id: int = 7) -> Claim:
    return Claim(run_id, 120, console_data, None)


def test_a_console_file_rasa_cannot_read_fails_the_run_at_validation(settings: TrainerSettings):
    store = StoreStandIn()
    Worker(settings, store).handle(claim(BROKEN_CONSOLE_DATA))  # type: ignore[arg-type]
    [failure] = store.failures
    assert failure["stage"] == "validate"
    assert failure["error"] == "训练数据校验没通过：控制台提交的训练数据格式不对，详见日志"
    log = store.log()
    assert "rasa data validate --data" in log
    assert "YamlSyntaxException" in log
    assert "\x1b[" not in log
    assert not (settings.workspaces / "run-7").exists()


def test_a_rule_rasa_cannot_see_fails_the_run_with_the_reason(settings: TrainerSettings):
    # The console's example is the repository's under another FAQ topic: to Rasa both
    # are the intent `faq`, so only the knowledge-base checks find the clash.
    clash = CONSOLE_DATA.replace(NEW_EXAMPLES[0], "低保要带啥子资料")
    store = StoreStandIn()
    Worker(settings, store).handle(claim(clash))  # type: ignore[arg-type]
    [failure] = store.failures
    assert failure["stage"] == "validate"
    assert failure["error"].startswith("训练数据校验没通过：「低保要带啥子资料」同时标成了")
    assert "faq/subsistence_materials" in failure["error"]
    assert "数据问题：" in store.log()


def test_a_lost_lease_stops_rasa_and_leaves_the_run_alone(settings: TrainerSettings):
    store = StoreStandIn()
    store.lease_lost = True
    started = time.monotonic()
    Worker(settings, store).handle(claim(CONSOLE_DATA))  # type: ignore[arg-type]
    # rasa data validate alone takes longer than this on its own.
    assert time.monotonic() - started < 6
    assert store.failures == []
    assert not (settings.workspaces / "run-7").exists()


def test_an_unexpected_error_fails_the_run_in_words_for_the_admin(
    settings: TrainerSettings, monkeypatch: pytest.MonkeyPatch
):
    def broken_prepare(*_args: Any) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(worker_module.workspace, "prepare", broken_prepare)
    store = StoreStandIn()
    Worker(settings, store).handle(claim(CONSOLE_DATA))  # type: ignore[arg-type]
    [failure] = store.failures
    assert failure["stage"] == "prepare"
    assert failure["error"] == "准备数据时出错（OSError），详见日志"
    assert "No space left on device" in failure["log"]


def test_personal_numbers_never_reach_the_runs_log(settings: TrainerSettings, monkeypatch):
    def broken_prepare(*_args: Any) -> None:
        raise ValueError("bad line: 510304199001011234 13812345678")

    monkeypatch.setattr(worker_module.workspace, "prepare", broken_prepare)
    store = StoreStandIn()
    Worker(settings, store).handle(claim(CONSOLE_DATA))  # type: ignore[arg-type]
    log = store.log()
    assert "5103**********1234" in log and "138****5678" in log
    assert "510304199001011234" not in log and "13812345678" not in log


def test_the_loop_survives_an_unreachable_store_and_stops_when_asked(
    settings: TrainerSettings,
):
    store = StoreStandIn([StoreUnavailable("down"), RuntimeError("nonsense"), None, None])
    worker = Worker(settings, store)  # type: ignore[arg-type]
    loop = threading.Thread(target=worker.run_forever)
    loop.start()
    deadline = time.monotonic() + 10
    while store.claims and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.stop()
    loop.join(timeout=10)
    assert not loop.is_alive()
    assert store.claims == []


def test_backoff_doubles_up_to_its_limit():
    settings = dataclasses.replace(TrainerSettings(), poll_seconds=5, retry_max_seconds=60)
    worker = Worker(settings, StoreStandIn())  # type: ignore[arg-type]
    assert [worker.backoff(n) for n in range(1, 6)] == [5, 10, 20, 40, 60]


def test_the_admin_sees_the_first_problems_and_how_many_there_are():
    problems = [f"utter_faq/t{i} 的答案没有注明来源" for i in range(5)]
    error = validation_error(problems)
    assert error.startswith("训练数据校验没通过：utter_faq/t0 的答案没有注明来源；")
    assert error.endswith("等 5 处")
    assert "t3" not in error

"""The training worker: claims a queued run from the status store and turns it into a
trained, evaluated candidate model (prepare → validate → train → evaluate → upload).

A run never touches the live model: the store decides, with both evaluations, whether
an admin may activate the candidate. Whatever goes wrong, the loop goes on: a failed run
is reported with a short Chinese sentence for the admin, a run whose lease was lost is
dropped, and an unreachable store is asked again later.
"""

from __future__ import annotations

import fcntl
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import yaml

from personaldata.masks import mask_personal_data
from trainer import checks, evaluation, workspace
from trainer.client import Claim, LeaseLost, StoreClient, StoreRefused, StoreUnavailable
from trainer.rasa_process import Fragment, RasaProcess, TrainingProgress, log_lines
from trainer.settings import TrainerSettings
from trainer.workspace import Manifest, Workspace

logger = logging.getLogger("trainer")
T = TypeVar("T")

# The run's overall percent at the start and end of each stage: training is most of it.
STAGE_PERCENTS = {
    "prepare": (0, 2),
    "validate": (2, 8),
    "train": (8, 85),
    "evaluate": (85, 97),
    "upload": (97, 100),
}
STAGE_NAMES = {
    "prepare": "准备数据",
    "validate": "校验数据",
    "train": "训练模型",
    "evaluate": "评测模型",
    "upload": "上传模型",
}
VALIDATION_FAILED = "训练数据校验没通过："
# The admin reads the first problems; the log has them all. The store keeps 300 characters.
MAX_PROBLEMS_SHOWN = 3
MAX_ERROR_CHARS = 280
# A progress report's log batch: far below the store's 1 MiB body limit.
MAX_LOG_BATCH_CHARS = 200_000


class RunFailed(Exception):
    """The run cannot succeed; the message is for the admin (Chinese, short)."""


class Stopped(Exception):
    """The run is no longer this worker's to finish (lease lost, or the worker stops)."""


class Reporter:
    """A run's stage, percent and unsent log lines; a heartbeat thread posts them at
    least every `interval` seconds, which also renews the lease. A lost lease calls
    `on_lease_lost` at once, so the rasa subprocess stops without waiting for the
    main thread."""

    def __init__(
        self,
        client: StoreClient,
        run_id: int,
        interval: float,
        on_lease_lost: Callable[[], None],
    ) -> None:
        self._client = client
        self._run_id = run_id
        self._interval = interval
        self._on_lease_lost = on_lease_lost
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._lines: list[str] = []
        self.stage, self.percent = "prepare", 0
        self.lease_lost = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="trainer-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=self._interval + 60)

    def log(self, line: str) -> None:
        """Adds a line to the run's log, ID and phone numbers masked."""
        with self._lock:
            self._lines.append(mask_personal_data(line))

    def note(self, message: str) -> None:
        """The worker's own line in the log, timed like the store's."""
        self.log(f"[{time.strftime('%H:%M:%S')}] {message}")

    def enter(self, stage: str) -> None:
        with self._lock:
            self.stage, self.percent = stage, STAGE_PERCENTS[stage][0]
        self.note(f"开始：{STAGE_NAMES[stage]}")

    def advance(self, fraction: float) -> None:
        """Within the current stage, 0 to 1; the run's percent never goes back."""
        start, end = STAGE_PERCENTS[self.stage]
        with self._lock:
            self.percent = max(self.percent, int(start + (end - start) * min(1.0, fraction)))

    def send(self) -> None:
        """Posts stage, percent and the unsent lines now; lines stay queued when the store
        cannot be reached. Raises LeaseLost."""
        with self._send_lock:
            with self._lock:
                stage, percent, batch = self.stage, self.percent, self._take()
            try:
                self._client.progress(self._run_id, stage, percent, _text(batch))
            except LeaseLost:
                self.lease_lost.set()
                self._on_lease_lost()
                raise
            except (StoreUnavailable, StoreRefused):
                with self._lock:
                    self._lines[:0] = batch
                raise

    def unsent(self) -> str:
        """The lines not posted yet (sent with a failure instead)."""
        with self._lock:
            return _text(self._take())

    def _take(self) -> list[str]:
        """The oldest unsent lines, up to one batch."""
        size = count = 0
        while count < len(self._lines) and size + len(self._lines[count]) < MAX_LOG_BATCH_CHARS:
            size += len(self._lines[count]) + 1
            count += 1
        taken, self._lines = self._lines[:count], self._lines[count:]
        return taken

    def _beat(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self.send()
            except LeaseLost:
                logger.warning("run %s: lease lost, stopping it", self._run_id)
                return
            except (StoreUnavailable, StoreRefused) as error:
                logger.warning("run %s: progress not reported: %s", self._run_id, error)


class Worker:
    def __init__(self, settings: TrainerSettings, client: StoreClient) -> None:
        self._settings = settings
        self._client = client
        self._name = f"{socket.gethostname()}:{os.getpid()}"[:64]
        self._stopping = threading.Event()
        self._rasa: RasaProcess | None = None

    def run_forever(self) -> None:
        """Polls for runs until `stop`; nothing that happens to one run ends the loop."""
        failures = 0
        while not self._stopping.is_set():
            try:
                claim = self._client.claim(self._name)
            except Exception as error:  # the store down, refusing, or answering nonsense
                failures += 1
                delay = self.backoff(failures)
                logger.warning("claim failed (%s); next try in %.0f s", _describe(error), delay)
                self._stopping.wait(delay)
                continue
            failures = 0
            if claim is None:
                self._stopping.wait(self._settings.poll_seconds)
            else:
                self.handle(claim)

    def stop(self) -> None:
        """Stops polling and the current run; the store queues that run again when its
        lease runs out, so a restarted worker picks it up."""
        self._stopping.set()
        if self._rasa is not None:
            self._rasa.kill()

    def backoff(self, failures: int) -> float:
        """Waits that double from the poll interval up to the configured maximum."""
        base = max(1.0, self._settings.poll_seconds)
        return min(self._settings.retry_max_seconds, base * 2 ** min(failures - 1, 16))

    def handle(self, claim: Claim) -> None:
        """Runs one claimed run to its end, whatever that end is, and cleans up."""
        logger.info("run %s claimed", claim.run_id)
        space = workspace.workspace_for(self._settings.workspaces, claim.run_id)
        self._rasa = RasaProcess(
            self._settings.rasa, self._settings.root, self._settings.rasa_environment()
        )
        reporter = Reporter(
            self._client, claim.run_id, self._settings.heartbeat_seconds, self._rasa.kill
        )
        reporter.start()
        try:
            gate = self._stages(claim, space, reporter)
            logger.info("run %s trained; gate allowed: %s", claim.run_id, gate.get("allowed"))
        except (Stopped, LeaseLost):
            logger.warning("run %s left to the store (lease lost or worker stopping)", claim.run_id)
        except RunFailed as failure:
            self._report_failure(claim, reporter, str(failure))
        except Exception as error:
            logger.exception("run %s: %s failed", claim.run_id, reporter.stage)
            reporter.note(f"出错：{_describe(error)}")
            message = f"{STAGE_NAMES[reporter.stage]}时出错（{type(error).__name__}），详见日志"
            self._report_failure(claim, reporter, message)
        finally:
            reporter.stop()
            self._rasa.kill()
            workspace.remove(space)

    def _stages(self, claim: Claim, space: Workspace, reporter: Reporter) -> dict[str, Any]:
        self._begin("prepare", reporter)
        manifest = self.prepare(claim, space, reporter)
        self._begin("validate", reporter)
        self.validate(space, reporter)
        self._begin("train", reporter)
        self.train(space, reporter)
        self._begin("evaluate", reporter)
        candidate, live = self.evaluate(claim, space, reporter)
        self._begin("upload", reporter)
        return self.upload(claim, space, manifest, candidate, live, reporter)

    def _begin(self, stage: str, reporter: Reporter) -> None:
        """Stops if the run is no longer ours; else reports the new stage at once."""
        self._stop_if_lost(reporter)
        reporter.enter(stage)
        self._report(reporter)

    def _report(self, reporter: Reporter) -> None:
        try:
            reporter.send()
        except (StoreUnavailable, StoreRefused) as error:
            logger.warning("progress not reported: %s", error)

    def prepare(self, claim: Claim, space: Workspace, reporter: Reporter) -> Manifest:
        manifest = workspace.prepare(self._settings.root, space, claim.console_data)
        reporter.note(
            f"数据：提交 {manifest.git_commit or '未知'}"
            f"{'（有未提交的改动）' if manifest.git_dirty else ''}，"
            f"数据摘要 {manifest.data_digest[:12]}，控制台数据摘要 {manifest.console_digest[:12]}"
        )
        return manifest

    def validate(self, space: Workspace, reporter: Reporter) -> None:
        """Rasa's own validation, then the knowledge base's rules over the merged data."""
        arguments = ["data", "validate", *self._data_arguments(space), "--fail-on-warnings"]
        lines: list[str] = []
        status = self._run_rasa(arguments, reporter, lines.append)
        self._stop_if_lost(reporter)
        if status != 0:
            raise RunFailed(VALIDATION_FAILED + rasa_failure_reason(lines, space))
        reporter.advance(0.8)
        documents = [checks.load(space.domain), *checks.read_documents(space.data)]
        problems = checks.knowledge_base_problems(documents, checks.china_today())
        for problem in problems:
            reporter.note(f"数据问题：{problem}")
        if problems:
            raise RunFailed(validation_error(problems))

    def train(self, space: Workspace, reporter: Reporter) -> None:
        arguments = [
            "train",
            *self._data_arguments(space),
            "--out",
            str(space.models),
            "--fixed-model-name",
            space.model_name,
        ]
        progress = TrainingProgress(config_components(space.config))

        def follow(line: str) -> None:
            progress.feed(line)
            reporter.advance(progress.fraction)

        with self._training_lock(reporter):
            status = self._run_rasa(arguments, reporter, follow)
        self._stop_if_lost(reporter)
        if status != 0 or not space.model.is_file():
            raise RunFailed("模型训练失败，详见日志")

    def evaluate(
        self, claim: Claim, space: Workspace, reporter: Reporter
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Scores the candidate, then the live model, one loaded at a time."""
        files = self._settings.heldout_files
        models = 1 if claim.live_model is None else 2

        def progress_of(index: int) -> evaluation.Progress:
            return lambda done, total: reporter.advance((index + done / total) / models)

        candidate = evaluation.evaluate(space.model, files, progress_of(0))
        reporter.note(_evaluation_line("新模型", candidate))
        if claim.live_model is None:
            return candidate, None
        self._stop_if_lost(reporter)
        live_file = self.download_live_model(claim, space)
        live = evaluation.evaluate(live_file, files, progress_of(1))
        reporter.note(_evaluation_line("在用模型", live))
        return candidate, live

    def download_live_model(self, claim: Claim, space: Workspace) -> Path:
        assert claim.live_model is not None
        path = space.folder / f"live-{claim.live_model.id}.tar.gz"
        live = claim.live_model
        sha256 = self._retrying(
            lambda: self._client.download_model(live.id, path), claim.lease_seconds
        )
        if sha256 != live.sha256:
            raise RunFailed("下载的在用模型与登记的不一致，无法对比评分")
        return path

    def upload(
        self,
        claim: Claim,
        space: Workspace,
        manifest: Manifest,
        candidate: dict[str, Any],
        live: dict[str, Any] | None,
        reporter: Reporter,
    ) -> dict[str, Any]:
        run_id = claim.run_id
        model_id = self._retrying(
            lambda: self._client.upload_model(run_id, space.model, manifest.as_dict()),
            claim.lease_seconds,
        )
        reporter.note(f"模型已上传，编号 {model_id}")
        reporter.advance(0.5)
        self._stop_if_lost(reporter)
        self._report(reporter)
        return self._retrying(
            lambda: self._client.finish(run_id, model_id, candidate, live), claim.lease_seconds
        )

    def _report_failure(self, claim: Claim, reporter: Reporter, error: str) -> None:
        logger.warning("run %s failed at %s: %s", claim.run_id, reporter.stage, error)
        reporter.stop()
        reporter.note(f"失败：{error}")
        error = mask_personal_data(error)[:MAX_ERROR_CHARS]
        log = reporter.unsent()
        try:
            self._retrying(
                lambda: self._client.fail(claim.run_id, reporter.stage, error, log),
                claim.lease_seconds,
            )
        except (LeaseLost, StoreRefused, StoreUnavailable) as report_error:
            logger.warning("run %s: failure not reported: %s", claim.run_id, report_error)

    def _retrying(self, call: Callable[[], T], patience: float) -> T:
        """The call, tried again while the store cannot be reached, for `patience`
        seconds (the lease: after that the run is the store's to requeue anyway)."""
        deadline = time.monotonic() + patience
        failures = 0
        while True:
            try:
                return call()
            except StoreUnavailable as error:
                failures += 1
                delay = self.backoff(failures)
                if time.monotonic() + delay > deadline or self._stopping.is_set():
                    raise
                logger.warning("store unavailable (%s); trying again in %.0f s", error, delay)
                self._stopping.wait(delay)

    def _data_arguments(self, space: Workspace) -> list[str]:
        return [
            "--data",
            str(space.data),
            "--domain",
            str(space.domain),
            "--config",
            str(space.config),
        ]

    def _run_rasa(
        self, arguments: list[str], reporter: Reporter, follow: Callable[[str], None]
    ) -> int:
        """Runs rasa with its output in the run's log; `follow` sees every fragment of
        the output (a progress bar's redraws too)."""
        assert self._rasa is not None
        command = "rasa " + " ".join(itertools.takewhile(lambda a: a[:2] != "--", arguments))
        reporter.note("rasa " + " ".join(arguments))
        started = time.monotonic()

        def on_fragment(fragment: Fragment) -> None:
            follow(fragment[0])
            for line in log_lines(iter([fragment])):
                reporter.log(line)

        status = self._rasa.run(arguments, on_fragment)
        elapsed = time.monotonic() - started
        reporter.note(f"{command} 结束：退出码 {status}，用时 {elapsed:.0f} 秒")
        return status

    def _stop_if_lost(self, reporter: Reporter) -> None:
        if reporter.lease_lost.is_set() or self._stopping.is_set():
            raise Stopped

    @contextmanager
    def _training_lock(self, reporter: Reporter) -> Iterator[None]:
        """`make train`'s lock: one training at a time writes Rasa's shared cache."""
        with self._settings.train_lock.open("rb") as lock:
            waiting = False
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not waiting:
                        reporter.note("另一次训练（make train）正在进行，等它结束")
                        waiting = True
                    self._stop_if_lost(reporter)
                    time.sleep(1)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def config_components(config: Path) -> int:
    """How many components and policies the config trains (for the percent)."""
    document = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    return len(document.get("pipeline") or []) + len(document.get("policies") or [])


def validation_error(problems: list[str]) -> str:
    """The first problems, for the admin; the log lists all of them."""
    shown = "；".join(problems[:MAX_PROBLEMS_SHOWN])
    more = f"等 {len(problems)} 处" if len(problems) > MAX_PROBLEMS_SHOWN else ""
    return (VALIDATION_FAILED + shown + more)[:MAX_ERROR_CHARS]


def rasa_failure_reason(lines: list[str], space: Workspace) -> str:
    """Names the file Rasa's error is about when it names one, in the admin's words."""
    errors = [line for line in lines if "Error" in line or "Exception" in line]
    for line in reversed(errors):
        for path in sorted(space.data.rglob("*.yml")):
            if str(path) in line:
                name = path.relative_to(space.data).as_posix()
                if name == workspace.CONSOLE_FILE:
                    return "控制台提交的训练数据格式不对，详见日志"
                return f"仓库的训练数据文件 {name} 有问题，详见日志"
    return "Rasa 的数据检查报告了问题，详见日志"


def _evaluation_line(which: str, scores: dict[str, Any]) -> str:
    faq = scores["decisions"].get("faq", {})
    total = max(1, sum(faq.values()))
    return (
        f"{which}评分：{scores['examples']} 道测试题，准确率 {scores['accuracy']:.1%}，"
        f"政策问题直接答对 {faq.get('answered right', 0) / total:.1%}，"
        f"答错 {faq.get('answered wrong', 0) / total:.1%}"
    )


def _text(lines: list[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


def _describe(error: BaseException) -> str:
    return mask_personal_data(f"{type(error).__name__}: {error}")[:300]

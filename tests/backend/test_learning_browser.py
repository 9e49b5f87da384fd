"""The admin's path through 训练与模型 in a real browser (Debian's chromium, headless),
with the real training worker (`python -m trainer`, the Rasa venv) training a real model:
start a training, watch its progress and log, read the comparison with the live model,
activate it, roll back. Screenshots go to artifacts/learning/.

The model trained by `make train` must exist (the main test run trains it first)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_helpers import Console, fill, no_console_errors, page_fits, running_console, wait_for
from cryptography.fernet import Fernet
from learning_helpers import ADMIN
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from store_helpers import SERVICE_TOKEN, STAFF_TOKEN, TRAINER_TOKEN, capture_body

from backend.api.common import INBOX, REGISTRY, STORE
from backend.config import Settings
from backend.console.accounts import Accounts
from backend.inbox.operations import Handling
from backend.inbox.states import ASSIGNED
from backend.throttling import ThrottlePolicy
from tests.chromium import start_chromium

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "learning"
PASSWORD = "browser test password"
TRAINING_SECONDS = 900


def repository_model() -> Path:
    models = sorted((ROOT / "bot" / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        pytest.fail("no model in bot/models: run `make train` (the main test run does)")
    return models[-1]


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    folder = tmp_path_factory.mktemp("learning-browser")
    settings = Settings(
        database_url=f"sqlite:///{folder}/store.db",
        service_token=SERVICE_TOKEN,
        staff_token=STAFF_TOKEN,
        trainer_token=TRAINER_TOKEN,
        models_dir=folder / "models",
        encryption_key=Fernet.generate_key().decode(),
        hash_key="hash-key-for-browser-tests-0123",
    )
    with running_console(settings) as console:
        app = console.server.runner.app
        store = app[STORE]
        accounts = Accounts(
            store.sessions, store.cipher, ThrottlePolicy.for_logins(settings), store.clock
        )
        console.run(accounts.create("chief", "周主任", PASSWORD, "admin", None, ADMIN))
        console.run(app[REGISTRY].import_repository_model(repository_model(), {}))
        captured = console.api("/inbox/items", capture_body("老年人补贴好多钱"))
        handling = Handling(ASSIGNED, label="faq/senior_allowance")
        console.run(app[INBOX].handle(captured["group_id"], handling, ADMIN))
        worker = start_worker(console.url, folder)
        try:
            yield console
        finally:
            worker.terminate()
            worker.wait(30)


def start_worker(store_url: str, folder: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "STORE_URL": store_url,
        "STORE_TRAINER_TOKEN": TRAINER_TOKEN,
        "TRAINER_POLL_SECONDS": "1",
        "TRAINER_WORKSPACES": str(folder / "training"),
    }
    log = (folder / "trainer.log").open("ab")
    return subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "trainer"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    driver = start_chromium(tmp_path_factory.mktemp("chromium"), (1366, 768), "--lang=zh-CN")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: WebDriver, name: str) -> None:
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def served_model(console: Console) -> str:
    request = urllib.request.Request(
        console.url + "/models/active", headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return hashlib.sha256(response.read()).hexdigest()


def active_row(driver: WebDriver) -> str:
    return driver.find_element(By.CSS_SELECTOR, "tr.model-active").get_attribute("data-model")


def test_an_admin_trains_compares_activates_and_rolls_back(
    console: Console, browser: WebDriver
) -> None:
    before = served_model(console)
    browser.get(console.url + "/console/learning")
    wait_for(browser, lambda d: "/console/login" in d.current_url)
    fill(browser, "input[name=username]", "chief")
    fill(browser, "input[name=password]", PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(browser, lambda d: d.current_url.endswith("/console/learning"))
    section = browser.find_element(By.ID, "next-training").text
    assert "faq/senior_allowance" in section
    first_model = active_row(browser)
    shot(browser, "01-what-the-next-training-learns")

    browser.find_element(By.ID, "start-training").click()
    wait_for(browser, lambda d: "/console/learning/runs/" in d.current_url)
    # The page follows the run by itself: the stage and the log change without a reload.
    WebDriverWait(browser, TRAINING_SECONDS).until(
        lambda d: d.find_element(By.ID, "run-stage").text == "训练"
    )
    # The worker notes the command when rasa starts (after any other training's lock).
    WebDriverWait(browser, TRAINING_SECONDS).until(
        lambda d: "rasa train" in d.find_element(By.ID, "run-log").text
    )
    assert int(browser.find_element(By.ID, "run-percent").get_attribute("value")) < 100
    shot(browser, "02-training-in-progress")

    verdict = (
        WebDriverWait(browser, TRAINING_SECONDS)
        .until(lambda d: d.find_elements(By.ID, "gate-verdict"))[0]
        .text
    )
    assert "可以启用" in verdict, verdict
    shot(browser, "03-comparison")
    browser.find_element(By.ID, "activate").click()
    wait_for(browser, lambda d: d.current_url.endswith("/console/learning"))
    new_model = active_row(browser)
    assert new_model != first_model
    assert served_model(console) != before
    shot(browser, "04-activated")

    browser.find_element(By.ID, "rollback").click()
    wait_for(browser, lambda d: active_row(d) == first_model)
    assert served_model(console) == before
    assert "回退到模型" in browser.find_element(By.CSS_SELECTOR, "ul.events").text
    shot(browser, "05-rolled-back")
    assert page_fits(browser)
    assert no_console_errors(browser) == []

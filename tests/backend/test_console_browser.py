"""The staff console in a real browser (Debian's chromium, headless) against a real store
on loopback: log in, answer a grouped inbox question, take a handoff and talk live, move
an application (its notice is queued for the resident), close a 差评 task, read the
dashboard — on a 1366×768 office screen and a tablet. Screenshots go to artifacts/console/.

Without chromium the tests fail rather than skip: the console is untested otherwise.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from browser_helpers import (
    Console,
    fill,
    no_console_errors,
    page_fits,
    running_console,
    screen,
    wait_for,
)
from cryptography.fernet import Fernet
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select
from store_helpers import SERVICE_TOKEN, STAFF_TOKEN, application_body, capture_body

from backend.api.common import STORE
from backend.config import Settings
from backend.console.accounts import Accounts
from backend.console.audit import Actor
from backend.throttling import ThrottlePolicy
from backend.tracking import CHINA_TZ
from tests.chromium import start_chromium

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "console"
OFFICE = (1366, 768)
TABLET = (768, 1024)
PASSWORD = "browser test password"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """The store in a thread of its own (the browser's calls block this one)."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path_factory.mktemp('console')}/store.db",
        service_token=SERVICE_TOKEN,
        staff_token=STAFF_TOKEN,
        encryption_key=Fernet.generate_key().decode(),
        hash_key="hash-key-for-browser-tests-0123",
        # Staff are at work whenever the test runs (on a holiday the handoff waits for a
        # message instead, which the test covers too).
        office_hours="00:00-23:59",
    )
    with running_console(settings) as console:
        store = console.server.runner.app[STORE]
        accounts = Accounts(
            store.sessions, store.cipher, ThrottlePolicy.for_logins(settings), store.clock
        )
        setup = Actor(None, "test-setup", None)
        console.run(accounts.create("chief", "周主任", PASSWORD, "admin", None, setup))
        yield console


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    driver = start_chromium(tmp_path_factory.mktemp("chromium"), OFFICE, "--lang=zh-CN")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: WebDriver, name: str) -> None:
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def log_in(driver: WebDriver, console: Console) -> None:
    driver.get(console.url + "/console/inbox")
    wait_for(driver, lambda d: "/console/login" in d.current_url)
    shot(driver, "01-login")
    fill(driver, "input[name=username]", "chief")
    fill(driver, "input[name=password]", PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(driver, lambda d: d.current_url.endswith("/console/inbox"))


def test_a_staff_day_in_the_console(console: Console, browser: WebDriver) -> None:
    for question, resident in (
        ("老年证要带啥子东西嘛", "a"),
        ("老年证要带啥子东西？", "b"),
        ("老年证 要带啥子东西哦", "c"),
        ("我家猫跑了咋个办", "d"),
    ):
        console.api(
            "/inbox/items",
            capture_body(question, conversation_id=f"rest:default:{resident}"),
        )
    log_in(browser, console)

    # The inbox: three wordings are one row with its count, the chart is drawn.
    # The click's navigation may still be loading: wait for the listing itself.
    rows = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "table.groups tbody tr a"))
    rows = browser.find_elements(By.CSS_SELECTOR, "table.groups tbody tr")
    shot(browser, "02-inbox")
    assert len(rows) == 2
    assert {row.find_element(By.CSS_SELECTOR, "td.num").text for row in rows} == {"1", "3"}
    wait_for(browser, lambda d: d.find_element(By.ID, "per-day-chart").get_attribute("data-drawn"))
    shot(browser, "02-inbox")

    # Answer the group of three.
    next(
        row for row in rows if row.find_element(By.CSS_SELECTOR, "td.num").text == "3"
    ).find_element(By.TAG_NAME, "a").click()
    fill(
        browser, "textarea[name=reply]", "老年证带身份证和一张照片，到户籍所在乡镇便民服务中心办。"
    )
    shot(browser, "03-inbox-group")
    browser.find_element(By.CSS_SELECTOR, "textarea[name=reply] ~ button").click()
    wait_for(browser, lambda d: "已回复" in d.find_element(By.TAG_NAME, "h1").text)
    claimed = console.api(
        "/notifications/claim",
        {"channels": ["rest"], "limit": 20, "lease_seconds": 30, "worker_id": "browser-test"},
    )
    replies = [n for n in claimed["notifications"] if n["kind"] == "staff_reply"]
    assert sorted(n["conversation_id"] for n in replies) == [
        "rest:default:a",
        "rest:default:b",
        "rest:default:c",
    ]

    # A handoff: take it, the resident's message appears live, answer, hand back.
    ticket = console.api(
        "/handoffs", {"conversation_id": "wechat:browser-resident", "reason": "asked"}
    )
    console.api("/handoffs/route", {"conversation_id": "wechat:browser-resident", "text": "在吗"})
    browser.get(console.url + "/console/handoffs")
    browser.find_element(By.CSS_SELECTOR, f"a[href='/console/handoffs/{ticket['id']}']").click()
    browser.find_element(By.CSS_SELECTOR, "form[action$='/take'] button").click()
    wait_for(browser, lambda d: "人工处理中" in d.find_element(By.ID, "handoff-state").text)
    console.api(
        "/handoffs/route",
        {"conversation_id": "wechat:browser-resident", "text": "我妈的低保卡这个月没到账"},
    )
    wait_for(
        browser,
        lambda d: "没到账" in d.find_element(By.ID, "handoff-messages").text,
    )
    fill(browser, "textarea[name=text]", "您好，我帮您查一下，请稍等。")
    browser.find_element(By.CSS_SELECTOR, "form.say button").click()
    wait_for(browser, lambda d: "帮您查一下" in d.find_element(By.ID, "handoff-messages").text)
    shot(browser, "04-handoff")
    browser.find_element(By.CSS_SELECTOR, "form[action$='/close'] button").click()
    wait_for(browser, lambda d: d.current_url.endswith("/console/handoffs"))
    route = console.api(
        "/handoffs/route", {"conversation_id": "wechat:browser-resident", "text": "谢谢"}
    )
    assert route["to_staff"] is False  # the assistant answers again

    # An application moves on; the resident's notice is queued on their channel.
    created = _create_application(console)
    browser.get(console.url + f"/console/applications/{created}")
    Select(browser.find_element(By.CSS_SELECTOR, "select[name=status]")).select_by_value(
        "township_review"
    )
    browser.find_element(By.CSS_SELECTOR, "form[action$='/transition'] button").click()
    wait_for(browser, lambda d: "乡镇预审" in d.find_element(By.TAG_NAME, "h1").text)
    shot(browser, "05-application")
    notices = console.api(
        "/notifications/claim",
        {"channels": ["rest"], "limit": 20, "lease_seconds": 30, "worker_id": "browser-test"},
    )["notifications"]
    assert any(
        n["kind"] == "status_change" and created in n["text"] and "乡镇预审" in n["text"]
        for n in notices
    )

    # A 差评 is called back and put right.
    for status in ("district_review", "approved"):
        console.api(
            f"/staff/applications/{created}/transitions",
            {"status": status, "actor": "staff:test"},
            token=STAFF_TOKEN,
        )
    rated = console.api(
        "/handoffs/route", {"conversation_id": "rest:browser", "text": "非常不满意 等太久了"}
    )
    assert rated["rated"] == "very_dissatisfied"
    browser.get(console.url + "/console/ratings")
    browser.find_element(By.CSS_SELECTOR, "table a.button").click()
    fill(browser, "textarea[name=notes]", "已电话回访，居民反映窗口排队太久。")
    browser.find_element(By.CSS_SELECTOR, "form.step button").click()
    wait_for(browser, lambda d: "整改中" in d.find_element(By.TAG_NAME, "h1").text)
    fill(browser, "textarea[name=notes]", "增开一个窗口，已告知居民。")
    browser.find_element(By.CSS_SELECTOR, "form.step button").click()
    wait_for(browser, lambda d: "已整改" in d.find_element(By.TAG_NAME, "h1").text)
    shot(browser, "06-rating")

    # The dashboard, on the office screen and on a tablet.
    console.api(
        "/metrics/turns",
        {
            "batch_id": uuid.uuid4().hex,
            "counts": [
                {"day": _today(), "channel": "wechat", "outcome": "answered", "count": 40},
                {"day": _today(), "channel": "wechat", "outcome": "clarified", "count": 5},
                {"day": _today(), "channel": "rest", "outcome": "fallback", "count": 4},
            ],
        },
    )
    browser.get(console.url + "/console/dashboard")
    wait_for(browser, lambda d: d.find_element(By.ID, "turns-chart").get_attribute("data-drawn"))
    assert "按时率" in browser.find_element(By.ID, "table-rectifications").text
    assert page_fits(browser)
    shot(browser, "07-dashboard-1366x768")
    for path, name in (
        ("/console/dashboard", "08-dashboard-tablet"),
        ("/console/inbox", "09-inbox-tablet"),
        (f"/console/applications/{created}", "10-application-tablet"),
    ):
        screen(browser, TABLET)
        browser.get(console.url + path)
        assert page_fits(browser), path
        shot(browser, name)
    assert no_console_errors(browser) == []


def _create_application(console: Console) -> str:
    body = application_body(conversation_id="rest:browser")
    request = urllib.request.Request(
        console.url + "/applications",
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {SERVICE_TOKEN}",
            "Content-Type": "application/json",
            "Idempotency-Key": uuid.uuid4().hex,
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["tracking_number"]


def _today() -> str:
    return datetime.now(CHINA_TZ).date().isoformat()

"""The widget in a real browser (Debian's chromium, headless) against a real Rasa server.

Needs `apt-get install -y chromium chromium-driver`. Without them the tests fail rather
than skip: the widget is untested otherwise. Screenshots go to artifacts/.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from connectors.webchat import STATIC_DIR

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# The demo page embeds the widget from the embedded setup's Rasa server.
DEMO_RASA_URL = "http://127.0.0.1:5005"
SERVER_START_SECONDS = 300  # loading the model takes ~40 s alone, more on a busy machine
REPLY_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_url(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url} exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError as error:
            pytest.fail(f"{url} answered {error.code}:\n{log.read_text()[-3000:]}")
        except OSError:
            time.sleep(1)
    pytest.fail(f"{url} did not start in {SERVER_START_SECONDS} s:\n{log.read_text()[-3000:]}")


@dataclass
class Servers:
    page_url: str
    foreign_page_url: str
    foreign_origin: str
    rasa_log: Path


def serve_demo_page(rasa_url: str) -> ThreadingHTTPServer:
    """The demo page on its own loopback origin, pointing at the test's Rasa server."""
    page = (STATIC_DIR / "demo.html").read_text(encoding="utf-8").replace(DEMO_RASA_URL, rasa_url)
    body = page.encode("utf-8")

    class DemoPage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            """Keep the test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), DemoPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, model_path: Path) -> Iterator[Servers]:
    tmp = tmp_path_factory.mktemp("webchat")
    rasa_port, actions_port = free_port(), free_port()
    rasa_url = f"http://127.0.0.1:{rasa_port}"
    page, foreign = serve_demo_page(rasa_url), serve_demo_page(rasa_url)
    page_origin = f"http://127.0.0.1:{page.server_port}"
    foreign_origin = f"http://127.0.0.1:{foreign.server_port}"

    credentials, endpoints = tmp / "credentials.yml", tmp / "endpoints.yml"
    credentials.write_text(
        f'connectors.webchat.WebChatInput:\n  allowed_origins: "{page_origin}"\n'
    )
    endpoints.write_text(f'action_endpoint:\n  url: "http://127.0.0.1:{actions_port}/webhook"\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RASA_TELEMETRY_ENABLED": "false"}
    venv = ROOT / ".venv" / "bin"
    actions_log, rasa_log = tmp / "actions.log", tmp / "rasa.log"
    with actions_log.open("wb") as actions_out, rasa_log.open("wb") as rasa_out:
        actions = subprocess.Popen(
            [venv / "python", "-m", "rasa_sdk", "--actions", "bot.actions"]
            + ["--port", str(actions_port)],
            cwd=ROOT,
            env={**env, "SANIC_HOST": "127.0.0.1"},
            stdout=actions_out,
            stderr=subprocess.STDOUT,
        )
        rasa = subprocess.Popen(
            [venv / "rasa", "run", "--model", str(model_path), "--interface", "127.0.0.1"]
            + ["--port", str(rasa_port), "--credentials", str(credentials)]
            + ["--endpoints", str(endpoints)],
            cwd=ROOT,
            env=env,
            stdout=rasa_out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_url(f"http://127.0.0.1:{actions_port}/health", actions, actions_log)
        wait_for_url(f"{rasa_url}/webhooks/socketio/widget.js", rasa, rasa_log)
        yield Servers(
            page_url=f"{page_origin}/demo/",
            foreign_page_url=f"{foreign_origin}/demo/",
            foreign_origin=foreign_origin,
            rasa_log=rasa_log,
        )
    finally:
        for process in (rasa, actions):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        page.shutdown()
        foreign.shutdown()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: apt-get install -y chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        # A narrow phone screen: the widget must work at 360 px.
        "--window-size=360,800",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    # Both paths given: Selenium Manager (which would download drivers) is not used.
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver: WebDriver, condition: str, seconds: float = REPLY_SECONDS) -> None:
    """Wait until a JavaScript expression over the page is truthy."""
    WebDriverWait(driver, seconds).until(lambda d: d.execute_script(f"return {condition}"))


def widget_state(driver: WebDriver, state: str, seconds: float = REPLY_SECONDS) -> None:
    wait(driver, f"document.querySelector('.daan-chat[data-state=\"{state}\"]')", seconds)


def messages(driver: WebDriver) -> list[tuple[str, str]]:
    return [
        (node.get_attribute("class").split("--")[-1], node.text)
        for node in driver.find_elements(By.CSS_SELECTOR, ".daan-chat__msg")
    ]


def count(driver: WebDriver, selector: str) -> str:
    return f"document.querySelectorAll('{selector}').length"


def ask(driver: WebDriver, text: str) -> None:
    bot_before = len(driver.find_elements(By.CSS_SELECTOR, ".daan-chat__msg--bot"))
    field = driver.find_element(By.ID, "daan-chat-input")
    field.send_keys(text)
    driver.find_element(By.CSS_SELECTOR, ".daan-chat__send").click()
    wait(driver, f"{count(driver, '.daan-chat__msg--bot')} > {bot_before}")


def font_size(driver: WebDriver) -> float:
    size = driver.execute_script(
        "return getComputedStyle(document.querySelector('.daan-chat__msg')).fontSize"
    )
    return float(size.removesuffix("px"))


def test_conversation_buttons_reload_and_large_text(servers: Servers, browser: WebDriver) -> None:
    browser.get(servers.page_url)
    widget_state(browser, "online")

    ask(browser, "低保要带啥子材料")
    who, answer = messages(browser)[-1]
    assert who == "bot"
    assert "没太听明白" not in answer, answer

    ask(browser, "你好")
    choice = browser.find_element(By.CSS_SELECTOR, ".daan-chat__choice")
    title = choice.text
    bot_before = len(browser.find_elements(By.CSS_SELECTOR, ".daan-chat__msg--bot"))
    choice.click()
    wait(browser, f"{count(browser, '.daan-chat__msg--bot')} > {bot_before}")
    shown = messages(browser)
    assert ("user", f"我：{title}") in shown
    assert shown[-1][0] == "bot"
    # Nothing wider than a 360 px phone screen: no sideways scrolling.
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth"
    )
    browser.save_screenshot(str(ARTIFACTS / "webchat-conversation.png"))

    session = browser.execute_script("return localStorage.getItem('daan-chat:session')")
    browser.refresh()
    widget_state(browser, "online")
    assert messages(browser) == shown
    assert browser.execute_script("return localStorage.getItem('daan-chat:session')") == session

    standard = font_size(browser)
    browser.find_element(By.CSS_SELECTOR, ".daan-chat__sizes [data-size='xlarge']").click()
    assert font_size(browser) >= standard * 1.5
    browser.refresh()
    widget_state(browser, "online")
    assert font_size(browser) >= standard * 1.5, "the text size choice is remembered"
    # After a reload the newest message is in view, not the first one.
    wait(
        browser,
        "(l => l.scrollTop + l.clientHeight >= l.scrollHeight - 2)"
        "(document.querySelector('.daan-chat__log'))",
    )
    browser.save_screenshot(str(ARTIFACTS / "webchat-large-text.png"))


def test_page_from_another_origin_cannot_open_socket(servers: Servers, browser: WebDriver) -> None:
    browser.get(servers.foreign_page_url)
    # The widget loads (a script tag needs no permission) but its socket is refused.
    widget_state(browser, "offline")
    time.sleep(2)  # time for a retry that must not succeed either
    assert browser.execute_script("return document.querySelector('.daan-chat').dataset.state") == (
        "offline"
    )
    assert not browser.find_element(By.CSS_SELECTOR, ".daan-chat__send").is_enabled()
    browser.save_screenshot(str(ARTIFACTS / "webchat-foreign-origin.png"))
    log = servers.rasa_log.read_text(errors="replace")
    assert f"{servers.foreign_origin} is not an accepted origin" in log

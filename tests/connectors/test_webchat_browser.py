"""The widget in a real browser (Debian's chromium, headless) against a real Rasa server.

Needs `apt-get install -y chromium chromium-driver`. Without them the tests fail rather
than skip: the widget is untested otherwise. Screenshots go to artifacts/.
"""

from __future__ import annotations

import threading
import time
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
from tests.servers import Stack, free_port, running_stack

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# The demo page embeds the widget from the embedded setup's Rasa server.
DEMO_RASA_URL = "http://127.0.0.1:5005"
REPLY_SECONDS = 30


@dataclass
class Servers:
    page_url: str
    foreign_page_url: str
    foreign_origin: str
    stack: Stack


def serve_demo_page(rasa: dict[str, str]) -> ThreadingHTTPServer:
    """The demo page on its own loopback origin, pointing at the test's Rasa server.

    The Rasa server's address is read per request: it is known only once the server has
    been started, and starting it needs the page's origin.
    """
    template = (STATIC_DIR / "demo.html").read_text(encoding="utf-8")

    class DemoPage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = template.replace(DEMO_RASA_URL, rasa["url"]).encode("utf-8")
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
    rasa: dict[str, str] = {}
    page, foreign = serve_demo_page(rasa), serve_demo_page(rasa)
    page_origin = f"http://127.0.0.1:{page.server_port}"
    foreign_origin = f"http://127.0.0.1:{foreign.server_port}"
    credentials = (
        "connectors.rest.RestInput:\n"
        f'connectors.webchat.WebChatInput:\n  allowed_origins: "{page_origin}"\n'
    )
    try:
        with running_stack(tmp_path_factory.mktemp("webchat"), model_path, credentials) as stack:
            rasa["url"] = stack.rasa_url
            yield Servers(
                page_url=f"{page_origin}/demo/",
                foreign_page_url=f"{foreign_origin}/demo/",
                foreign_origin=foreign_origin,
                stack=stack,
            )
    finally:
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
    log = servers.stack.logs["rasa-0"].read_text(errors="replace")
    assert f"{servers.foreign_origin} is not an accepted origin" in log


def test_conversation_survives_a_server_restart(servers: Servers, browser: WebDriver) -> None:
    browser.get(servers.page_url)
    widget_state(browser, "online")
    ask(browser, "老年证好多岁能办")
    shown = messages(browser)

    servers.stack.stop("rasa-0")
    # The resident sees that the connection is gone, and keeps the conversation.
    widget_state(browser, "offline")
    assert messages(browser) == shown
    browser.save_screenshot(str(ARTIFACTS / "webchat-server-down.png"))

    servers.stack.start("rasa-0")
    # socket.io reconnects by itself; the page is not reloaded.
    widget_state(browser, "online")
    assert messages(browser)[: len(shown)] == shown
    ask(browser, "谢谢")
    assert messages(browser)[-1][0] == "bot"

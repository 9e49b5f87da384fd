"""The widget in a real browser (Debian's chromium, headless) against a real Rasa server.

Needs `apt-get install -y chromium chromium-driver fonts-wqy-microhei` (a Chinese font:
without one, characters have no real width to measure). Without chromium the tests fail
rather than skip: the widget is untested otherwise.

Layout is asserted on computed values on phone-sized screens (360 and 390 px wide, each
text size): text and tap-target sizes, how many characters the input shows, and how
much of a long answer is on screen right after it arrives. Screenshots and the measured
figures go to artifacts/.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from connectors.webchat import STATIC_DIR
from tests.chromium import start_chromium
from tests.servers import Stack, free_port, running_stack

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
# The demo page embeds the widget from the embedded setup's Rasa server.
DEMO_RASA_HOST = "127.0.0.1:5005"
# An empty page on the demo's origin, to set localStorage before the widget loads.
BLANK_PATH = "/blank"
REPLY_SECONDS = 30

# Phone screens in CSS px: a common Android size and a common iPhone size.
PHONES = {360: 740, 390: 844}
# Text size → (font size in px, smallest tap target in px).
SIZES = {"standard": (18, 48), "large": (24, 60), "xlarge": (30, 60)}
LONG_QUESTION = "低保要带啥子材料"  # answered by the longest kind of FAQ answer
ID_NUMBER = "510302198001011234"
MOBILE = "13812345678"


@dataclass
class Servers:
    page_url: str
    blank_url: str
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
            if self.path == BLANK_PATH:
                body = b"<!doctype html><title>blank</title>"
            else:
                # Every mention of the server, its socket's ws:// address in the
                # page's security policy included.
                body = template.replace(DEMO_RASA_HOST, rasa["url"].split("//")[1])
                body = body.encode("utf-8")
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
        "connectors.rest.RestInput:\n  authentication: none\n"
        f'connectors.webchat.WebChatInput:\n  allowed_origins: "{page_origin}"\n'
    )
    try:
        with running_stack(tmp_path_factory.mktemp("webchat"), model_path, credentials) as stack:
            rasa["url"] = stack.rasa_url
            yield Servers(
                page_url=f"{page_origin}/demo/",
                blank_url=f"{page_origin}{BLANK_PATH}",
                foreign_page_url=f"{foreign_origin}/demo/",
                foreign_origin=foreign_origin,
                stack=stack,
            )
    finally:
        page.shutdown()
        foreign.shutdown()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    # Headless windows are at least 500 px wide: tests that need a phone's screen set it
    # exactly with `phone`.
    driver = start_chromium(tmp_path_factory.mktemp("chromium"), (360, 800))
    driver.set_script_timeout(REPLY_SECONDS)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def phone(driver: WebDriver, width: int, height: int) -> None:
    """Lay pages out as on a phone screen of this size (CSS px), as DevTools does."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True},
    )


@pytest.fixture
def on_phone(browser: WebDriver) -> Iterator[WebDriver]:
    """The browser, whose screen a test may set with `phone`; back to the window after."""
    try:
        yield browser
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


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


def greeted(driver: WebDriver) -> None:
    """Wait for the welcome a fresh conversation opens with (a bot message, nothing pending)."""
    widget_state(driver, "online")
    wait(
        driver,
        f"{count(driver, '.daan-chat__msg--bot')} > 0"
        " && !document.querySelector('.daan-chat__typing')",
    )


def open_fresh(driver: WebDriver, servers: Servers, size: str = "standard") -> None:
    """Open the demo page as a first-time visitor who has chosen a text size."""
    driver.get(servers.blank_url)
    driver.execute_script(
        "localStorage.clear(); localStorage.setItem('daan-chat:size', JSON.stringify(arguments[0]))",
        size,
    )
    driver.get(servers.page_url)
    greeted(driver)


def font_size(driver: WebDriver) -> float:
    size = driver.execute_script(
        "return getComputedStyle(document.querySelector('.daan-chat__msg')).fontSize"
    )
    return float(size.removesuffix("px"))


def stored_history(driver: WebDriver) -> str:
    return driver.execute_script("return localStorage.getItem('daan-chat:history') || ''")


def stored(driver: WebDriver, key: str) -> Any:
    """A value the widget keeps in localStorage (as JSON)."""
    value = driver.execute_script(f"return localStorage.getItem('daan-chat:{key}')")
    return None if value is None else json.loads(value)


def events_on_server(stack: Stack, conversation: str) -> list[dict[str, Any]]:
    url = f"{stack.rasa_url}/conversations/{conversation}/tracker?token={stack.api_token}"
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)["events"]


def user_texts_on_server(stack: Stack, conversation: str) -> list[str]:
    """What the resident said in this conversation, as Rasa stored it."""
    events = events_on_server(stack, conversation)
    return [event["text"] for event in events if event["event"] == "user"]


def reply_complete(driver: WebDriver, stack: Stack) -> None:
    """Wait until every message of the bot's last turn is on the page: the turn is over
    on the server (it listens again) and the page shows as many messages after the
    resident's last one as the server sent."""
    last_look: dict[str, Any] = {}

    def complete(_: WebDriver) -> bool:
        events = events_on_server(stack, f"socketio:{stored(driver, 'session')}")
        shown = [who for who, _ in messages(driver)]
        last_look.update(events=events[-8:], shown=shown)
        if not events or events[-1].get("name") != "action_listen":
            return False
        last_user = max(i for i, event in enumerate(events) if event["event"] == "user")
        sent = sum(event["event"] == "bot" for event in events[last_user:])
        return shown[::-1].index("user") == sent

    try:
        WebDriverWait(driver, REPLY_SECONDS).until(complete)
    except TimeoutException:
        raise AssertionError(f"the reply did not complete: {last_look}") from None


def welcome() -> tuple[str, list[str]]:
    """The bot's welcome as staff wrote it in the domain: text and button titles."""
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    greet = domain["responses"]["utter_greet"][0]
    return greet["text"], [button["title"] for button in greet.get("buttons", [])]


# Where a node is and how much of it can be seen: the screen, cut by any scrolling box
# around it. Defined on the page, so a measurement is one synchronous look.
MEASURE_JS = """
window.daanMeasure = (node) => {
  const r = node.getBoundingClientRect();
  let top = 0, bottom = document.documentElement.clientHeight;
  for (let box = node.parentElement; box && box !== document.body; box = box.parentElement) {
    if (!/auto|scroll|hidden/.test(getComputedStyle(box).overflowY)) continue;
    const b = box.getBoundingClientRect();
    top = Math.max(top, b.top + box.clientTop);
    bottom = Math.min(bottom, b.top + box.clientTop + box.clientHeight);
  }
  const visible = Math.max(0, Math.min(r.bottom, bottom) - Math.max(r.top, top));
  const style = getComputedStyle(node);
  const inner = node.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return {
    top: r.top, bottom: r.bottom, height: r.height, clip_top: top, clip_bottom: bottom,
    share: visible / r.height, chars_per_line: inner / parseFloat(style.fontSize),
  };
};
"""

# Resolves with the measurement of the next bot message, taken as soon as it is in the
# page: after the widget's own handling of the arrival, before anything else runs.
ARRIVAL_JS = """
const log = document.querySelector('.daan-chat__log');
const before = log.querySelectorAll('.daan-chat__msg--bot').length;
window.daanArrival = new Promise((resolve) => {
  new MutationObserver((_, observer) => {
    const bots = log.querySelectorAll('.daan-chat__msg--bot');
    if (bots.length > before) {
      observer.disconnect();
      resolve(window.daanMeasure(bots[bots.length - 1]));
    }
  }).observe(log, { childList: true });
});
"""


def measure_answer(driver: WebDriver, question: str) -> dict[str, float]:
    """Ask as a resident does and measure the answer the moment it arrives."""
    driver.execute_script(MEASURE_JS + ARRIVAL_JS)
    driver.find_element(By.ID, "daan-chat-input").send_keys(question)
    driver.find_element(By.CSS_SELECTOR, ".daan-chat__send").click()
    return driver.execute_async_script("window.daanArrival.then(arguments[0])")


LAYOUT_JS = """
const px = (node, property) => parseFloat(getComputedStyle(node)[property]);
const box = (node) => {
  const r = node.getBoundingClientRect();
  return { top: r.top, bottom: r.bottom, left: r.left, right: r.right,
           width: r.width, height: r.height };
};
const input = document.getElementById('daan-chat-input');
const inputText = input.clientWidth - px(input, 'paddingLeft') - px(input, 'paddingRight');
const all = (selector) => [...document.querySelectorAll(selector)].map(box);
return {
  font_size: px(document.querySelector('.daan-chat__msg'), 'fontSize'),
  line_height: px(document.querySelector('.daan-chat__msg'), 'lineHeight'),
  input_chars: inputText / px(input, 'fontSize'),
  input: box(input),
  send: box(document.querySelector('.daan-chat__send')),
  sizes: all('.daan-chat__sizes button'),
  choices: all('.daan-chat__choice'),
  clear: box(document.querySelector('.daan-chat__clear')),
  viewport_height: document.documentElement.clientHeight,
  page_fits_width: document.documentElement.scrollWidth <= window.innerWidth,
  choice_weight: document.querySelector('.daan-chat__choice')
    ? getComputedStyle(document.querySelector('.daan-chat__choice')).fontWeight : null,
  colours: [...document.querySelectorAll('.daan-chat__msg')].map((node) => {
    const style = getComputedStyle(node);
    return [style.color, style.backgroundColor];
  }),
};
"""


def luminance(colour: str) -> float:
    channels = [int(part) / 255 for part in re.findall(r"\d+", colour)[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def record(name: str, figures: dict[str, Any]) -> None:
    (ARTIFACTS / f"{name}.json").write_text(
        json.dumps(figures, ensure_ascii=False, indent=1), encoding="utf-8"
    )


def test_conversation_buttons_reload_and_large_text(servers: Servers, on_phone: WebDriver) -> None:
    browser = on_phone
    phone(browser, 360, PHONES[360])
    open_fresh(browser, servers)

    ask(browser, LONG_QUESTION)
    who, answer = messages(browser)[-1]
    assert who == "bot"
    assert "没太听明白" not in answer, answer

    ask(browser, "你好")
    choice = browser.find_element(By.CSS_SELECTOR, ".daan-chat__choice")
    title = choice.text
    bot_before = len(browser.find_elements(By.CSS_SELECTOR, ".daan-chat__msg--bot"))
    choice.click()
    wait(browser, f"{count(browser, '.daan-chat__msg--bot')} > {bot_before}")
    # The reply to a choice may come as several messages.
    reply_complete(browser, servers.stack)
    shown = messages(browser)
    assert ("user", f"我：{title}") in shown
    assert shown[-1][0] == "bot"
    # Nothing wider than a 360 px phone screen: no sideways scrolling.
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth"
    )
    browser.save_screenshot(str(ARTIFACTS / "webchat-conversation.png"))

    session, token = stored(browser, "session"), stored(browser, "token")
    assert token.split(".")[1] == session, "the server's token for the server's session"
    browser.refresh()
    widget_state(browser, "online")
    assert messages(browser) == shown, "no second welcome in a conversation that has one"
    assert stored(browser, "session") == session
    # After the reload the widget rejoined its conversation on the server with the token.
    ask(browser, "老年证好多岁能办")
    said = user_texts_on_server(servers.stack, f"socketio:{session}")
    assert said[0] == "你好" and LONG_QUESTION in said and said[-1] == "老年证好多岁能办", said

    standard = font_size(browser)
    browser.find_element(By.CSS_SELECTOR, ".daan-chat__sizes [data-size='xlarge']").click()
    assert font_size(browser) >= standard * 1.5
    browser.refresh()
    widget_state(browser, "online")
    assert font_size(browser) >= standard * 1.5, "the text size choice is remembered"
    # After a reload the newest message and the input are on screen.
    browser.execute_script(MEASURE_JS)
    wait(
        browser,
        "daanMeasure(document.getElementById('daan-chat-input')).share === 1"
        " && daanMeasure([...document.querySelectorAll('.daan-chat__msg')].pop()).share > 0",
    )
    browser.save_screenshot(str(ARTIFACTS / "webchat-large-text.png"))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("width", PHONES)
def test_phone_layout_at_each_text_size(
    servers: Servers, on_phone: WebDriver, width: int, size: str
) -> None:
    browser = on_phone
    phone(browser, width, PHONES[width])
    text_px, target_px = SIZES[size]
    name = f"webchat-{width}px-{size}"
    open_fresh(browser, servers, size)

    # Opening: the bot's own welcome and menu (as staff wrote them), and the input on screen.
    text, titles = welcome()
    assert messages(browser) == [("bot", f"小助手：{text}")]
    assert [n.text for n in browser.find_elements(By.CSS_SELECTOR, ".daan-chat__choice")] == titles
    browser.execute_script(MEASURE_JS)
    opening = browser.execute_script(
        "return [daanMeasure(document.getElementById('daan-chat-input')),"
        " daanMeasure(document.querySelector('.daan-chat__msg'))]"
    )
    assert opening[0]["share"] == 1, f"the input is on screen when the page opens: {opening[0]}"
    browser.save_screenshot(str(ARTIFACTS / f"{name}-open.png"))

    layout = browser.execute_script(LAYOUT_JS)
    assert layout["font_size"] == text_px
    assert layout["line_height"] == pytest.approx(1.6 * text_px, abs=0.5)
    assert layout["page_fits_width"], "no sideways scrolling"
    # The input shows at least ten characters; the send button moves below when needed.
    assert layout["input_chars"] >= 10, layout["input"]
    assert layout["send"]["width"] >= target_px
    for kind in ("sizes", "choices"):
        for target in layout[kind]:
            assert target["height"] >= target_px and target["width"] >= target_px, (kind, target)
    for kind in ("input", "send", "clear"):
        assert layout[kind]["height"] >= target_px, (kind, layout[kind])
    sizes = layout["sizes"]
    for left, right in itertools.pairwise(sizes):
        same_row = abs(left["top"] - right["top"]) < 1
        gap = right["left"] - left["right"] if same_row else right["top"] - left["bottom"]
        assert gap >= 12, ("space between the size buttons", left, right)
    assert int(layout["choice_weight"]) >= 700, "choice labels are bold"
    for colour, background in layout["colours"]:
        assert contrast(colour, background) >= 10, (colour, background)

    # A long answer starts on screen and fills as much of the screen as it needs.
    answer = measure_answer(browser, LONG_QUESTION)
    browser.save_screenshot(str(ARTIFACTS / f"{name}-answer.png"))
    room = answer["clip_bottom"] - answer["clip_top"] - 16  # the widget's scroll margins
    assert answer["top"] >= answer["clip_top"] - 1, f"the answer's start is on screen: {answer}"
    assert answer["share"] >= min(1, room / answer["height"]) - 0.01, answer
    assert answer["chars_per_line"] >= 9, answer
    record(name, {"opening": opening, "layout": layout, "answer": answer})


def test_input_stays_usable_at_200_percent_zoom(servers: Servers, on_phone: WebDriver) -> None:
    """A 360 × 740 phone zoomed to 200 % lays the page out on 180 × 370 CSS px."""
    browser = on_phone
    phone(browser, 180, 370)
    open_fresh(browser, servers, "xlarge")
    layout = browser.execute_script(LAYOUT_JS)
    browser.save_screenshot(str(ARTIFACTS / "webchat-200-percent-xlarge.png"))
    record("webchat-200-percent-xlarge", layout)
    assert layout["page_fits_width"]
    # Four characters of 30 px is all 180 px can hold after the page's own margins.
    assert layout["input_chars"] >= 3.5
    assert layout["send"]["top"] >= layout["input"]["bottom"], "the send button moved below"


def test_focus_ring_and_typing_indicator(servers: Servers, browser: WebDriver) -> None:
    open_fresh(browser, servers)
    # The first stop of the keyboard on the demo page is the first text size button.
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    ring = browser.execute_script(
        "const node = document.activeElement, style = getComputedStyle(node);"
        "return [node.matches(':focus-visible'), node.dataset.size, style.outlineStyle,"
        " parseFloat(style.outlineWidth), style.outlineColor, style.boxShadow];"
    )
    focus_visible, focused_size, outline_style, outline_width, outline_colour, shadow = ring
    assert focus_visible and focused_size == "standard"
    assert outline_style == "solid" and outline_width >= 2
    assert contrast(outline_colour, "rgb(255, 255, 255)") >= 3, "dark inner ring on white"
    assert "255, 191, 0" in shadow, "amber outer ring"
    browser.save_screenshot(str(ARTIFACTS / "webchat-focus.png"))

    # "小助手正在回复…" appears inside the live region, so screen readers announce it.
    announced = browser.execute_script(
        "const input = document.getElementById('daan-chat-input');"
        "input.value = '老年证好多岁能办';"
        "document.querySelector('.daan-chat__form').requestSubmit();"
        "const typing = document.querySelector('.daan-chat__typing');"
        "return typing && typing.closest('[aria-live]') === document.querySelector('.daan-chat__log');"
    )
    assert announced
    wait(browser, "!document.querySelector('.daan-chat__typing')")


def test_numbers_masked_in_storage_and_clear_asks_first(
    servers: Servers, browser: WebDriver
) -> None:
    open_fresh(browser, servers)
    ask(browser, f"我的身份证号是{ID_NUMBER}，电话{MOBILE}")
    stored = stored_history(browser)
    assert ID_NUMBER not in stored and MOBILE not in stored, stored
    assert "5103**********1234" in stored and "138****5678" in stored, stored

    browser.refresh()
    widget_state(browser, "online")
    shown = messages(browser)
    assert ("user", "我：我的身份证号是5103**********1234，电话138****5678") in shown
    assert not any(ID_NUMBER in text or MOBILE in text for _, text in shown)

    # Clearing asks first, inside the widget; "不清空" keeps everything.
    session = browser.execute_script("return localStorage.getItem('daan-chat:session')")
    browser.find_element(By.CSS_SELECTOR, ".daan-chat__clear").click()
    confirm = browser.find_element(By.CSS_SELECTOR, ".daan-chat__confirm")
    assert confirm.is_displayed()
    assert "清空" in confirm.text
    assert browser.execute_script("return document.activeElement.textContent") == "不清空"
    for button in confirm.find_elements(By.TAG_NAME, "button"):
        assert button.size["height"] >= 48
    assert messages(browser) == shown and stored_history(browser)
    browser.save_screenshot(str(ARTIFACTS / "webchat-clear-confirm.png"))
    browser.find_element(By.CSS_SELECTOR, ".daan-chat__confirm-no").click()
    assert not confirm.is_displayed()
    assert messages(browser) == shown and stored_history(browser)

    browser.find_element(By.CSS_SELECTOR, ".daan-chat__clear").click()
    browser.find_element(By.CSS_SELECTOR, ".daan-chat__confirm-yes").click()
    assert not confirm.is_displayed()
    # A new conversation, opened with the welcome as on a first visit.
    greeted(browser)
    text, _ = welcome()
    assert messages(browser) == [("bot", f"小助手：{text}")]
    assert browser.execute_script("return localStorage.getItem('daan-chat:session')") != session
    assert ID_NUMBER[:4] not in stored_history(browser)


def not_sent_notice(driver: WebDriver) -> str:
    return driver.find_element(By.CSS_SELECTOR, ".daan-chat__notice").text


# Injected by the browser itself (not subject to the page's policy): records what the
# policy refused and which WebSockets opened.
WATCH_POLICY = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (event) => window.__violations.push(event.violatedDirective + " " + event.blockedURI));
window.__sockets = [];
const NativeWebSocket = window.WebSocket;
window.WebSocket = function (url, protocols) {
  const socket = new NativeWebSocket(url, protocols);
  socket.addEventListener("open", () => window.__sockets.push(url));
  return socket;
};
window.WebSocket.prototype = NativeWebSocket.prototype;
"""


def test_widget_works_under_the_pages_security_policy(servers: Servers, browser: WebDriver) -> None:
    """The demo page forbids everything but the assistant's server; the widget needs no
    more: nothing is refused, and its socket upgrades to a WebSocket."""
    watch = browser.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_POLICY}
    )
    try:
        open_fresh(browser, servers)
        ask(browser, "老年证好多岁能办")
        wait(browser, "window.__sockets.length > 0")
        assert browser.execute_script("return window.__violations") == []
        policy = browser.find_element(
            By.CSS_SELECTOR, "meta[http-equiv='Content-Security-Policy']"
        ).get_attribute("content")
        assert "default-src 'none'" in policy
    finally:
        browser.execute_cdp_cmd(
            "Page.removeScriptToEvaluateOnNewDocument", {"identifier": watch["identifier"]}
        )


def test_page_from_another_origin_cannot_open_socket(servers: Servers, browser: WebDriver) -> None:
    browser.get(servers.foreign_page_url)
    # The widget loads (a script tag needs no permission) but its socket is refused.
    widget_state(browser, "offline")
    time.sleep(2)  # time for a retry that must not succeed either
    assert browser.execute_script("return document.querySelector('.daan-chat').dataset.state") == (
        "offline"
    )
    send = browser.find_element(By.CSS_SELECTOR, ".daan-chat__send")
    assert send.get_attribute("aria-disabled") == "true"
    # Pressing 发送 offline says so at the input and keeps the text for later.
    browser.find_element(By.ID, "daan-chat-input").send_keys("老年证咋个办")
    send.click()
    assert "没有发出去" in not_sent_notice(browser)
    assert browser.find_element(By.ID, "daan-chat-input").get_attribute("value") == "老年证咋个办"
    assert not browser.find_elements(By.CSS_SELECTOR, ".daan-chat__msg--user")
    browser.save_screenshot(str(ARTIFACTS / "webchat-foreign-origin.png"))
    log = servers.stack.logs["rasa-0"].read_text(errors="replace")
    assert f"{servers.foreign_origin} is not an accepted origin" in log


def test_conversation_survives_a_server_restart(servers: Servers, browser: WebDriver) -> None:
    open_fresh(browser, servers)
    ask(browser, "老年证好多岁能办")
    shown = messages(browser)

    servers.stack.stop("rasa-0")
    # The resident sees that the connection is gone, and keeps the conversation.
    widget_state(browser, "offline")
    assert messages(browser) == shown
    # A message typed meanwhile is not lost silently: it stays, with a notice.
    browser.find_element(By.ID, "daan-chat-input").send_keys("谢谢")
    browser.find_element(By.CSS_SELECTOR, ".daan-chat__send").click()
    assert "没有发出去" in not_sent_notice(browser)
    assert messages(browser) == shown
    browser.save_screenshot(str(ARTIFACTS / "webchat-server-down.png"))

    servers.stack.start("rasa-0")
    # socket.io reconnects by itself; the page is not reloaded.
    widget_state(browser, "online")
    assert messages(browser)[: len(shown)] == shown
    assert browser.find_element(By.ID, "daan-chat-input").get_attribute("value") == "谢谢"
    bot_before = len(browser.find_elements(By.CSS_SELECTOR, ".daan-chat__msg--bot"))
    browser.find_element(By.CSS_SELECTOR, ".daan-chat__send").click()
    wait(browser, f"{count(browser, '.daan-chat__msg--bot')} > {bot_before}")
    assert messages(browser)[-2] == ("user", "我：谢谢")
    assert messages(browser)[-1][0] == "bot"
    assert not_sent_notice(browser) == ""

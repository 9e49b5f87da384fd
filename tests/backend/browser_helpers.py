"""The console in a real browser, shared by the browser tests: the store served from a
thread of its own (the browser's calls block the test's thread), and what a test does
with the page."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from selenium.common.exceptions import NoSuchElementException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from store_helpers import SERVICE_TOKEN

from backend.app import RunningServer, start_server
from backend.config import Settings

WAIT_SECONDS = 20


@dataclass
class Console:
    url: str
    loop: asyncio.AbstractEventLoop
    server: RunningServer

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(60)

    def api(self, path: str, body: dict[str, Any], token: str = SERVICE_TOKEN) -> Any:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{path}: {error.code} {error.read().decode()}") from None


@contextmanager
def running_console(settings: Settings) -> Iterator[Console]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(start_server(settings, port=0), loop).result(60)
    console = Console(server.url, loop, server)
    try:
        yield console
    finally:
        console.run(server.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def screen(driver: WebDriver, size: tuple[int, int]) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": False},
    )


def wait_for(driver: WebDriver, condition: Any) -> Any:
    # A page being replaced by the next one makes its elements stale for a moment.
    return WebDriverWait(
        driver, WAIT_SECONDS, ignored_exceptions=(NoSuchElementException, WebDriverException)
    ).until(condition)


def page_fits(driver: WebDriver) -> bool:
    """Nothing sticks out sideways (tables scroll inside their own box)."""
    return driver.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth + 1"
    )


def no_console_errors(driver: WebDriver) -> list[str]:
    """Errors the page logged (a refused script or style, a failed request)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def fill(driver: WebDriver, selector: str, text: str) -> None:
    field = driver.find_element(By.CSS_SELECTOR, selector)
    field.clear()
    field.send_keys(text)

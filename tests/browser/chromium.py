"""Headless Debian chromium for the browser tests: where it is, how it starts, screenshots."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

from helpers import TESTS_DIR

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = TESTS_DIR.parent / "reports" / "screenshots"


def save_screenshot(page: Page, name: str, tmp_path: Path) -> Path:
    """Into the test's tmp folder and reports/screenshots/ for people to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(tmp_path / name), full_page=True)
    shutil.copyfile(tmp_path / name, SCREENSHOTS / name)
    return SCREENSHOTS / name


@contextmanager
def open_tab(url: str, outside_requests: list[str], width: int = 1280) -> Iterator[Page]:
    """One headless tab on ``url`` that accepts downloads; every URL it fetches from anywhere
    but that server is appended to ``outside_requests``."""
    local = url.rstrip("/")

    def record(fetched: str) -> None:
        if not fetched.startswith((local, "data:", "blob:")):
            outside_requests.append(fetched)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport={"width": width, "height": 1300}, accept_downloads=True)
            tab.on("request", lambda request: record(request.url))
            tab.goto(url)
            yield tab
        finally:
            browser.close()


def download_json(page: Page, selector: str, path: Path, timeout_ms: int) -> Any:
    """Click a download button, save the file to ``path`` and parse it as JSON."""
    with page.expect_download(timeout=timeout_ms) as info:
        page.locator(selector).click()
    info.value.save_as(path)
    return json.loads(path.read_text(encoding="utf-8"))

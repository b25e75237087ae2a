"""Headless Debian chromium for the browser tests: where it is, how it starts, screenshots."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# The README's pictures (reports/screenshots/, tracked) are refreshed only on request:
# ATLAS_RAG_SCREENSHOTS=reports/screenshots pytest tests/browser. A test run leaves the
# working tree as it found it.
SCREENSHOTS_ENV = "ATLAS_RAG_SCREENSHOTS"


def save_screenshot(page: Page, name: str, tmp_path: Path) -> Path:
    """Into the test's tmp folder, and into $ATLAS_RAG_SCREENSHOTS when it is set."""
    page.screenshot(path=str(tmp_path / name), full_page=True)
    folder = os.environ.get(SCREENSHOTS_ENV)
    if not folder:
        return tmp_path / name
    Path(folder).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tmp_path / name, Path(folder) / name)
    return Path(folder) / name


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

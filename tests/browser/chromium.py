"""Headless Debian chromium for the browser tests: where it is, how it starts, screenshots."""

from __future__ import annotations

import shutil
from pathlib import Path

from playwright.sync_api import Page

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

"""The "Map a report" tab in headless Chromium: paste, see the matrix, download the layer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from chromium import CHROMIUM, download_json, open_tab, save_screenshot
from live_chat import ChatServer

pytestmark = pytest.mark.browser

MAP_MS = 30_000
# A write-up of our own in the fixture's fictional vocabulary (the server's limit is 500).
WRITE_UP = (
    "Last autumn someone queried our public prediction endpoint thousands of times and fitted "
    "a faithful weathervane replica of our predictor from the answers. A week later they pried "
    "open an unwatched silo ledger snapshot and walked away with the private training rows."
)

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing; install it with scripts/ensure_chromium.sh",
                allow_module_level=True)

from playwright.sync_api import Page, expect  # noqa: E402


@pytest.fixture(scope="module")
def page(chat_server: ChatServer, outside_requests: list[str]) -> Iterator[Page]:
    """One tab on the app, switched to "Map a report"; the tests of this module run in order."""
    with open_tab(chat_server.url, outside_requests, width=1400) as tab:
        tab.get_by_role("tab", name="Map a report").click()
        yield tab


def map_report(page: Page, text: str) -> None:
    box = page.locator("#report-input textarea")
    expect(box).to_be_visible()
    box.fill(text)
    page.locator("#map-button").click()


def test_empty_report_gets_a_hint(page: Page) -> None:
    map_report(page, "")
    expect(page.locator("#map-message")).to_contain_text("Paste an incident write-up",
                                                         timeout=MAP_MS)


def test_pasted_report_lights_up_the_matrix_and_the_layer_downloads(
    page: Page, tmp_path: Path
) -> None:
    map_report(page, WRITE_UP)
    expect(page.locator("#map-message")).to_contain_text("technique(s)", timeout=MAP_MS)
    matrix = page.locator("#matrix")
    # Every technique of the fixture is a cell; the mapped ones are shaded.
    expect(matrix.locator(".atlas-tactic")).to_have_count(3)
    expect(matrix.locator(".atlas-cell")).to_have_count(8)  # AML.T0904 sits in two columns
    cloning = matrix.locator('.atlas-cell.mapped[data-id="AML.T0903"]')
    expect(cloning).to_be_visible()
    background = cloning.evaluate("e => getComputedStyle(e).backgroundColor")
    assert background not in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)"), background
    plain = matrix.locator(".atlas-cell:not(.mapped)").first
    assert plain.evaluate("e => getComputedStyle(e).backgroundColor") != background
    expect(page.locator("#evidence")).to_contain_text("AML.T0903 Weathervane Model Cloning")
    expect(page.locator("#evidence")).to_contain_text("weathervane replica")
    expect(page.locator("#report-mitigations")).to_contain_text("AML.M0901 Beacon Throttling")

    layer = download_json(page, "#layer-download", tmp_path / "layer.json", MAP_MS)
    assert layer["domain"] == "atlas-atlas"
    scored = {r["techniqueID"]: r["score"] for r in layer["techniques"] if "score" in r}
    assert "AML.T0903" in scored and all(0 < s <= 100 for s in scored.values())
    shown = save_screenshot(page, "map-a-report.png", tmp_path)
    assert shown.stat().st_size > 10_000


def test_uploaded_file_fills_the_report_box(page: Page, tmp_path: Path) -> None:
    report = tmp_path / "incident.md"
    report.write_text("# Incident\n\n" + WRITE_UP, encoding="utf-8")
    page.locator("#report-file input[type=file]").set_input_files(str(report))
    expect(page.locator("#report-input textarea")).to_have_value(
        "# Incident\n\n" + WRITE_UP, timeout=MAP_MS)


def test_over_long_report_states_the_limit(page: Page, chat_server: ChatServer) -> None:
    limit = chat_server.max_input_chars
    map_report(page, "b" * (limit + 1))
    expect(page.locator("#map-message")).to_contain_text(f"the limit is {limit:,}",
                                                          timeout=MAP_MS)


def test_map_tab_fetched_nothing_from_outside(outside_requests: list[str]) -> None:
    assert outside_requests == []

"""The chat in headless Chromium: ask, follow up in context, hit the length limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from chromium import CHROMIUM, download_json, open_tab, save_screenshot
from live_chat import ChatServer

pytestmark = pytest.mark.browser

ANSWER_MS = 30_000

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing; install it with scripts/ensure_chromium.sh",
                allow_module_level=True)

from playwright.sync_api import Locator, Page, expect  # noqa: E402


@pytest.fixture(scope="module")
def page(chat_server: ChatServer, outside_requests: list[str]) -> Iterator[Page]:
    """One browser tab on the chat, shared by the tests of this module in order."""
    with open_tab(chat_server.url, outside_requests) as tab:
        yield tab


def ask(page: Page, question: str) -> Locator:
    """Type and send a question; the bot message that will hold its answer."""
    bots = page.locator('[data-testid="bot"]')
    before = bots.count()
    box = page.locator("#chat-input textarea")
    expect(box).to_be_editable(timeout=ANSWER_MS)  # read-only while an answer streams
    box.fill(question)
    box.press("Enter")
    expect(bots).to_have_count(before + 1, timeout=ANSWER_MS)
    return bots.nth(before)


def test_page_shows_title_release_and_examples(page: Page, tmp_path: Path) -> None:
    expect(page.get_by_role("heading", name="atlas-rag — MITRE ATLAS assistant")).to_be_visible()
    expect(page.get_by_text("Answering from MITRE ATLAS release")).to_contain_text("0.9.0")
    expect(page.get_by_text("How do I protect my model API from being cloned?")).to_be_visible()
    expect(page.get_by_text("What should we worry about?").first).to_be_visible()
    expect(page.get_by_text("Filters")).to_be_visible()
    expect(page.locator("#chat-input textarea")).to_have_attribute(
        "placeholder", "Ask about an ATLAS technique, tactic, mitigation or case study…")
    save_screenshot(page, "chat-start.png", tmp_path)


def test_question_then_follow_up_in_context(page: Page, tmp_path: Path) -> None:
    first = ask(page, "What is AML.T0903?")
    expect(first).to_contain_text("Weathervane Model Cloning (AML.T0903) is", timeout=ANSWER_MS)
    expect(first.get_by_role("link", name="AML.T0903").first).to_have_attribute(
        "href", "https://atlas.mitre.org/techniques/AML.T0903"
    )
    # Sources are shown once, folded: the answer is not repeated in the open.
    sources = first.locator("details")
    expect(sources).to_contain_text("Sources (1)", timeout=ANSWER_MS)
    expect(sources.get_by_role("link", name="AML.T0903 Weathervane Model Cloning")).to_be_hidden()
    sources.locator("summary").click()
    expect(sources.get_by_role("link", name="AML.T0903 Weathervane Model Cloning")).to_be_visible()

    second = ask(page, "which mitigations address it?")
    expect(second).to_contain_text("Weathervane Model Cloning (AML.T0903) has 1 mitigation",
                                   timeout=ANSWER_MS)
    expect(second.get_by_role("link", name="AML.M0901").first).to_have_attribute(
        "href", "https://atlas.mitre.org/mitigations/AML.M0901"
    )
    expect(second).not_to_contain_text("AML.M0902")  # the fixture's other mitigations
    expect(second).not_to_contain_text("AML.M0903")
    save_screenshot(page, "chat.png", tmp_path)


def test_threat_model_then_a_follow_up_by_ordinal(page: Page, tmp_path: Path) -> None:
    model = ask(page, "Threat model for us: we run a public prediction endpoint for our "
                      "orchard predictor, and customer ledgers sit in a silo next to it. "
                      "What should we worry about?")
    expect(model).to_contain_text("the ATLAS techniques to look at first are", timeout=ANSWER_MS)
    expect(model).to_contain_text("Weathervane Model Cloning")
    items = model.locator("ol li")
    expect(items.first).to_be_visible()
    second_name = items.nth(1).locator("a").first.inner_text()
    follow = ask(page, "tell me more about the second one")
    expect(follow).to_contain_text("Item 2 of the previous list", timeout=ANSWER_MS)
    expect(follow.get_by_role("link", name=second_name).first).to_be_visible()
    save_screenshot(page, "chat-threat-model.png", tmp_path)


def test_the_last_answer_downloads_as_a_navigator_layer(page: Page, tmp_path: Path) -> None:
    answer = ask(page, "What is AML.T0903?")
    expect(answer).to_contain_text("Weathervane Model Cloning (AML.T0903) is", timeout=ANSWER_MS)
    page.locator("#chat-layer-button").click()
    expect(page.locator("#chat-layer-note")).to_contain_text("technique(s) the last answer cites",
                                                            timeout=ANSWER_MS)
    layer = download_json(page, "#chat-layer-download", tmp_path / "answer-layer.json", ANSWER_MS)
    assert layer["domain"] == "atlas-atlas"
    assert "AML.T0903" in {row["techniqueID"] for row in layer["techniques"]}


def test_over_long_input_shows_the_limit(page: Page, chat_server: ChatServer,
                                         tmp_path: Path) -> None:
    limit = chat_server.max_input_chars
    reply = ask(page, "a" * (limit + 1))
    expect(reply).to_contain_text(f"{limit + 1:,} characters long", timeout=ANSWER_MS)
    expect(reply).to_contain_text(f"the limit is {limit:,} characters")
    save_screenshot(page, "chat-limit.png", tmp_path)


def test_type_filter_lists_only_that_type(page: Page) -> None:
    page.get_by_text("Filters").click()
    mitigation = page.get_by_role("checkbox", name="Mitigation")
    mitigation.check()
    reply = ask(page, "how do adversaries copy a proprietary predictor?")
    expect(reply).to_contain_text("with type mitigation", timeout=ANSWER_MS)
    expect(reply.get_by_role("link").first).to_have_text("AML.M0901 Beacon Throttling")
    expect(reply).not_to_contain_text("AML.T09")
    mitigation.uncheck()


def test_page_fetched_nothing_from_outside(page: Page, outside_requests: list[str]) -> None:
    page.reload()
    expect(page.get_by_text("Answering from MITRE ATLAS release")).to_be_visible()
    assert outside_requests == []

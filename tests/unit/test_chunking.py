"""Chunks of corpus pages carry the page ID, the section, the links and a context line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from atlas_rag.catalog import Catalog
from atlas_rag.chunking import MAX_WORDS, Chunk, chunk_page, chunk_pages
from atlas_rag.corpus import Page, parse_page, plain_text, render_page
from atlas_rag.vault_render import vault_layout

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def names(catalog: Catalog) -> dict[str, str]:
    return {r.id: r.name for r in catalog}


def _page(catalog: Catalog, atlas_id: str) -> Page:
    return parse_page(render_page(catalog.get(atlas_id), catalog), Path(f"{atlas_id}.md"))


def _chunks(catalog: Catalog, names: dict[str, str], atlas_id: str) -> list[Chunk]:
    targets = {path: i for i, path in vault_layout(catalog).paths.items()}
    return chunk_page(_page(catalog, atlas_id), names, targets)


def test_every_chunk_carries_its_page_metadata(catalog: Catalog, names: dict[str, str]) -> None:
    chunks = _chunks(catalog, names, "AML.T0901.001")
    assert chunks
    assert len({c.id for c in chunks}) == len(chunks)
    for c in chunks:
        assert c.id.startswith("AML.T0901.001#")
        assert c.page_id == "AML.T0901.001"
        assert c.page_type == "subtechnique"
        assert c.name == "Foghorn Echo Mapping"
        assert c.parent == "AML.T0901"
        assert c.tactics == ("AML.TA0901",)
        assert c.url == "https://atlas.mitre.org/techniques/AML.T0901.001"
        assert c.context.startswith("AML.T0901.001 Lighthouse Beacon Probing: Foghorn Echo Mapping")
        if c.kind != "lead":  # the lead goes by its bare name
            assert "Orchard Surveying" in c.context  # the tactic by name
        assert c.embed_text.startswith(c.context)


def test_lead_chunk_is_the_first_sentences_under_the_bare_name(
    catalog: Catalog, names: dict[str, str]
) -> None:
    chunks = _chunks(catalog, names, "AML.T0901.001")
    leads = [c for c in chunks if c.kind == "lead"]
    assert len(leads) == 1
    lead = leads[0]
    assert lead.context == "AML.T0901.001 Lighthouse Beacon Probing: Foghorn Echo Mapping:"
    # A sub-technique's lead starts with the technique it belongs to, then its description.
    first = re.split(r"(?<=[.!?])\s+", plain_text(catalog.get("AML.T0901.001").description))[0]
    assert lead.text == f"Sub-technique of AML.T0901: Lighthouse Beacon Probing {first.strip()}"
    technique = next(c for c in _chunks(catalog, names, "AML.T0901") if c.kind == "lead")
    sentences = re.split(r"(?<=[.!?])\s+", plain_text(catalog.get("AML.T0901").description))
    assert technique.text == " ".join(s.strip() for s in sentences[:2])


def test_first_chunk_is_the_page_head(catalog: Catalog, names: dict[str, str]) -> None:
    title = _chunks(catalog, names, "AML.T0902.001")[0]
    assert title.kind == "title"
    # Its context names the page; its text is the opening of the description.
    assert title.context.startswith("AML.T0902.001 Seedbank Poisoning: Grafted Label Swapping")
    opening = catalog.get("AML.T0902.001").description.split(".")[0]
    assert title.text.startswith(opening.strip())
    assert len(title.text.split()) <= 80


def test_sections_become_chunks_with_their_kind_and_links(
    catalog: Catalog, names: dict[str, str]
) -> None:
    chunks = _chunks(catalog, names, "AML.T0901")
    by_section: dict[str, list[Chunk]] = {}
    for c in chunks:
        by_section.setdefault(c.section, []).append(c)
    assert "Metadata" not in by_section and "Tactics" not in by_section
    description = next(c for c in by_section["Description"] if c.kind != "lead")
    assert description.kind == "description"
    assert "lighthouse beacon" in description.text.lower()
    assert "AML.T0901.001" in description.links  # the converted site link, by its path
    mitigation = by_section["Mitigations"][0]
    assert mitigation.kind == "mitigation-use"
    assert mitigation.links == ("AML.M0901",)
    assert "blink back slowly" in mitigation.text
    assert "AML.M0901: Beacon Throttling" in mitigation.context
    example = by_section["Case Studies"][0]
    assert example.kind == "procedure-example"
    assert set(example.links) == {"AML.CS0902", "AML.TA0901"}
    assert example.text.startswith("The cartographer swept")
    assert "tactic AML.TA0901: Orchard Surveying" in example.context
    subs = by_section["Sub-Techniques"][0]
    assert subs.kind == "subtechniques"
    assert set(subs.links) == {"AML.T0901.001", "AML.T0901.002"}


def test_case_study_steps_are_chunks(catalog: Catalog, names: dict[str, str]) -> None:
    steps = [c for c in _chunks(catalog, names, "AML.CS0902") if c.kind == "step"]
    assert len(steps) == 4
    assert [c.links[0] for c in steps] == ["AML.T0901", "AML.T0901.002", "AML.T0904", "AML.T0904"]
    assert all("AML.TA09" in " ".join(c.links) for c in steps)
    assert steps[3].text.startswith("A second ledger snapshot")
    assert "[[" not in steps[3].text and "**" not in steps[3].text


def test_mitigation_chunks_link_the_techniques(catalog: Catalog, names: dict[str, str]) -> None:
    uses = [c for c in _chunks(catalog, names, "AML.M0902") if c.kind == "mitigation-use"]
    assert [c.links for c in uses] == [("AML.T0902",), ("AML.T0902.001",)]
    assert uses[0].section == "Techniques Addressed"


def test_chunk_pages_covers_every_page(catalog: Catalog, names: dict[str, str]) -> None:
    pages = [_page(catalog, r.id) for r in catalog]
    chunks = chunk_pages(pages, names)
    assert {c.page_id for c in chunks} == set(catalog.records)
    assert sum(c.kind == "title" for c in chunks) == len(catalog)


def test_content_hash_follows_the_embedded_text(catalog: Catalog, names: dict[str, str]) -> None:
    a = _chunks(catalog, names, "AML.T0903")
    b = _chunks(catalog, names, "AML.T0903")
    assert [c.content_hash for c in a] == [c.content_hash for c in b]
    renamed = dict(names, **{"AML.TA0903": "Renamed Tactic"})
    c = chunk_page(_page(catalog, "AML.T0903"), renamed)
    assert a[0].content_hash != c[0].content_hash  # the context line changed


def _long_page(sentences: list[int]) -> Page:
    text = " ".join(
        " ".join(f"w{n}x{i}" for i in range(size - 1)) + " end." for n, size in enumerate(sentences)
    )
    return parse_page(f"---\nid: NOTE-LONG\nname: Long note\n---\n{text}\n")


def test_long_sections_are_split_and_keep_every_word() -> None:
    page = _long_page([60] * 8)
    pieces = [c for c in chunk_page(page, {}) if c.kind == "note" or c.section == "Description"]
    assert len(pieces) > 1
    words = set(" ".join(c.text for c in pieces).split())
    assert all(f"w{n}x0" in words for n in range(8))


def test_no_window_is_longer_than_max_words() -> None:
    page = _long_page([40, 120, 140])
    pieces = [c for c in chunk_page(page, {}) if c.section == "Description"]
    assert max(len(c.text.split()) for c in pieces) <= MAX_WORDS


def test_chunks_longer_than_the_model_reads_are_split_at_sentence_ends() -> None:
    from atlas_rag.chunking import chunk_pages
    from atlas_rag.corpus import parse_page

    sentences = " ".join(f"Sentence number {n} about beacon sweeps." for n in range(60))
    page = parse_page(
        "---\nid: AML.T0901\ntype: technique\nname: Lighthouse Beacon Probing\n---\n\n"
        f"## Description\n\n{sentences}\n"
    )

    def words(text: str) -> int:
        return len(text.split())

    whole = chunk_pages([page], {}, None)
    fitted = chunk_pages([page], {}, words, 80)
    assert all(words(c.embed_text) <= 80 for c in fitted)
    assert len(fitted) > len(whole)
    assert len({c.id for c in fitted}) == len(fitted)
    described = " ".join(c.text for c in fitted if c.kind == "description")
    assert described.split() == " ".join(c.text for c in whole if c.kind == "description").split()

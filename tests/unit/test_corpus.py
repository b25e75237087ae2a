"""Corpus pages: one per object in the vault layout, frontmatter, wiki links, round trip, team
notes, bad pages. (Reading pages a team wrote in the vault format: test_vault.py.)"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import frontmatter
import pytest

from atlas_rag import CorpusError
from atlas_rag.catalog import Catalog
from atlas_rag.corpus import (
    WIKI_LINK_RE,
    catalog_from_pages,
    parse_page,
    read_page,
    read_pages,
    record_from_page,
    render_page,
    write_corpus,
)
from atlas_rag.vault_render import convert_links, vault_layout
from helpers import (
    FIXTURE_CASE_STUDIES,
    FIXTURE_IDS,
    FIXTURE_MITIGATIONS,
    FIXTURE_NAMES,
    FIXTURE_SUBTECHNIQUES,
    FIXTURE_TACTICS,
    FIXTURE_TECHNIQUES,
)

pytestmark = pytest.mark.unit

FRONTMATTER_KEYS = [
    "id", "title", "sidebar_label", "sidebar_position", "atlas_id", "type", "atlas_version",
    "url", "tactics", "parent", "subtechniques", "mitigations", "case_studies", "techniques",
    "attack_reference",
]
ATLAS = "frameworks/atlas"
TECHNIQUES = f"{ATLAS}/techniques"
# The vault's layout of the fixture, written out by hand.
PAGES = {
    "AML.TA0901": f"{ATLAS}/tactics/orchard-surveying",
    "AML.TA0902": f"{ATLAS}/tactics/seedbank-tampering",
    "AML.TA0903": f"{ATLAS}/tactics/harvest-siphoning",
    "AML.T0901": f"{TECHNIQUES}/orchard-surveying/lighthouse-beacon-probing/lighthouse-beacon-probing",
    "AML.T0901.001": f"{TECHNIQUES}/orchard-surveying/lighthouse-beacon-probing/foghorn-echo-mapping",
    "AML.T0901.002": f"{TECHNIQUES}/orchard-surveying/lighthouse-beacon-probing/tidal-chart-scraping",
    "AML.T0902": f"{TECHNIQUES}/seedbank-tampering/seedbank-poisoning/seedbank-poisoning",
    "AML.T0902.001": f"{TECHNIQUES}/seedbank-tampering/seedbank-poisoning/grafted-label-swapping",
    "AML.T0903": f"{TECHNIQUES}/harvest-siphoning/weathervane-model-cloning/weathervane-model-cloning",
    "AML.T0904": f"{TECHNIQUES}/harvest-siphoning/silo-ledger-leakage/silo-ledger-leakage",
    "AML.M0901": f"{ATLAS}/mitigations/beacon-throttling",
    "AML.M0902": f"{ATLAS}/mitigations/seedbank-provenance-sealing",
    "AML.M0903": f"{ATLAS}/mitigations/ledger-vault-encryption",
    "AML.CS0901": f"{ATLAS}/case-studies/operation-copper-kestrel",
    "AML.CS0902": f"{ATLAS}/case-studies/glasshouse-cartographer-incident",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> Path:
    corpus_dir = tmp_path_factory.mktemp("corpus")
    assert write_corpus(catalog, corpus_dir) == 15
    return corpus_dir


def _meta(corpus: Path, atlas_id: str) -> dict:
    return frontmatter.loads(_text(corpus, atlas_id)).metadata


def _text(corpus: Path, atlas_id: str) -> str:
    return (corpus / f"{PAGES[atlas_id]}.md").read_text(encoding="utf-8")


def test_one_page_per_object_in_the_vault_layout(corpus: Path) -> None:
    found = sorted(str(p.relative_to(corpus)) for p in corpus.rglob("*.md"))
    assert found == sorted(f"{path}.md" for path in PAGES.values())
    kinds = (FIXTURE_TACTICS, FIXTURE_TECHNIQUES, FIXTURE_SUBTECHNIQUES, FIXTURE_MITIGATIONS,
             FIXTURE_CASE_STUDIES)
    assert sorted(PAGES) == sorted(i for ids in kinds for i in ids)
    assert not [p for p in corpus.iterdir() if p.name.startswith(".build-")]  # staging removed


def test_every_page_has_the_frontmatter_keys(corpus: Path) -> None:
    for path in corpus.rglob("*.md"):
        meta = frontmatter.loads(path.read_text(encoding="utf-8")).metadata
        assert list(meta)[: len(FRONTMATTER_KEYS)] == FRONTMATTER_KEYS, path.name
        name = FIXTURE_NAMES[meta["atlas_id"]]
        assert meta["title"] == f"{meta['atlas_id']}: {name}"
        assert meta["sidebar_label"] == name
        assert isinstance(meta["sidebar_position"], int) and meta["sidebar_position"] >= 1
        assert meta["atlas_version"] == "0.9.0"
        assert path.relative_to(corpus).with_suffix("").as_posix() == PAGES[meta["atlas_id"]]


def test_frontmatter_of_a_technique(corpus: Path) -> None:
    meta = _meta(corpus, "AML.T0901")
    assert meta["id"] == "lighthouse-beacon-probing"  # the vault's slug
    assert meta["type"] == "technique"
    assert meta["url"] == "https://atlas.mitre.org/techniques/AML.T0901"
    assert meta["tactics"] == ["AML.TA0901"]
    assert meta["parent"] is None
    assert meta["subtechniques"] == ["AML.T0901.001", "AML.T0901.002"]
    assert meta["mitigations"] == ["AML.M0901"]
    assert meta["case_studies"] == ["AML.CS0902"]
    assert meta["techniques"] == []
    assert meta["attack_reference"] == {
        "id": "T1999",
        "url": "https://attack.mitre.org/techniques/T1999/",
    }
    text = _text(corpus, "AML.T0901")  # dates and maturity are in the Metadata section
    assert "- **Technique ID:** AML.T0901\n" in text
    assert "- **Created:** March 1, 2024\n- **Last Modified:** February 14, 2025\n" in text
    assert "- **Maturity:** demonstrated\n" in text


def test_frontmatter_of_other_kinds(corpus: Path) -> None:
    sub = _meta(corpus, "AML.T0902.001")
    assert sub["id"] == "seedbank-poisoning-grafted-label-swapping"  # parent slug, own slug
    assert (sub["type"], sub["parent"]) == ("subtechnique", "AML.T0902")
    assert sub["tactics"] == ["AML.TA0902"]
    assert sub["mitigations"] == ["AML.M0902"]
    assert sub["attack_reference"] is None
    tactic = _meta(corpus, "AML.TA0903")
    assert (tactic["type"], tactic["techniques"]) == ("tactic", ["AML.T0903", "AML.T0904"])
    mitigation = _meta(corpus, "AML.M0901")
    assert mitigation["type"] == "mitigation"
    assert mitigation["techniques"] == ["AML.T0901", "AML.T0901.001", "AML.T0903"]
    study = _meta(corpus, "AML.CS0902")
    assert study["type"] == "case-study"
    assert study["url"] == "https://atlas.mitre.org/studies/AML.CS0902"
    assert study["techniques"] == ["AML.T0901", "AML.T0901.002", "AML.T0904"]
    assert study["tactics"] == ["AML.TA0901", "AML.TA0903"]


def test_wiki_links_resolve_to_existing_pages(corpus: Path) -> None:
    count = 0
    for path in corpus.rglob("*.md"):
        for target, label in WIKI_LINK_RE.findall(path.read_text(encoding="utf-8")):
            count += 1
            linked = corpus / f"{target}.md"
            assert linked.is_file(), f"{path.name}: [[{target}|{label}]] points nowhere"
            meta = frontmatter.loads(linked.read_text(encoding="utf-8")).metadata
            if re.match(r"AML\.\w+(\.\d+)?: ", label):  # relation links name the target
                assert label == meta["title"]
    assert count > 40


def test_pages_link_their_relations(corpus: Path) -> None:
    body = _text(corpus, "AML.T0901")
    assert f"- [[{PAGES['AML.TA0901']}|AML.TA0901: Orchard Surveying]]" in body
    assert f"- [[{PAGES['AML.T0901.001']}|AML.T0901.001: Foghorn Echo Mapping]]" in body
    assert f"### [[{PAGES['AML.M0901']}|AML.M0901: Beacon Throttling]]" in body
    assert f"### [[{PAGES['AML.CS0902']}|AML.CS0902: Glasshouse Cartographer Incident]]" in body
    sub = _text(corpus, "AML.T0901.002")
    parent = f"[[{PAGES['AML.T0901']}|AML.T0901: Lighthouse Beacon Probing]]"
    assert f"> **Sub-Technique of:** {parent}" in sub
    assert f"- **Parent Technique:** {parent}" in sub


def test_atlas_site_links_in_text_become_wiki_links(corpus: Path) -> None:
    body = _text(corpus, "AML.T0901")
    assert f"[[{PAGES['AML.T0901.001']}|Foghorn Echo Mapping]]" in body  # named, not dropped
    assert "(/techniques/" not in body
    study = _text(corpus, "AML.CS0902")
    assert f"[[{PAGES['AML.T0901']}|beacon sweep]]" in study


def test_convert_links_leaves_other_links_alone(catalog: Catalog) -> None:
    text = (
        "[a](/studies/AML.CS0902) [b](https://example.org/x) [c](/other/AML.T0001) "
        "[d](/techniques/a/b) [e](/techniques/AML.T0999)"
    )
    assert convert_links(text, vault_layout(catalog)) == (
        f"[[{PAGES['AML.CS0902']}|a]] [b](https://example.org/x) [c](/other/AML.T0001) "
        "[d](/techniques/a/b) [[frameworks/atlas/techniques/aml.t0999|e]]"
    )


def test_round_trip_keeps_fields_and_relations(catalog: Catalog) -> None:
    layout = vault_layout(catalog)
    for record in catalog:
        page = parse_page(render_page(record, catalog), Path(f"{record.id}.md"))
        back = record_from_page(page)
        for field in ("id", "type", "name", "url", "atlas_version", "tactics", "parent",
                      "subtechniques", "mitigations", "case_studies", "techniques",
                      "attack_reference", "maturity", "created", "modified", "uses",
                      "procedure", "examples"):
            assert getattr(back, field) == getattr(record, field), (record.id, field)
        assert back.description == convert_links(record.description, layout), record.id


def test_catalog_from_pages_matches_the_release(corpus: Path, catalog: Catalog) -> None:
    report = read_pages(corpus)
    assert report.skipped == []
    rebuilt = catalog_from_pages(report.pages)
    assert rebuilt.version == "0.9.0"
    assert sorted(rebuilt.records) == sorted(FIXTURE_IDS)
    for record in catalog:
        other = rebuilt.get(record.id)
        assert (other.tactics, other.parent, other.subtechniques, other.mitigations,
                other.case_studies, other.techniques) == (
            record.tactics, record.parent, record.subtechniques, record.mitigations,
            record.case_studies, record.techniques)


# --------------------------------------------------------------------------- rewriting


def test_write_corpus_replaces_generated_folders_and_keeps_team_notes(
    tmp_path: Path, catalog: Catalog
) -> None:
    corpus_dir = tmp_path / "corpus"
    stale = corpus_dir / "techniques" / "AML.T0999.md"  # a page of our earlier layout
    stale.parent.mkdir(parents=True)
    stale.write_text("---\nid: AML.T0999\nname: Retired\n---\nold page\n", encoding="utf-8")
    note = corpus_dir / "team-notes" / "gpu.md"
    note.parent.mkdir(parents=True)
    note.write_text("---\nid: TEAM-1\nname: Our note\n---\nkeep me\n", encoding="utf-8")
    write_corpus(catalog, corpus_dir)
    assert not stale.exists()
    assert note.read_text(encoding="utf-8").endswith("keep me\n")
    assert not (corpus_dir / "techniques").exists()
    assert len(list((corpus_dir / TECHNIQUES).rglob("*.md"))) == 7
    write_corpus(catalog, corpus_dir)  # again over its own output
    assert len(list(corpus_dir.rglob("*.md"))) == 16


# --------------------------------------------------------------------------- reading


def test_parse_page_normalises_and_defaults() -> None:
    page = parse_page("---\nid: aml.t0901\n---\n# Title\n\nSome text.\n")
    assert page.id == "AML.T0901"
    assert page.meta["type"] == "note"
    assert page.meta["name"] == "AML.T0901"
    assert page.sections[0].title == "Description"
    assert page.sections[0].text == "Some text."


def test_parse_page_splits_sections_and_subsections() -> None:
    body = "intro\n\n## One\n\nfirst\n\n### Sub\n\nsecond\n\n```\n## not a heading\n```\n"
    page = parse_page("---\nid: n1\nname: N\n---\n" + body)
    assert [(s.title, s.subsection) for s in page.sections] == [
        ("Description", ""), ("One", ""), ("One", "Sub")
    ]
    assert "## not a heading" in page.sections[2].text


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("---\nid: [unclosed\nname: x\n---\nbody\n", "broken frontmatter"),
        ("---\nname: No id here\n---\nbody\n", "no id"),
        ("---\nid:\nname: Empty id\n---\nbody\n", "no id"),
        ("no frontmatter at all\n", "no id"),
    ],
    ids=["bad-yaml", "no-id", "empty-id", "no-frontmatter"],
)
def test_unusable_pages_are_skipped_with_a_warning_naming_the_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str, reason: str
) -> None:
    good = tmp_path / "notes" / "good.md"
    good.parent.mkdir()
    good.write_text("---\nid: NOTE-1\nname: Good\n---\nfine\n", encoding="utf-8")
    bad = tmp_path / "notes" / "bad.md"
    bad.write_text(content, encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        report = read_pages(tmp_path)
    assert [p.id for p in report.pages] == ["NOTE-1"]
    assert len(report.skipped) == 1
    assert report.skipped[0][0] == bad
    assert reason in report.skipped[0][1]
    assert any(str(bad) in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_non_utf8_page_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "latin.md").write_bytes(b"---\nid: NOTE-2\nname: caf\xe9\n---\nx\n")
    report = read_pages(tmp_path)
    assert report.pages == []
    assert "UTF-8" in report.skipped[0][1]
    with pytest.raises(CorpusError, match="UTF-8"):
        read_page(tmp_path / "latin.md")


def test_duplicate_ids_keep_the_first_page(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("---\nid: AML.T0901\nname: A\n---\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("---\nid: aml.t0901\nname: B\n---\n", encoding="utf-8")
    report = read_pages(tmp_path)
    assert [p.meta["name"] for p in report.pages] == ["A"]
    assert report.skipped[0][0] == tmp_path / "b.md"
    assert "already used" in report.skipped[0][1]


def test_hidden_folders_are_not_read(tmp_path: Path) -> None:
    hidden = tmp_path / ".build-123" / "x.md"
    hidden.parent.mkdir()
    hidden.write_text("---\nid: HIDDEN\n---\n", encoding="utf-8")
    (tmp_path / "v.md").write_text("---\nid: VISIBLE\n---\n", encoding="utf-8")
    assert [p.id for p in read_pages(tmp_path).pages] == ["VISIBLE"]


def test_missing_corpus_folder_is_a_corpus_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        read_pages(tmp_path / "nope")


def test_page_with_windows_line_endings_is_read(tmp_path: Path) -> None:
    (tmp_path / "crlf.md").write_bytes(b"---\r\nid: NOTE-3\r\nname: Crlf note\r\n---\r\ntext\r\n")
    report = read_pages(tmp_path)
    assert [(p.id, p.meta["name"]) for p in report.pages] == [("NOTE-3", "Crlf note")]


def test_page_with_a_utf8_byte_order_mark_is_read(tmp_path: Path) -> None:
    (tmp_path / "bom.md").write_bytes(
        b"\xef\xbb\xbf---\nid: NOTE-4\nname: Bom note\n---\nquokka text\n"
    )
    report = read_pages(tmp_path)
    assert report.skipped == []
    assert [(p.id, p.meta["name"]) for p in report.pages] == [("NOTE-4", "Bom note")]

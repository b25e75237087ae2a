"""The vault format on the full release: the round trip, the vault's own example page, and a
team's vault (tests/fixtures/vault, fictional) indexed on top of the release.

The example page is read at test time from the shared folder next to the release
(``<release>/../../example-page.md``); it is ATLAS text and never copied into the repository.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import frontmatter
import pytest

from atlas_rag import AtlasRAG, build_index
from atlas_rag.api import default_embedder
from atlas_rag.catalog import Catalog
from atlas_rag.corpus import (
    catalog_from_pages,
    complete_pages,
    parse_page,
    read_pages,
    write_corpus,
)
from atlas_rag.records import Example, Step
from atlas_rag.release import load_release
from atlas_rag.vault import section_name
from atlas_rag.vault_render import convert_links, vault_layout
from helpers import TESTS_DIR, Full, make_settings, release_path, shared_cache

pytestmark = pytest.mark.integration

FIXTURE_VAULT = TESTS_DIR / "fixtures" / "vault"
EXAMPLE_ID = "AML.T0048.004"
FIELDS = ("type", "name", "url", "tactics", "parent", "subtechniques", "mitigations",
          "case_studies", "techniques", "attack_reference", "maturity", "created", "modified")


@pytest.fixture(scope="module")
def release() -> Catalog:
    return load_release(release_path())


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, release: Catalog) -> Path:
    corpus = tmp_path_factory.mktemp("vault-corpus")
    write_corpus(release, corpus)
    return corpus


@pytest.fixture(scope="module")
def example_page() -> Path:
    path = release_path().parent.parent / "example-page.md"
    if not path.is_file():
        pytest.skip(f"the vault's example page is not next to the release ({path})")
    return path


def _expected(record, layout):  # type: ignore[no-untyped-def]
    """What a page can give back: the record with the release's links in the vault's form."""
    return (
        convert_links(record.description, layout),
        {k: convert_links(v, layout) for k, v in record.uses.items()},
        tuple(Step(s.tactic, s.technique, convert_links(s.description, layout))
              for s in record.procedure),
        tuple(Example(e.case_study, e.step, e.tactic, convert_links(e.description, layout))
              for e in record.examples),
    )


def _assert_same(rebuilt: Catalog, release: Catalog) -> None:
    layout = vault_layout(release)
    assert sorted(rebuilt.records) == sorted(release.records)
    for record in release:
        back = rebuilt.get(record.id)
        for field in FIELDS:
            assert getattr(back, field) == getattr(record, field), (record.id, field)
        assert (back.description, back.uses, back.procedure, back.examples) == _expected(
            record, layout), record.id


# --------------------------------------------------------------------------- round trip


def test_render_then_read_gives_the_release_back(rendered: Path, release: Catalog) -> None:
    report = read_pages(rendered)
    assert report.skipped == []
    rebuilt = catalog_from_pages(report.pages)
    assert rebuilt.version == release.version
    _assert_same(rebuilt, release)
    for record in release:  # the extras (references, matrix position, case-study facts) too
        kept = {k: v for k, v in record.extra.items() if v not in ("", [], None)}
        assert rebuilt.get(record.id).extra == kept, record.id


def test_every_rendered_page_reads_back_as_a_vault_page(rendered: Path, release: Catalog) -> None:
    """With only the vault's own frontmatter keys, relations come from the labelled links of
    the body, completed in both directions across the pages, as for a team's vault."""
    pages = []
    for path in sorted(rendered.rglob("*.md")):
        post = frontmatter.loads(path.read_text(encoding="utf-8"))
        keys = {k: post.metadata[k] for k in ("id", "title", "sidebar_label", "sidebar_position")}
        pages.append(parse_page(frontmatter.dumps(frontmatter.Post(post.content, **keys)), path))
    complete_pages(pages)
    _assert_same(catalog_from_pages(pages), release)


def test_a_second_render_of_the_release_is_byte_identical(
    rendered: Path, release: Catalog, tmp_path: Path
) -> None:
    write_corpus(release, tmp_path)
    first = {p.relative_to(rendered): p.read_bytes() for p in rendered.rglob("*.md")}
    second = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*.md")}
    assert first == second and len(first) == len(release)


# --------------------------------------------------------------------------- the example page


def _sections(body: str) -> list[str]:
    return [section_name(line[3:]) for line in body.split("\n") if line.startswith("## ")]


def test_the_rendered_page_has_the_example_pages_shape(rendered: Path, example_page: Path) -> None:
    example = frontmatter.loads(example_page.read_text(encoding="utf-8"))
    path = rendered / "frameworks/atlas/techniques/impact/external-harms/ai-intellectual-property-theft.md"
    ours = frontmatter.loads(path.read_text(encoding="utf-8"))
    assert list(ours.metadata)[: len(example.metadata)] == list(example.metadata)
    for key in ("id", "title", "sidebar_label"):
        assert ours.metadata[key] == example.metadata[key]
    heading = [line for line in example.content.split("\n") if line.startswith("# ")]
    assert heading == [line for line in ours.content.split("\n") if line.startswith("# ")]
    assert set(_sections(example.content)) <= set(_sections(ours.content))
    # The example's sections come in the example's order; what we add sits between them.
    assert [s for s in _sections(ours.content) if s in _sections(example.content)] == _sections(
        example.content)
    for line in ("## Tactics (0)", "*No tactics currently associated with this technique.*",
                 "- **Technique ID:** AML.T0048.004", "- **Created:** May 13, 2021",
                 "- **Last Modified:** April 9, 2025"):
        assert line in example.content and line in ours.content, line
    # The vault's link paths are ours: the parent and the technique named in the text.
    for target in ("frameworks/atlas/techniques/impact/external-harms/external-harms|",
                   "frameworks/atlas/techniques/exfiltration/exfiltration-via-ai-inference-api/"
                   "extract-ai-model|"):
        assert target in example.content and target in ours.content, target


def test_a_folder_with_only_the_example_page_builds(example_page: Path, tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    vault.mkdir()
    shutil.copy(example_page, vault / example_page.name)
    # Untuned: a model tuned on one page would only add a copy of the model to the shared cache.
    settings = make_settings(tmp_path, corpus_dir=vault, cache_dir=shared_cache(),
                             fine_tune=False)
    embedder = default_embedder(settings)
    report = build_index(settings=settings, embedder=embedder, render=False)
    assert (report.pages, report.pages_by_type, report.skipped) == (1, {"subtechnique": 1}, [])
    assert len(report.warnings) == 1 and "AML.T0048" in report.warnings[0][1]  # links kept
    rag = AtlasRAG.open(settings.index_dir, settings=settings, embedder=embedder)

    record = rag.get(EXAMPLE_ID)
    assert (record.type, record.name, record.parent) == (
        "subtechnique", "AI Intellectual Property Theft", "AML.T0048")
    assert record.maturity == "demonstrated"
    assert (record.created, record.modified) == ("2021-05-13", "2025-04-09")
    assert record.case_studies == ("AML.CS0005", "AML.CS0018", "AML.CS0027", "AML.CS0028")
    assert rag.search("intellectual property theft")[0].id == EXAMPLE_ID
    answer = rag.ask("What is AML.T0048.004?")
    assert not answer.abstained
    assert EXAMPLE_ID in answer.citations
    assert "AI Intellectual Property Theft" in answer.text
    assert "not in ATLAS" not in answer.text


# --------------------------------------------------------------------------- a team's vault


@pytest.fixture(scope="module")
def vault_rag(full: Full, tmp_path_factory: pytest.TempPathFactory) -> tuple[AtlasRAG, object]:
    """The fictional vault on top of the release, built in a copy of the session's full index
    so that only the vault's chunks are embedded. Without fine-tuning: the vault changes the
    text a model would be tuned on, so a tuned build would train a model for it (minutes);
    tuning is tested in test_tuned_model.py and on the release by the session's index."""
    root = tmp_path_factory.mktemp("vault-on-release")
    shutil.copytree(full.index_dir, root / "index")
    settings = make_settings(root, fine_tune=False, cache_dir=shared_cache())
    report = build_index(full.source, root / "corpus", root / "index", settings=settings,
                         embedder=full.embedder, vault_dir=FIXTURE_VAULT)
    return AtlasRAG.open(root / "index", settings=settings, embedder=full.embedder), report


def test_the_vault_replaces_one_page_and_adds_the_others(vault_rag, full: Full) -> None:  # type: ignore[no-untyped-def]
    _, report = vault_rag
    assert report.replaced == ["AML.T0024.002"]
    assert (report.skipped, report.warnings) == ([], [])
    assert report.pages == full.report.pages + 11
    assert 0 < report.embedded < 150  # the vault's chunks; the release's vectors are reused


def test_the_override_is_found_by_id_name_and_meaning(vault_rag, full: Full) -> None:  # type: ignore[no-untyped-def]
    rag, _ = vault_rag
    record = rag.get("AML.T0024.002")
    assert record.name == "Lantern Replica Harvesting"
    assert record.description.startswith("In our greenhouse")
    assert record.parent == "AML.T0024"
    release = full.rag.get("AML.T0024.002")
    assert set(release.mitigations) | {"AML.M9001"} == set(record.mitigations)
    assert "AML.CS9001" in record.case_studies
    assert rag.search("AML.T0024.002")[0].id == "AML.T0024.002"
    assert rag.search("Lantern Replica Harvesting")[0].id == "AML.T0024.002"
    hits = rag.search("harvest a replica of a plant-health model with crafted lantern queries")
    assert hits[0].id == "AML.T0024.002"


def test_the_new_technique_is_found_and_linked(vault_rag) -> None:  # type: ignore[no-untyped-def]
    rag, _ = vault_rag
    record = rag.get("AML.T9001")
    assert (record.type, record.tactics) == ("technique", ("AML.TA0010",))
    assert record.subtechniques == ("AML.T9001.001", "AML.T9001.002")
    assert record.mitigations == ("AML.M9001", "AML.M0004")
    assert record.case_studies == ("AML.CS9001",)
    # Completed in both directions: the release's pages now name the team's technique.
    assert "AML.T9001" in rag.get("AML.M0004").techniques
    assert "AML.T9001" in rag.get("AML.TA0010").techniques
    assert rag.get("AML.T9001.001").tactics == ("AML.TA0010",)  # its parent's
    assert rag.get("AML.T9002").tactics == ("AML.TA9001",)
    assert rag.get("orchid-api-threat-model").type == "note"
    assert rag.search("AML.T9001")[0].id == "AML.T9001"
    assert rag.search("cold frame gradient skimming")[0].id == "AML.T9001"
    hits = rag.search("skim gradient updates leaking from the federated staging cluster")
    assert hits[0].id == "AML.T9001"
    assert rag.search("Operation Glass Beetle")[0].id == "AML.CS9001"

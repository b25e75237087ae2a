"""The vault format: pages a team wrote in it are read as ATLAS objects; ours are written in it.

The pages here are fictional, written for these tests in the exact shape of a vault page
(frontmatter keys, heading, Metadata lines, link style, dates, unresolved template spots).
"""

from __future__ import annotations

import logging
from pathlib import Path

import frontmatter
import pytest

from atlas_rag import AtlasRAG, build_index
from atlas_rag.catalog import Catalog
from atlas_rag.chunking import chunk_page
from atlas_rag.corpus import (
    catalog_from_pages,
    complete_pages,
    parse_page,
    read_pages,
    record_from_page,
    render_page,
    write_corpus,
)
from atlas_rag.release import load_release
from atlas_rag.vault import parse_date, section_name
from atlas_rag.vault_render import format_date, vault_layout
from helpers import FIXTURE_RELEASE, FakeEmbedder, make_settings

pytestmark = pytest.mark.unit

TECH = "frameworks/atlas/techniques"
# A sub-technique page as the vault writes it; "a target for  and theft" is a template spot
# the vault did not resolve. Fictional IDs and text.
VAULT_PAGE = """---
id: kettle-scrying-steam-pattern-reading
title: "AML.T0971.002: Steam Pattern Reading"
sidebar_label: "Steam Pattern Reading"
sidebar_position: 7
---

# AML.T0971.002: Steam Pattern Reading

> **Sub-Technique of:** [[frameworks/atlas/techniques/discovery/kettle-scrying/kettle-scrying|AML.T0971: Kettle Scrying]]

Adversaries may read the steam above a model's kettle to learn its brewing schedule.

The schedule is a target for  and theft.

Brewing APIs are metered.
An adversary who has read the steam via  or via [[frameworks/atlas/techniques/discovery/kettle-scrying/spout-whistle-timing|Spout Whistle Timing]] brews for free.

## Metadata

- **Technique ID:** AML.T0971.002
- **Created:** May 13, 2021
- **Last Modified:** April 9, 2025
- **Maturity:** demonstrated

- **Parent Technique:** [[frameworks/atlas/techniques/discovery/kettle-scrying/kettle-scrying|AML.T0971: Kettle Scrying]]

## Tactics (0)

This technique supports the following tactics:

*No tactics currently associated with this technique.*

## Case Studies (2)

The following case studies demonstrate this technique:

### [[frameworks/atlas/case-studies/teapot-heist|AML.CS0971: Teapot Heist]]

The crew photographed the steam every morning and rebuilt the schedule in a week.

### [[frameworks/atlas/case-studies/samovar-leak|AML.CS0972: Samovar Leak]]

A samovar left by an open window gave the whole recipe away.

## References

Kettle Guild. *Steam Pattern Reading (AML.T0971.002)*. Available at: https://atlas.mitre.org/techniques/AML.T0971.002
"""

PARENT_PAGE = """---
id: kettle-scrying
title: "AML.T0971: Kettle Scrying"
sidebar_label: "Kettle Scrying"
sidebar_position: 3
---

# AML.T0971: Kettle Scrying

Adversaries may watch a model's kettle to learn what it brews.

## Metadata

- **Technique ID:** AML.T0971
- **Created:** June 2, 2022
- **Last Modified:** June 3, 2022
- **Maturity:** feasible

## Tactics (1)

This technique supports the following tactics:

- [[frameworks/atlas/tactics/discovery|AML.TA0972: Parlour Discovery]]

## Mitigations (1)

### [[frameworks/atlas/mitigations/tea-cosy|AML.M0971: Tea Cosy]]

A thick cosy hides the steam.
"""

STUDY_PAGE = """---
id: teapot-heist
title: "AML.CS0971: Teapot Heist"
sidebar_label: "Teapot Heist"
sidebar_position: 1
---

# AML.CS0971: Teapot Heist

A crew of parlour thieves learned a tea house's schedule from its steam.

## Metadata

- **Case Study ID:** AML.CS0971
- **Created:** July 1, 2023

## Procedure (2)

### Step 1: [[frameworks/atlas/techniques/discovery/kettle-scrying/kettle-scrying|AML.T0971: Kettle Scrying]]

**Tactic:** [[frameworks/atlas/tactics/discovery|AML.TA0972: Parlour Discovery]]

They watched the kettle from across the street.

### Step 2: [[frameworks/atlas/techniques/discovery/kettle-scrying/steam-pattern-reading|AML.T0971.002: Steam Pattern Reading]]

**Tactic:** [[frameworks/atlas/tactics/discovery|AML.TA0972: Parlour Discovery]]

They photographed the steam each morning.
"""


def _page(text: str = VAULT_PAGE, name: str = "steam.md"):  # type: ignore[no-untyped-def]
    return parse_page(text, Path(name))


# --------------------------------------------------------------------------- reading


def test_a_vault_page_is_read_as_the_atlas_object_it_names() -> None:
    page = _page()
    assert page.id == "AML.T0971.002"
    meta = page.meta
    assert (meta["type"], meta["name"]) == ("subtechnique", "Steam Pattern Reading")
    assert meta["slug"] == "kettle-scrying-steam-pattern-reading"
    assert meta["parent"] == "AML.T0971"
    assert meta["case_studies"] == ["AML.CS0971", "AML.CS0972"]
    assert meta["tactics"] == []
    assert (meta["created"], meta["modified"]) == ("2021-05-13", "2025-04-09")
    assert meta["maturity"] == "demonstrated"
    assert meta["url"] == "https://atlas.mitre.org/techniques/AML.T0971.002"


@pytest.mark.parametrize(
    ("drop", "where"),
    [
        ('title: "AML.T0971.002: Steam Pattern Reading"\n', "heading and metadata"),
        ("# AML.T0971.002: Steam Pattern Reading\n", "title and metadata"),
    ],
)
def test_the_id_is_found_in_title_heading_or_metadata(drop: str, where: str) -> None:
    assert _page(VAULT_PAGE.replace(drop, "")).id == "AML.T0971.002", where
    only_metadata = VAULT_PAGE.replace('title: "AML.T0971.002: Steam Pattern Reading"\n', "")
    only_metadata = only_metadata.replace("# AML.T0971.002: Steam Pattern Reading\n", "# Steam\n")
    page = _page(only_metadata)
    assert page.id == "AML.T0971.002"
    assert page.meta["name"] == "Steam Pattern Reading"  # from sidebar_label


def test_the_record_keeps_text_examples_and_template_spots() -> None:
    record = record_from_page(_page())
    assert record.description.startswith("Adversaries may read the steam")
    assert "Sub-Technique of" not in record.description
    assert "a target for  and theft" in record.description  # the spot is kept as written
    assert [(e.case_study, e.step, e.tactic) for e in record.examples] == [
        ("AML.CS0971", 0, ""), ("AML.CS0972", 0, "")]
    assert record.examples[1].description == "A samovar left by an open window gave the whole recipe away."


def test_relations_come_from_labelled_links_whatever_their_paths() -> None:
    parent = _page(PARENT_PAGE)
    assert parent.meta["type"] == "technique"
    assert parent.meta["tactics"] == ["AML.TA0972"]
    assert parent.meta["mitigations"] == ["AML.M0971"]
    assert record_from_page(parent).uses == {"AML.M0971": "A thick cosy hides the steam."}
    study = record_from_page(_page(STUDY_PAGE))
    assert study.type == "case-study"
    assert study.techniques == ("AML.T0971", "AML.T0971.002")
    assert study.tactics == ("AML.TA0972",)
    assert [s.description for s in study.procedure] == [
        "They watched the kettle from across the street.", "They photographed the steam each morning."]


def test_relations_are_completed_in_both_directions_across_the_vault() -> None:
    pages = [_page(), _page(PARENT_PAGE, "parent.md"), _page(STUDY_PAGE, "study.md")]
    complete_pages(pages)
    catalog = catalog_from_pages(pages)
    parent = catalog.get("AML.T0971")
    assert parent.subtechniques == ("AML.T0971.002",)  # from the sub-technique's parent line
    assert parent.case_studies == ("AML.CS0971",)  # from the case study's procedure
    sub = catalog.get("AML.T0971.002")
    assert sub.tactics == ("AML.TA0972",)  # a sub-technique without tactics takes its parent's


def test_dates_in_the_vaults_style_are_parsed_and_written() -> None:
    assert parse_date("May 13, 2021") == "2021-05-13"
    assert parse_date("2021-05-13") == "2021-05-13"
    assert parse_date("someday") is None
    assert format_date("2021-05-03") == "May 3, 2021"
    assert section_name("Case Studies (4)") == "Case Studies"


def test_a_page_of_neither_format_is_a_note() -> None:
    page = _page("---\nid: greenhouse-runbook\ntitle: Greenhouse runbook\n---\n# Runbook\n\nWater.\n")
    assert (page.id, page.meta["type"], page.meta["name"]) == (
        "greenhouse-runbook", "note", "Greenhouse runbook")


def test_duplicate_ids_in_a_vault_are_reported_with_both_paths(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "steam.md").write_text(VAULT_PAGE, encoding="utf-8")
    (tmp_path / "b.md").write_text(VAULT_PAGE.replace("id: kettle", "id: other-kettle"),
                                   encoding="utf-8")
    report = read_pages(tmp_path)
    assert [p.id for p in report.pages] == ["AML.T0971.002"]
    [(path, reason)] = report.skipped
    assert path == tmp_path / "b.md"
    assert str(tmp_path / "a" / "steam.md") in reason and "AML.T0971.002" in reason


def test_a_page_without_any_id_is_skipped_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "x.md").write_text("---\ntitle: Kettle notes\n---\n# Kettle notes\n\nText.\n",
                                   encoding="utf-8")
    [(path, reason)] = read_pages(tmp_path).skipped
    assert path == tmp_path / "x.md"
    assert "no ID" in reason and "Technique ID" in reason


# --------------------------------------------------------------------------- writing


def test_written_pages_have_the_vaults_keys_heading_and_sections(
    tmp_path: Path, catalog: Catalog
) -> None:
    write_corpus(catalog, tmp_path)
    path = tmp_path / f"{TECH}/orchard-surveying/lighthouse-beacon-probing/foghorn-echo-mapping.md"
    post = frontmatter.loads(path.read_text(encoding="utf-8"))
    assert list(post.metadata)[:5] == ["id", "title", "sidebar_label", "sidebar_position",
                                        "atlas_id"]
    body = post.content
    assert body.startswith("# AML.T0901.001: Foghorn Echo Mapping\n\n> **Sub-Technique of:** [[")
    headings = [line for line in body.split("\n") if line.startswith("## ")]
    assert headings == ["## Metadata", "## Tactics (0)", "## Mitigations (1)",
                        "## Case Studies (1)", "## References"]
    assert "*No tactics currently associated with this technique.*" in body
    assert body.count("\n### [[frameworks/atlas/case-studies/") == 1


def test_a_case_study_used_twice_keeps_one_block_with_both_steps(catalog: Catalog) -> None:
    text = render_page(catalog.get("AML.T0904"), catalog)
    assert text.count("### [[frameworks/atlas/case-studies/glasshouse-cartographer-incident|") == 1
    assert text.count("**Step ") == 2
    page = parse_page(text, Path("t.md"))
    assert [e.step for e in record_from_page(page).examples] == [3, 4]
    names = {r.id: r.name for r in catalog}
    steps = [c for c in chunk_page(page, names) if c.kind == "procedure-example"]
    assert len(steps) == 2 and all("(tactic AML.TA0903: Harvest Siphoning)" in c.context
                                   for c in steps)
    assert steps[1].text.startswith("A second ledger snapshot")


def test_a_second_render_is_byte_identical(tmp_path: Path, catalog: Catalog) -> None:
    write_corpus(catalog, tmp_path / "one")
    write_corpus(catalog, tmp_path / "two")
    write_corpus(catalog, tmp_path / "two")  # over its own output
    one = {p.relative_to(tmp_path / "one"): p.read_bytes() for p in (tmp_path / "one").rglob("*.md")}
    two = {p.relative_to(tmp_path / "two"): p.read_bytes() for p in (tmp_path / "two").rglob("*.md")}
    assert one == two and len(one) == 15


def test_every_rendered_page_reads_back_from_its_body_alone(catalog: Catalog) -> None:
    """Without our machine-readable frontmatter, as a vault page, every relation is the same."""
    layout = vault_layout(catalog)
    pages = []
    for record in catalog:
        post = frontmatter.loads(render_page(record, catalog, layout))
        vault_keys = {k: post.metadata[k] for k in ("id", "title", "sidebar_label")}
        pages.append(parse_page(frontmatter.dumps(frontmatter.Post(post.content, **vault_keys)),
                                Path(f"{layout.paths[record.id]}.md")))
    complete_pages(pages)
    rebuilt = catalog_from_pages(pages)
    for record in catalog:
        back = rebuilt.get(record.id)
        for field in ("type", "name", "tactics", "parent", "subtechniques", "mitigations",
                      "case_studies", "techniques", "maturity", "created", "modified", "url"):
            assert getattr(back, field) == getattr(record, field), (record.id, field)
        assert set(back.uses) == set(record.uses), record.id
        assert [(s.tactic, s.technique) for s in back.procedure] == [
            (s.tactic, s.technique) for s in record.procedure], record.id
        assert [(e.case_study, e.step, e.tactic) for e in back.examples] == [
            (e.case_study, e.step, e.tactic) for e in record.examples], record.id


# --------------------------------------------------------------------------- mixing


OVERRIDE = """---
id: weathervane-model-cloning
title: "AML.T0903: Weathervane Model Cloning"
sidebar_label: "Weathervane Model Cloning"
---

# AML.T0903: Weathervane Model Cloning

Our team's reading: a rival copies the weathervane by filming it through a periscope.

## Metadata

- **Technique ID:** AML.T0903
- **Created:** March 3, 2024

## Tactics (1)

- [[frameworks/atlas/tactics/harvest-siphoning|AML.TA0903: Harvest Siphoning]]
"""

NEW_TECHNIQUE = """---
id: periscope-gazing
title: "AML.T0990: Periscope Gazing"
sidebar_label: "Periscope Gazing"
---

# AML.T0990: Periscope Gazing

Adversaries may gaze through a periscope at the greenhouse dashboards.

## Metadata

- **Technique ID:** AML.T0990
- **Created:** March 3, 2024

## Tactics (1)

- [[frameworks/atlas/tactics/orchard-surveying|AML.TA0901: Orchard Surveying]]

## Mitigations (1)

### [[frameworks/atlas/mitigations/beacon-throttling|AML.M0901: Beacon Throttling]]

Throttled dashboards show the periscope nothing new.

## Case Studies (1)

### [[frameworks/atlas/case-studies/quince|AML.CS0999: Quince Affair]]

A periscope was found on the roof.
"""


def test_a_vault_on_top_of_a_release_replaces_and_adds_pages(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    vault = tmp_path / "vault"
    (vault / "t").mkdir(parents=True)
    (vault / "t" / "override.md").write_text(OVERRIDE, encoding="utf-8")
    (vault / "t" / "new.md").write_text(NEW_TECHNIQUE, encoding="utf-8")
    (vault / "broken.md").write_text("---\nid: [unclosed\n---\nx\n", encoding="utf-8")
    settings = make_settings(tmp_path)
    with caplog.at_level(logging.WARNING):
        report = build_index(FIXTURE_RELEASE, settings=settings, embedder=FakeEmbedder(),
                             vault_dir=vault)
    assert report.pages == 16 and report.replaced == ["AML.T0903"]
    assert [Path(p).name for p, _ in report.skipped] == ["broken.md"]
    [(path, warning)] = report.warnings  # the unknown case study is kept, with a warning
    assert path.endswith("new.md") and "AML.CS0999" in warning
    assert any("new.md" in r.getMessage() and "AML.CS0999" in r.getMessage()
               for r in caplog.records)
    summary = report.summary()
    assert "1 release page(s) replaced (AML.T0903)" in summary
    assert "1 page(s) skipped" in summary and "1 page(s) kept with a warning" in summary

    rag = AtlasRAG.open(settings.index_dir, settings=settings, embedder=FakeEmbedder())
    override = rag.get("AML.T0903")
    assert override.description.startswith("Our team's reading")
    assert override.mitigations == ("AML.M0901",)  # still named by the release's mitigation
    assert rag.search("periscope weathervane")[0].id == "AML.T0903"
    release = load_release(FIXTURE_RELEASE)  # the release's advice, kept from the mitigation
    assert override.uses["AML.M0901"] == release.get("AML.M0901").uses["AML.T0903"] != ""
    new = rag.get("AML.T0990")
    assert (new.type, new.tactics, new.mitigations) == ("technique", ("AML.TA0901",), ("AML.M0901",))
    assert "AML.T0990" in rag.get("AML.M0901").techniques  # completed in both directions
    assert "AML.T0990" in rag.get("AML.TA0901").techniques
    assert rag.search("Periscope Gazing")[0].id == "AML.T0990"
    assert rag.search("gaze at greenhouse dashboards")[0].id == "AML.T0990"


def test_a_vault_alone_builds_without_a_release(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    vault.mkdir()
    (vault / "steam.md").write_text(VAULT_PAGE, encoding="utf-8")
    (vault / "kettle.md").write_text(PARENT_PAGE, encoding="utf-8")
    settings = make_settings(tmp_path)
    report = build_index(settings=settings, embedder=FakeEmbedder(), render=False,
                         vault_dir=vault)
    assert report.pages == 2
    rag = AtlasRAG.open(settings.index_dir, settings=settings, embedder=FakeEmbedder())
    assert rag.get("AML.T0971").subtechniques == ("AML.T0971.002",)
    assert rag.search("steam pattern reading")[0].id == "AML.T0971.002"


def test_build_command_takes_a_vault(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from atlas_rag.cli import main

    vault = tmp_path / "vault"
    vault.mkdir()
    (vault / "override.md").write_text(OVERRIDE, encoding="utf-8")
    code = main(["build", "--source", str(FIXTURE_RELEASE), "--corpus-dir", str(tmp_path / "c"),
                 "--index-dir", str(tmp_path / "i"), "--vault", str(vault), "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "ATLAS 0.9.0: 15 pages" in out
    assert f"vault {vault}: 1 release page(s) replaced (AML.T0903)" in out


EARLIER_FORMAT = """---
id: AML.T0981
type: technique
name: Lamp Flicker Reading
atlas_version: 0.9.0
url: https://atlas.mitre.org/techniques/AML.T0981
tactics:
- AML.TA0981
mitigations:
- AML.M0981
case_studies:
- AML.CS0981
maturity: feasible
created: '2024-01-02'
---
# AML.T0981: Lamp Flicker Reading

Adversaries may read a lamp's flicker.

## Tactics

- [[tactics/AML.TA0981|AML.TA0981: Lamp Room]]

## Mitigations

### [[mitigations/AML.M0981|AML.M0981: Steady Current]]

A steady current hides the flicker.

## Procedure examples

### [[case-studies/AML.CS0981|AML.CS0981: Flicker Night]] step 2

Tactic: [[tactics/AML.TA0981|AML.TA0981: Lamp Room]]

The lamp blinked the password.
"""


def test_pages_of_our_earlier_format_are_read_as_before() -> None:
    page = _page(EARLIER_FORMAT, "techniques/AML.T0981.md")
    record = record_from_page(page)
    assert (record.id, record.type, record.name, record.created) == (
        "AML.T0981", "technique", "Lamp Flicker Reading", "2024-01-02")
    assert (record.tactics, record.mitigations, record.case_studies) == (
        ("AML.TA0981",), ("AML.M0981",), ("AML.CS0981",))
    assert record.uses == {"AML.M0981": "A steady current hides the flicker."}
    assert [(e.case_study, e.step, e.tactic, e.description) for e in record.examples] == [
        ("AML.CS0981", 2, "AML.TA0981", "The lamp blinked the password.")]
    kinds = [c.kind for c in chunk_page(page, {})]
    assert "mitigation-use" in kinds and "procedure-example" in kinds


def test_pages_come_in_kind_and_id_order_whatever_their_file_names(
    tmp_path: Path, catalog: Catalog
) -> None:
    write_corpus(catalog, tmp_path)
    ids = [p.id for p in read_pages(tmp_path).pages]
    assert ids[:2] == ["AML.CS0901", "AML.CS0902"]  # case-studies/, mitigations/, tactics/, ...
    assert ids[-3:] == ["AML.T0902", "AML.T0903", "AML.T0904"]
    assert ids.index("AML.T0901.001") < ids.index("AML.T0901") < ids.index("AML.T0902.001")

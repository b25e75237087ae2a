"""The full official ATLAS release, built with the real embedding model.

The release is read from ATLAS_RAG_TEST_RELEASE, or from ../shared/atlas/5.6.0/ATLAS.yaml next
to the repository. Relation counts are computed here from the raw YAML, independently of the
library, and compared with the generated pages and the index.
"""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from atlas_rag import AtlasRAG, QueryError, ReleaseError, UnknownIdError, build_index
from atlas_rag.corpus import WIKI_LINK_RE, Page
from atlas_rag.release import OFFICIAL_RELEASES, resolve_source
from helpers import Full, make_settings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FRONTMATTER_KEYS = [
    "id", "type", "name", "atlas_version", "url", "tactics", "parent", "subtechniques",
    "mitigations", "case_studies", "techniques", "attack_reference", "maturity", "created",
    "modified",
]
PROBES = [
    "AML.T0051",
    "prompt injection",
    "poisoning the training data",
    "Exfiltration via AI Inference API: Extract AI Model",
    "how can I limit what an attacker learns from model outputs",
]


# --------------------------------------------------------------------------- raw YAML


def _matrix_items(raw: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return [item for matrix in raw["matrices"] for item in matrix.get(key) or []]


def _raw_ids(raw: dict[str, Any]) -> dict[str, str]:
    kinds: dict[str, str] = {}
    for t in _matrix_items(raw, "tactics"):
        kinds[t["id"]] = "tactic"
    for t in _matrix_items(raw, "techniques"):
        kinds[t["id"]] = "subtechnique" if t.get("subtechnique-of") else "technique"
    for m in _matrix_items(raw, "mitigations"):
        kinds[m["id"]] = "mitigation"
    for cs in raw["case-studies"]:
        kinds[cs["id"]] = "case-study"
    return kinds


def _meta_pairs(pages: dict[str, Page], types: set[str], key: str) -> set[tuple[str, str]]:
    return {
        (page_id, str(other))
        for page_id, page in pages.items()
        if page.meta["type"] in types
        for other in page.meta.get(key) or []
    }


# --------------------------------------------------------------------------- pages


def test_one_page_per_object(full: Full) -> None:
    kinds = _raw_ids(full.raw)
    by_type = Counter(kinds.values())
    assert len(kinds) == 278
    assert by_type == {
        "tactic": 16, "technique": 101, "subtechnique": 69, "mitigation": 35, "case-study": 57
    }
    assert full.report.pages == 278
    assert full.report.pages_by_type == dict(by_type)
    assert full.report.skipped == []
    assert full.report.atlas_version == str(full.raw["version"])
    atlas = full.corpus_dir / "frameworks" / "atlas"  # the vault's layout
    folders = Counter(p.relative_to(atlas).parts[0] for p in full.corpus_dir.rglob("*.md"))
    assert folders == {"tactics": 16, "techniques": 170, "mitigations": 35, "case-studies": 57}
    assert set(full.pages) == set(kinds)
    for atlas_id, kind in kinds.items():
        assert full.pages[atlas_id].meta["type"] == kind


def test_every_page_has_the_frontmatter_keys(full: Full) -> None:
    for atlas_id, page in full.pages.items():
        missing = [k for k in FRONTMATTER_KEYS if k not in page.meta]
        assert not missing, f"{atlas_id} lacks {missing}"
        assert page.meta["atlas_version"] == str(full.raw["version"])
        assert page.meta["url"].endswith("/" + atlas_id)


def test_names_and_attack_references_match_the_release(full: Full) -> None:
    items = (_matrix_items(full.raw, "tactics") + _matrix_items(full.raw, "techniques")
             + _matrix_items(full.raw, "mitigations") + full.raw["case-studies"])
    with_attack = 0
    for item in items:
        meta = full.pages[item["id"]].meta
        assert meta["name"] == item["name"].strip()
        ref = item.get("ATT&CK-reference")
        if ref:
            with_attack += 1
            assert meta["attack_reference"]["id"] == ref["id"]
        else:
            assert meta["attack_reference"] is None
    assert with_attack > 0


def test_mitigation_technique_pairs_in_both_directions(full: Full) -> None:
    raw_pairs = {(m["id"], t["id"]) for m in _matrix_items(full.raw, "mitigations")
                 for t in m.get("techniques") or []}
    assert len(raw_pairs) > 200
    assert _meta_pairs(full.pages, {"mitigation"}, "techniques") == raw_pairs
    reverse = _meta_pairs(full.pages, {"technique", "subtechnique"}, "mitigations")
    assert {(m, t) for t, m in reverse} == raw_pairs


def test_subtechnique_parent_pairs_in_both_directions(full: Full) -> None:
    raw_pairs = {(t["id"], t["subtechnique-of"]) for t in _matrix_items(full.raw, "techniques")
                 if t.get("subtechnique-of")}
    assert len(raw_pairs) == 69
    from_subs = {(i, str(p.meta["parent"])) for i, p in full.pages.items() if p.meta.get("parent")}
    assert from_subs == raw_pairs
    from_parents = _meta_pairs(full.pages, {"technique"}, "subtechniques")
    assert {(s, p) for p, s in from_parents} == raw_pairs


def test_case_study_technique_pairs_in_both_directions(full: Full) -> None:
    raw_pairs = {(cs["id"], step["technique"]) for cs in full.raw["case-studies"]
                 for step in cs["procedure"]}
    assert len(raw_pairs) > 300
    assert _meta_pairs(full.pages, {"case-study"}, "techniques") == raw_pairs
    reverse = _meta_pairs(full.pages, {"technique", "subtechnique"}, "case_studies")
    assert {(cs, t) for t, cs in reverse} == raw_pairs
    for cs in full.raw["case-studies"]:  # each technique once per study, in step order
        steps = list(dict.fromkeys(step["technique"] for step in cs["procedure"]))
        assert full.pages[cs["id"]].meta["techniques"] == steps


def test_technique_tactic_pairs_in_both_directions(full: Full) -> None:
    techniques = _matrix_items(full.raw, "techniques")
    raw_pairs = {(t["id"], tac) for t in techniques for tac in t.get("tactics") or []}
    assert len(raw_pairs) > 100
    from_tactics = _meta_pairs(full.pages, {"tactic"}, "techniques")
    assert {(t, tac) for tac, t in from_tactics} == raw_pairs
    assert _meta_pairs(full.pages, {"technique"}, "tactics") == raw_pairs
    parents = {t["id"]: t["subtechnique-of"] for t in techniques if t.get("subtechnique-of")}
    for sub, parent in parents.items():  # sub-techniques are filed under their parent's tactics
        assert full.pages[sub].meta["tactics"] == full.pages[parent].meta["tactics"]


def test_wiki_links_resolve(full: Full) -> None:
    broken = []
    total = 0
    for path in full.corpus_dir.rglob("*.md"):
        for target, label in WIKI_LINK_RE.findall(path.read_text(encoding="utf-8")):
            total += 1
            if not (full.corpus_dir / f"{target}.md").is_file():
                broken.append((path.name, target, label))
    assert total > 2000
    assert broken == []


def test_index_records_keep_the_relations_of_the_pages(full: Full) -> None:
    for atlas_id, page in full.pages.items():
        record = full.rag.get(atlas_id)
        for key in ("tactics", "subtechniques", "mitigations", "case_studies", "techniques"):
            assert list(getattr(record, key)) == list(page.meta.get(key) or []), (atlas_id, key)
        assert record.parent == page.meta.get("parent")


# --------------------------------------------------------------------------- search


def test_every_id_question_returns_that_id_first(full: Full) -> None:
    wrong = {}
    for atlas_id in full.pages:
        hits = full.rag.search(f"What is {atlas_id}?")
        if hits[0].id != atlas_id:
            wrong[atlas_id] = [h.id for h in hits[:3]]
    assert wrong == {}


def test_lower_case_ids_are_found_too(full: Full) -> None:
    for atlas_id in list(full.pages)[::7]:
        assert full.rag.search(atlas_id.lower())[0].id == atlas_id


def test_name_queries_return_the_object_first(full: Full) -> None:
    parents = {t["id"]: t["subtechnique-of"] for t in _matrix_items(full.raw, "techniques")
               if t.get("subtechnique-of")}
    wrong = {}
    for atlas_id, page in full.pages.items():
        name = str(page.meta["name"])
        if atlas_id in parents:
            name = f"{full.pages[parents[atlas_id]].meta['name']}: {name}"
        hits = full.rag.search(name)
        if hits[0].id != atlas_id:
            wrong[atlas_id] = (name, [h.id for h in hits[:3]])
    assert len(wrong) <= len(full.pages) // 100, wrong  # at least 99% first


def test_paraphrased_question_finds_model_extraction(full: Full) -> None:
    top = [h.id for h in full.rag.search("extracting a copy of a model by querying its API", k=3)]
    assert {"AML.T0024.002", "AML.T0024"} & set(top), top


def test_hits_are_unique_objects_with_snippets(full: Full) -> None:
    for query in PROBES:
        hits = full.rag.search(query, k=10)
        assert len(hits) == 10
        assert len({h.id for h in hits}) == 10
        assert all(h.snippet and h.url.startswith("https://atlas.mitre.org/") for h in hits)


def test_filters_on_the_full_release(full: Full) -> None:
    hits = full.rag.search("prompt injection", types=["mitigation"], k=10)
    assert hits and {h.type for h in hits} == {"mitigation"}
    hits = full.rag.search("prompt injection", tactics=["AML.TA0004"], k=10)
    assert hits
    for h in hits:
        assert h.id == "AML.TA0004" or "AML.TA0004" in full.rag.get(h.id).tactics


# --------------------------------------------------------------------------- release cache


def test_pinned_release_is_taken_from_the_cache_offline(full: Full, tmp_path: Path) -> None:
    official = OFFICIAL_RELEASES.get(str(full.raw["version"]))
    digest = hashlib.sha256(full.source.read_bytes()).hexdigest()
    if official is None or official.sha256 != digest:
        pytest.skip("ATLAS_RAG_TEST_RELEASE is not a pinned official release file")
    settings = make_settings(tmp_path, release=official.version)
    cached = tmp_path / "cache" / official.version / "ATLAS.yaml"
    cached.parent.mkdir(parents=True)
    shutil.copyfile(full.source, cached)
    assert resolve_source(settings) == cached
    cached.write_bytes(full.source.read_bytes()[:-100])  # damaged copy: never trusted
    with pytest.raises(ReleaseError, match="ATLAS_RAG_SOURCE"):
        resolve_source(settings)


# --------------------------------------------------------------------------- bad inputs (last)


def _snapshot(rag: AtlasRAG) -> list[list[tuple[str, float]]]:
    return [[(h.id, h.score) for h in rag.search(q, k=5)] for q in PROBES]


def test_bad_inputs_give_errors_and_the_index_answers_the_same(full: Full, tmp_path: Path) -> None:
    before, generation = _snapshot(full.rag), full.current()
    corpus_before = {str(p.relative_to(full.corpus_dir)): p.stat().st_size
                     for p in full.corpus_dir.rglob("*.md")}
    with pytest.raises(QueryError):
        full.rag.search("")
    with pytest.raises(QueryError):
        full.rag.search("model " * 10_000)
    with pytest.raises(UnknownIdError):
        full.rag.get("AML.T0999")
    assert "AML.T0999" not in [h.id for h in full.rag.search("AML.T0999")]
    text = full.source.read_text(encoding="utf-8")
    truncated = tmp_path / "ATLAS.yaml"
    truncated.write_text(text[: len(text) // 2], encoding="utf-8")
    with pytest.raises(ReleaseError) as info:
        build_index(truncated, full.corpus_dir, full.index_dir, settings=full.settings)
    assert str(truncated) in str(info.value)
    assert full.current() == generation
    assert _snapshot(full.rag) == before
    reopened = AtlasRAG.open(full.index_dir, settings=full.settings)
    assert _snapshot(reopened) == before
    assert {str(p.relative_to(full.corpus_dir)): p.stat().st_size
            for p in full.corpus_dir.rglob("*.md")} == corpus_before


def test_rebuild_of_the_unchanged_release_reuses_every_vector(full: Full) -> None:
    before = [[i for i, _ in hits] for hits in _snapshot(full.rag)]
    report = build_index(full.source, full.corpus_dir, full.index_dir, settings=full.settings)
    assert report.embedded == 0
    assert report.reused == report.chunks == full.report.chunks
    assert full.current() == report.generation != full.report.generation
    reopened = AtlasRAG.open(full.index_dir, settings=full.settings)
    after = [[i for i, _ in hits] for hits in _snapshot(reopened)]
    # The dense candidates come from an approximate (HNSW) graph that differs between builds,
    # so the tail of a ranking may move a little; the best hits must not.
    for old, new in zip(before, after, strict=True):
        assert new[0] == old[0]
        assert len(set(new) & set(old)) >= 4


# --------------------------------------------------------------------------- answers


def test_answers_use_the_relations_of_the_release(full: Full) -> None:
    mitigations = {
        m["id"]
        for m in _matrix_items(full.raw, "mitigations")
        if any(t["id"] == "AML.T0051.001" for t in m.get("techniques") or [])
    }
    answer = full.rag.ask("which mitigations address indirect prompt injection?")
    assert set(answer.citations) - {"AML.T0051.001"} == mitigations
    studies = {
        cs["id"]
        for cs in full.raw["case-studies"]
        if any(step["technique"] == "AML.T0070" for step in cs["procedure"])
    }
    answer = full.rag.ask("which case studies used RAG poisoning?")
    assert set(answer.citations) - {"AML.T0070"} == studies


def test_off_topic_questions_abstain_and_in_scope_ones_do_not(full: Full) -> None:
    for question in ("give me a recipe for vegetarian lasagna", "who won the 2018 world cup?"):
        answer = full.rag.ask(question)
        assert answer.abstained and answer.citations == [], question
    answer = full.rag.ask("how do attackers steal a model through its API?")
    assert not answer.abstained
    assert {"AML.T0024.002", "AML.T0024"} & set(answer.citations[:3])

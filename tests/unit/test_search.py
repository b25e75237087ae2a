"""Search and lookup on the fixture index built with the fake embedder."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas_rag import AtlasRAG, QueryError, UnknownIdError
from atlas_rag.release import load_release
from helpers import FIXTURE_IDS, FIXTURE_NAMES, FIXTURE_SUBTECHNIQUES, BuiltIndex

pytestmark = pytest.mark.unit


def _full_name(atlas_id: str) -> str:
    if atlas_id in FIXTURE_SUBTECHNIQUES:
        return f"{FIXTURE_NAMES[atlas_id.rsplit('.', 1)[0]]}: {FIXTURE_NAMES[atlas_id]}"
    return FIXTURE_NAMES[atlas_id]


def test_build_report_of_the_fixture(built_index: BuiltIndex) -> None:
    report = built_index.report
    assert report.atlas_version == "0.9.0"
    assert report.pages == 15
    assert report.pages_by_type == {
        "tactic": 3, "technique": 4, "subtechnique": 3, "mitigation": 3, "case-study": 2
    }
    assert report.chunks > 15
    assert report.embedded == report.chunks == built_index.embedder.embedded
    assert report.reused == 0
    assert report.skipped == []
    assert (built_index.index_dir / "CURRENT").read_text().strip() == report.generation
    assert "15 pages" in report.summary()


def test_opened_index_knows_the_release(rag: AtlasRAG) -> None:
    assert rag.version == "0.9.0"
    assert sorted(rag.catalog.records) == sorted(FIXTURE_IDS)
    assert rag.manifest["model"] == "fake-embedder"
    assert rag.manifest["dimension"] == 64


@pytest.mark.parametrize("atlas_id", FIXTURE_IDS)
def test_exact_id_is_ranked_first_in_any_letter_case(rag: AtlasRAG, atlas_id: str) -> None:
    for query in (atlas_id, atlas_id.lower(), f"What is {atlas_id.lower()}?",
                  f"tell me how {atlas_id} relates to the orchard"):
        hits = rag.search(query)
        assert hits[0].id == atlas_id, query
        assert hits[0].matched_by == ("exact",)
        assert all(h.score < hits[0].score for h in hits[1:])


@pytest.mark.parametrize("atlas_id", FIXTURE_IDS)
def test_name_queries_rank_the_object_first(rag: AtlasRAG, atlas_id: str) -> None:
    name = _full_name(atlas_id)
    for query in (name, name.lower(), f"What is {name}?"):
        assert rag.search(query)[0].id == atlas_id, query


def test_subtechnique_name_alone_finds_it(rag: AtlasRAG) -> None:
    assert rag.search("Grafted Label Swapping")[0].id == "AML.T0902.001"


def test_attack_reference_finds_the_technique(rag: AtlasRAG) -> None:
    assert rag.search("T1999")[0].id == "AML.T0901"
    assert rag.search("which ATLAS technique matches t1999?")[0].id == "AML.T0901"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("charted a botanical archive", "AML.CS0902"),
        ("pears and apricots", "AML.T0902.001"),
        ("keyring snapshot unreadable", "AML.M0903"),
        ("changelogs", "AML.T0901.002"),
        ("tainted kernels blight", "AML.T0902"),
        ("query the endpoint thousands of times and fit a replica", "AML.T0903"),
    ],
)
def test_description_words_find_the_object(rag: AtlasRAG, query: str, expected: str) -> None:
    hits = rag.search(query)
    assert hits[0].id == expected
    assert "exact" not in hits[0].matched_by


def test_hits_describe_the_object(rag: AtlasRAG) -> None:
    hit = rag.search("herbarium", types=["case-study"])[0]
    assert hit.id == "AML.CS0902"
    assert hit.title == "AML.CS0902: Glasshouse Cartographer Incident"
    assert hit.type == "case-study"
    assert hit.url == "https://atlas.mitre.org/studies/AML.CS0902"
    assert "herbarium" in hit.snippet
    assert hit.section == "Procedure"
    sub = rag.search("AML.T0902.001")[0]
    assert sub.name == "Seedbank Poisoning: Grafted Label Swapping"
    assert sub.tactics == ("AML.TA0902",)
    assert sub.snippet and len(sub.snippet) <= 300


@pytest.mark.parametrize(
    "query", ["seedbank", "ledger", "beacon", "AML.T0901", "orchard predictors replica"]
)
def test_one_hit_per_object_best_first(rag: AtlasRAG, query: str) -> None:
    hits = rag.search(query, k=15)
    ids = [h.id for h in hits]
    assert len(ids) == len(set(ids))
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_k_limits_the_number_of_hits(rag: AtlasRAG) -> None:
    assert len(rag.search("seedbank", k=2)) == 2
    assert len(rag.search("seedbank", k=1)) == 1


def test_type_filter(rag: AtlasRAG) -> None:
    hits = rag.search("seedbank", types=["mitigation"], k=10)
    assert hits and hits[0].id == "AML.M0902"
    assert {h.type for h in hits} == {"mitigation"}
    studies = rag.search("beacon", types="case-study", k=10)
    assert studies and {h.type for h in studies} == {"case-study"}
    both = rag.search("seedbank", types=["technique", "subtechnique"], k=10)
    assert {h.type for h in both} <= {"technique", "subtechnique"}
    assert {"AML.T0902", "AML.T0902.001"} <= {h.id for h in both}


def test_type_filter_also_applies_to_exact_matches(rag: AtlasRAG) -> None:
    hits = rag.search("AML.T0901", types=["mitigation"], k=10)
    assert "AML.T0901" not in [h.id for h in hits]
    assert hits[0].id == "AML.M0901"  # the mitigation that addresses it


def test_tactic_filter(rag: AtlasRAG) -> None:
    hits = rag.search("ledger", tactics=["aml.ta0901"], k=15)
    ids = [h.id for h in hits]
    assert "AML.T0904" in ids  # listed under two tactics
    assert "AML.M0903" not in ids  # mitigations have no tactic
    for h in hits:
        assert h.id == "AML.TA0901" or "AML.TA0901" in rag.get(h.id).tactics
    only = rag.search("seedbank", tactics=["AML.TA0902"], types=["subtechnique"], k=5)
    assert [h.id for h in only] == ["AML.T0902.001"]


@pytest.mark.parametrize("query", ["", "   ", "\n\t", "?!", "\x00\x01"])
def test_empty_query_is_a_query_error(rag: AtlasRAG, query: str) -> None:
    with pytest.raises(QueryError, match="empty") as info:
        rag.search(query)
    assert isinstance(info.value, ValueError)


def test_too_long_query_is_a_query_error(rag: AtlasRAG) -> None:
    with pytest.raises(QueryError, match="50,000 characters"):
        rag.search("seedbank " * 5000 + "xxxxx" * 1000)
    with pytest.raises(QueryError, match="limit is 4,000"):
        rag.search("a" * 4001)
    assert rag.search("seedbank " + "a" * 3991)  # exactly at the limit is fine


def test_unknown_type_is_a_query_error(rag: AtlasRAG) -> None:
    with pytest.raises(QueryError, match="playbook"):
        rag.search("seedbank", types=["playbook"])


def test_non_positive_k_is_a_query_error(rag: AtlasRAG) -> None:
    with pytest.raises(QueryError):
        rag.search("seedbank", k=0)


def test_unknown_id_in_a_search_is_not_an_exact_hit(rag: AtlasRAG) -> None:
    hits = rag.search("AML.T0999")
    assert "AML.T0999" not in [h.id for h in hits]
    assert all("exact" not in h.matched_by for h in hits)


def test_get_returns_the_record_with_relations(rag: AtlasRAG, fixture_release: Path) -> None:
    release = load_release(fixture_release)
    for atlas_id in FIXTURE_IDS:
        got, want = rag.get(atlas_id.lower()), release.get(atlas_id)
        assert got.id == atlas_id
        assert (got.name, got.type, got.url) == (want.name, want.type, want.url)
        assert (got.tactics, got.parent, got.subtechniques, got.mitigations,
                got.case_studies, got.techniques) == (
            want.tactics, want.parent, want.subtechniques, want.mitigations,
            want.case_studies, want.techniques)
        assert got.attack_reference == want.attack_reference
        assert got.uses == want.uses
        assert [(s.tactic, s.technique) for s in got.procedure] == [
            (s.tactic, s.technique) for s in want.procedure
        ]


@pytest.mark.parametrize("bad", ["AML.T0999", "aml.cs0999", "Seedbank Poisoning", ""])
def test_get_unknown_id_is_an_unknown_id_error_and_a_key_error(rag: AtlasRAG, bad: str) -> None:
    with pytest.raises(UnknownIdError) as info:
        rag.get(bad)
    assert isinstance(info.value, KeyError)
    if bad.startswith(("AML", "aml")):
        assert bad.upper() in str(info.value)
    with pytest.raises(KeyError):
        rag.get(bad)


def test_map_text_embeds_its_windows_in_one_batch_with_the_same_result(
    built_index: BuiltIndex,
) -> None:
    from helpers import FakeEmbedder

    text = ("The crew slipped tainted kernels into the seedbank before the spring grafting. "
            "Weeks later they cloned the weathervane predictor through its public endpoint. "
            "Then they scraped the tidal charts to time the next release.")
    results = []
    for batched in (True, False):
        embedder = FakeEmbedder()
        rag = AtlasRAG.open(built_index.index_dir, settings=built_index.settings, embedder=embedder)
        if not batched:
            rag.retriever._prefetch = None
        hits = rag.map_text(text)
        results.append(([h.id for h in hits], embedder.calls))
    (batched_ids, batched_calls), (single_ids, single_calls) = results
    assert batched_ids == single_ids and batched_ids
    assert batched_calls < single_calls  # five windows and the whole text: one call, not six

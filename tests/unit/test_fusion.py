"""How the retriever weighs its signals, on hand-made chunks and a scripted dense search."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from atlas_rag.catalog import Catalog
from atlas_rag.retrieval import CANDIDATES, STEP_WORDS, ChunkRef, Retriever

BEACON, FOGHORN, SEEDBANK, CLONING, LEDGER = (
    "AML.T0901", "AML.T0901.001", "AML.T0902", "AML.T0903", "AML.T0904",
)


def _chunk(n: int, page: str, kind: str, text: str) -> ChunkRef:
    return ChunkRef(f"{page}#{n}", page, kind, "Section", text, f"{page} context", ())


CHUNKS = [
    _chunk(0, BEACON, "description", "Lighthouse beacons sweep the harbour every night."),
    _chunk(1, BEACON, "procedure-example",
           "The surveyors hung a copper lantern from the pier crane and timed its reflections."),
    _chunk(2, BEACON, "procedure-example",
           "A copper lantern on the crane flashed while the surveyors counted reflections."),
    _chunk(3, SEEDBANK, "description", "Seedbank kernels were tainted with a hidden blight."),
    _chunk(4, SEEDBANK, "description", "Blighted kernels spread through the seedbank drawers."),
    _chunk(5, CLONING, "description", "The weathervane replica copies the proprietary predictor."),
    _chunk(6, LEDGER, "description", "Ledger vault encryption keeps silo snapshots unreadable."),
    _chunk(7, FOGHORN, "description", "Foghorn echoes map the hidden replicas behind one host."),
]


def _scripted(scores: dict[int, float]) -> Callable[[str, int], list[tuple[int, float]]]:
    """A dense search returning the same chunk similarities for every query."""
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    return lambda query, k: ranked[:k]


def _retriever(catalog: Catalog, dense: dict[int, float] | None) -> Retriever:
    return Retriever(catalog, CHUNKS, _scripted(dense) if dense is not None else None)


def _order(retriever: Retriever, query: str) -> list[str]:
    return [atlas_id for atlas_id, _, _, _ in retriever.rank(query)]


def test_dense_evidence_in_several_chunks_adds_up(catalog: Catalog) -> None:
    # Both pages' best chunk is equally similar; the seedbank matches in a second place too.
    retriever = _retriever(catalog, {0: 0.8, 3: 0.8, 4: 0.6, 5: 0.1})
    order = _order(retriever, "zebra quilt")  # no word in common: dense alone decides
    assert order.index(SEEDBANK) < order.index(BEACON)


def test_the_only_lexical_match_counts_in_full(catalog: Catalog) -> None:
    # Dense prefers the cloning page a little; only the ledger page has the query's words.
    retriever = _retriever(catalog, {5: 0.9, 6: 0.85, 0: 0.2})
    assert _order(retriever, "silo snapshots")[0] == LEDGER


def test_scores_fall_from_the_best_candidate(catalog: Catalog) -> None:
    ranked = _retriever(catalog, {5: 0.9, 6: 0.85, 0: 0.2}).rank("silo snapshots")
    scores = [score for _, score, _, _ in ranked]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == pytest.approx(0.99)


def test_labelled_steps_vote_only_for_queries_that_read_like_a_step(catalog: Catalog) -> None:
    retriever = _retriever(catalog, None)
    short = "copper lantern reflections"
    assert len(short.split()) <= STEP_WORDS[0]
    long = (
        "During the assessment the team hung a copper lantern from a crane near the pier and "
        "then timed and counted every one of its reflections off the water to learn where the "
        "harbour wall stood and which boats were moored there overnight"
    )
    assert len(long.split()) >= STEP_WORDS[1]
    signals = {atlas_id: how for atlas_id, _, how, _ in retriever.rank(long)}
    assert "steps" in signals[BEACON]
    assert all("steps" not in how for _, _, how, _ in retriever.rank(short))


def test_step_votes_sum_the_matching_examples_of_each_technique(catalog: Catalog) -> None:
    retriever = _retriever(catalog, None)
    hits = retriever.bm25.top("copper lantern crane surveyors reflections", CANDIDATES)
    votes = dict(retriever._step_votes(hits))
    assert set(votes) == {BEACON}  # descriptions do not vote
    total, first = votes[BEACON]
    assert total == pytest.approx(2.0, abs=0.5)  # two examples, each a share of the best
    assert first in (1, 2)


def test_exact_ids_stay_ahead_of_fused_scores(catalog: Catalog) -> None:
    retriever = _retriever(catalog, {0: 0.9, 5: 0.2})
    ranked = retriever.rank("is AML.T0903 like lighthouse beacons?")
    assert ranked[0][0] == CLONING and ranked[0][2] == ("exact",)
    assert ranked[1][0] == BEACON


class WordReranker:
    """A stand-in cross-encoder: a text scores by how often it says ``word``."""

    def __init__(self, word: str) -> None:
        self.word = word
        self.calls = 0

    def score(self, query: str, texts: list[str]) -> list[float]:
        self.calls += 1
        return [float(text.lower().count(self.word)) for text in texts]


def test_reranker_reorders_the_best_results_and_keeps_scores_falling(catalog: Catalog) -> None:
    dense = {0: 0.9, 3: 0.8, 5: 0.7, 6: 0.6, 7: 0.5}
    plain = Retriever(catalog, CHUNKS, _scripted(dense))
    reranker = WordReranker("ledger")
    reranked = Retriever(catalog, CHUNKS, _scripted(dense), reranker=reranker, rerank_depth=3)
    before = plain.rank("zebra quilt")
    after = reranked.rank("zebra quilt")
    assert before[0][0] == BEACON and before[3][0] == LEDGER  # fourth without re-ranking
    # Only the first three are re-ordered: the ledger page, fourth, stays where it was.
    assert [a for a, *_ in after[3:]] == [a for a, *_ in before[3:]]
    assert {a for a, *_ in after[:3]} == {a for a, *_ in before[:3]}
    assert all("rerank" in how for _, _, how, _ in after[:3])
    assert [s for _, s, _, _ in after] == [s for _, s, _, _ in before]

    deep = Retriever(catalog, CHUNKS, _scripted(dense), reranker=WordReranker("ledger"))
    assert deep.rank("zebra quilt")[0][0] == LEDGER


def test_reranker_leaves_exact_matches_first_and_is_asked_once_per_query(
    catalog: Catalog,
) -> None:
    reranker = WordReranker("weathervane")
    retriever = Retriever(catalog, CHUNKS, _scripted({0: 0.9, 5: 0.2, 6: 0.1}), reranker=reranker)
    ranked = retriever.rank("AML.T0904 beacons")
    assert ranked[0][0] == LEDGER and ranked[0][2] == ("exact",)
    assert ranked[1][0] == CLONING  # the only other text saying "weathervane"
    retriever.rank("AML.T0904 beacons")
    assert reranker.calls == 1


def test_a_hit_found_by_a_summary_chunk_quotes_the_description(catalog: Catalog) -> None:
    lead = _chunk(8, FOGHORN, "lead",
                  "Sub-technique of AML.T0901: Lighthouse Beacon Probing Adversaries sound a foghorn.")
    retriever = Retriever(catalog, [*CHUNKS, lead], _scripted({8: 0.9, 0: 0.3}))
    hit = retriever.search("zebra quilt", k=1)[0]
    assert hit.id == FOGHORN
    assert hit.section == "Description"
    assert not hit.snippet.startswith("Sub-technique of")
    assert hit.snippet in catalog.get(FOGHORN).description


def test_signal_weights_come_from_the_settings_and_unknown_signals_are_refused(
    catalog: Catalog,
) -> None:
    from atlas_rag.errors import SettingsError
    from atlas_rag.retrieval import DEFAULT_WEIGHTS
    from atlas_rag.settings import Settings

    settings = Settings.from_env(env={"ATLAS_RAG_SIGNAL_WEIGHTS": "dense=2.5, steps=0"})
    retriever = Retriever(catalog, CHUNKS, None, weights=settings.weights())
    assert retriever.weights == {**DEFAULT_WEIGHTS, "dense": 2.5, "steps": 0.0}
    with pytest.raises(SettingsError, match="unknown retrieval signal"):
        Retriever(catalog, CHUNKS, None, weights={"telepathy": 1.0})
    with pytest.raises(SettingsError, match="name=weight"):
        Settings.from_env(env={"ATLAS_RAG_SIGNAL_WEIGHTS": "dense"})


def test_a_signal_with_no_weight_does_not_count(catalog: Catalog) -> None:
    lexical_only = Retriever(catalog, CHUNKS, _scripted({0: 0.9}), weights={"dense": 0.0})
    assert all("dense" not in how for _, _, how, _ in lexical_only.rank("seedbank ledger"))


def test_exact_nearest_neighbours_are_the_best_rows_in_order() -> None:
    import numpy as np

    from atlas_rag.api import exact_nearest

    matrix = np.eye(4, dtype=np.float32)
    vector = np.array([0.1, 0.9, 0.3, 0.0], dtype=np.float32)
    assert [row for row, _ in exact_nearest(matrix, vector, 2)] == [1, 2]
    assert exact_nearest(matrix[:0], vector, 3) == []


def test_weights_given_to_one_search_override_the_settings_for_it_alone(catalog: Catalog) -> None:
    # Only the ledger page has the query's words; dense prefers the cloning page.
    retriever = _retriever(catalog, {5: 0.9, 6: 0.3, 0: 0.2})
    assert _order(retriever, "silo snapshots")[0] == LEDGER
    hits = retriever.search("silo snapshots", k=1, weights={"dense": 10.0})
    assert hits[0].id == CLONING
    assert _order(retriever, "silo snapshots")[0] == LEDGER  # the settings' weights again


def _examples(votes: list[tuple[str, float]]) -> Callable[[str, int], list[tuple[str, float]]]:
    """An example search returning the same nearest questions for every query."""
    return lambda query, k: votes[:k]


def test_example_questions_vote_for_the_objects_answering_them(catalog: Catalog) -> None:
    # Dense slightly prefers the beacon; no query word is in any chunk. Two close example
    # questions answered by the seedbank outweigh one loose one answered by the beacon.
    dense = _scripted({0: 0.62, 3: 0.6})
    plain = Retriever(catalog, CHUNKS, dense)
    voted = Retriever(catalog, CHUNKS, dense,
                      examples=_examples([(SEEDBANK, 0.9), (SEEDBANK, 0.85), (BEACON, 0.5)]))
    assert _order(plain, "zebra quilt")[0] == BEACON
    assert _order(voted, "zebra quilt")[0] == SEEDBANK
    assert "examples" in next(how for i, _, how, _ in voted.rank("zebra quilt") if i == SEEDBANK)


def test_a_near_paraphrase_outvotes_several_loose_ones(catalog: Catalog) -> None:
    # Similarity counts to the fourth power: one question at 0.95 beats three at 0.6.
    retriever = Retriever(catalog, CHUNKS, None, weights={"page_bm25": 0.0, "chunk_bm25": 0.0},
                          examples=_examples([(LEDGER, 0.95), (CLONING, 0.6), (CLONING, 0.6),
                                              (CLONING, 0.6)]))
    assert _order(retriever, "zebra quilt")[0] == LEDGER


def test_example_votes_for_objects_missing_from_the_index_are_ignored(catalog: Catalog) -> None:
    retriever = Retriever(catalog, CHUNKS, None,
                          examples=_examples([("AML.T0999", 0.99), (LEDGER, 0.5)]))
    order = _order(retriever, "zebra quilt")
    assert "AML.T0999" not in order and order[0] == LEDGER


def test_without_stored_examples_the_signal_is_off(catalog: Catalog) -> None:
    retriever = Retriever(catalog, CHUNKS, _scripted({0: 0.9}))
    assert all("examples" not in how for _, _, how, _ in retriever.rank("zebra quilt"))


def test_words_users_ask_an_object_with_find_it(catalog: Catalog) -> None:
    # "gull" is in no chunk; two example questions answered by the ledger use it, and one
    # answered by an object the index lacks uses it too.
    asked = [("can a gull peck open the silo", LEDGER), ("gull droppings on the vault?", LEDGER),
             ("the lantern keeper's hours", BEACON), ("gull season", "AML.T0999")]
    plain = Retriever(catalog, CHUNKS, _scripted({5: 0.6, 6: 0.5}))
    asked_with = Retriever(catalog, CHUNKS, _scripted({5: 0.6, 6: 0.5}), example_questions=asked)
    assert _order(plain, "gull attack")[0] == CLONING
    order = _order(asked_with, "gull attack")
    assert order[0] == LEDGER and "AML.T0999" not in order
    assert "examples" in next(how for i, _, how, _ in asked_with.rank("gull attack") if i == LEDGER)


def test_words_of_the_example_questions_count_with_their_weight(catalog: Catalog) -> None:
    asked = [("can a gull peck open the silo", LEDGER)]
    off = Retriever(catalog, CHUNKS, _scripted({5: 0.6, 6: 0.5}), example_questions=asked,
                    weights={"example_words": 0.0})
    assert _order(off, "gull attack")[0] == CLONING

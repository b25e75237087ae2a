"""The BM25 tokenizer keeps IDs whole; BM25 ranks documents with the query words first."""

from __future__ import annotations

import pytest

from atlas_rag.lexical import BM25, same_word, stem, tokenize, with_formal_words

pytestmark = pytest.mark.unit


def test_subtechnique_id_stays_whole_and_adds_its_parent() -> None:
    assert tokenize("AML.T0051.001") == ["aml.t0051.001", "aml.t0051"]


def test_ids_in_text_are_lower_case_and_not_split() -> None:
    tokens = tokenize("See AML.TA0004, aml.m0015 and AML.CS0005; also T1596.002 and TA0043.")
    assert "aml.ta0004" in tokens
    assert "aml.m0015" in tokens
    assert "aml.cs0005" in tokens
    assert "t1596.002" in tokens
    assert "ta0043" in tokens
    assert "0004" not in tokens and "t0051" not in tokens


def test_top_level_ids_get_no_extra_parent() -> None:
    assert tokenize("AML.T0051") == ["aml.t0051"]


def test_stopwords_are_dropped_and_words_stemmed() -> None:
    assert tokenize("What is the poisoning of the models?") == ["poison", "model"]
    assert tokenize("queries") == tokenize("query")
    assert stem("aml.t0051") == "aml.t0051"
    assert stem("gas") == "gas"


def test_tokenize_of_nothing_useful_is_empty() -> None:
    assert tokenize("the of and ??? !!!") == []


DOCS = [
    "Lighthouse beacons sweep the harbour every night.",
    "Seedbank kernels were tainted with a hidden blight.",
    "The weathervane replica copies the proprietary predictor, the weathervane turns.",
    "Ledger vault encryption keeps silo snapshots unreadable. Reference AML.T0904.",
    "Sub-technique AML.T0901.002 scrapes tidal charts.",
]


def test_bm25_ranks_the_document_with_the_query_words_first() -> None:
    bm25 = BM25(DOCS)
    assert bm25.top("tainted seedbank kernels", 3)[0][0] == 1
    assert bm25.top("weathervane replica", 3)[0][0] == 2
    assert bm25.top("encrypted vault for silo ledgers", 3)[0][0] == 3


def test_bm25_matches_ids_and_a_parent_id_finds_its_subtechnique() -> None:
    bm25 = BM25(DOCS)
    assert [i for i, _ in bm25.top("aml.t0904", 5)] == [3]
    assert [i for i, _ in bm25.top("AML.T0901", 5)] == [4]


def test_bm25_returns_only_matching_documents_best_first() -> None:
    bm25 = BM25(DOCS)
    top = bm25.top("weathervane lighthouse", 5)
    assert {i for i, _ in top} == {0, 2}
    scores = [s for _, s in top]
    assert scores == sorted(scores, reverse=True)
    assert all(s > 0 for s in scores)
    assert bm25.top("nothing shares these zebra words", 5) == []


def test_bm25_scores_rare_terms_higher_than_common_ones() -> None:
    bm25 = BM25(["apple common", "banana common", "cherry common", "apple rare"])
    scores = bm25.scores("rare common")
    assert scores[3] == max(scores)


def test_bm25_of_no_documents() -> None:
    bm25 = BM25([])
    assert bm25.top("anything", 5) == []


def test_the_standard_english_stemmer_joins_word_forms() -> None:
    assert tokenize("poisoning poisoned poisons") == ["poison"] * 3
    assert tokenize("generate generated generation") == ["generat"] * 3
    assert tokenize("AML.T0051.001 studies") == ["aml.t0051.001", "aml.t0051", "studi"]


def test_everyday_words_also_match_the_formal_ones_at_lower_weight() -> None:
    bm25 = BM25(["The adversary may extract the model.", "The model is served on a GPU."])
    scores = bm25.scores("steal model")
    assert scores[0] > scores[1] > 0
    exact = BM25(["The adversary may steal the model.", "The adversary may extract the model."])
    steal, extract = exact.scores("steal model")
    assert steal > extract > 0


def test_formal_words_are_appended_for_the_embedding_model() -> None:
    assert with_formal_words("they stole the model") == "they stole the model"  # not a listed form
    assert with_formal_words("steal the model") == "steal the model (extract, exfiltrate, theft)"
    # Nothing to add, or the formal word is already there: the text is unchanged.
    assert with_formal_words("weathervane beacons") == "weathervane beacons"
    assert with_formal_words("leak: extract, exfiltrate, disclose") == "leak: extract, exfiltrate, disclose"


def test_a_word_the_index_lacks_matches_its_other_forms() -> None:
    index = BM25(["the attacker may invert the classifier", "a classifier under test"])
    # "inversion" stems to a term no document has; "invert" is the same word in another form.
    assert index.forms_of(stem("inversion")) == ["invert"]
    assert index.top("classifier inversion", 2)[0][0] == 0
    assert index.forms_of("classifi") == []  # a term the index has is not expanded
    assert index.forms_of("inv") == []  # too short to say


def test_same_word_needs_a_long_shared_start() -> None:
    assert same_word("invers", "invert")
    assert same_word("exfiltr", "exfiltr")
    assert not same_word("poison", "position")
    assert not same_word("model", "modem")  # four shared letters are too few
    assert not same_word("extract", "exterior")

"""Subject linking on the fixture release: IDs in any form, names, typos, honest confidence."""

from __future__ import annotations

import dataclasses

import pytest

from atlas_rag import AtlasRAG
from atlas_rag.catalog import Catalog
from atlas_rag.conversation.linking import Link, Linker, close_first

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def linker(rag: AtlasRAG) -> Linker:
    return rag.answerer.linker


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("what is AML.T0902?", "AML.T0902"),
        ("m0901 pls", "AML.M0901"),
        ("AML-T0901-2", "AML.T0901.002"),
        ("aml t0903", "AML.T0903"),
        ("cs0902", "AML.CS0902"),
        ("TA0902?", "AML.TA0902"),
        ("what does m901 cover", "AML.M0901"),  # leading zero dropped
        ("cs902?", "AML.CS0902"),
    ],
)
def test_ids_in_every_form_link_with_full_confidence(linker: Linker, text: str, expected: str) -> None:
    links = linker.link(text).links
    assert links[0].id == expected and links[0].confidence == 1.0


def test_an_attack_id_links_to_the_atlas_object_that_references_it(linker: Linker) -> None:
    found = linker.link("what does T1999 map to in atlas")
    assert found.links[0].id == "AML.T0901" and found.links[0].how == "attack"
    assert found.attack[0].attack_id == "T1999" and found.attack[0].atlas_ids == ("AML.T0901",)


def test_an_unknown_atlas_id_is_reported_not_linked(linker: Linker) -> None:
    found = linker.link("what is AML.T0999 and M0999")
    assert found.links == [] and found.unknown_ids == ["AML.T0999", "AML.M0999"]


def test_a_shortened_id_of_no_object_is_a_name_not_an_unknown_id(linker: Linker) -> None:
    found = linker.link("the M365 rollout and the M62 roadworks")
    assert found.unknown_ids == [] and not any(link.how == "id" for link in found.links)


def test_a_bare_attack_style_id_unknown_to_both_is_not_called_an_atlas_id(linker: Linker) -> None:
    found = linker.link("what about T1059")
    assert found.links == [] and found.unknown_ids == []


def test_exact_names_link_and_the_longest_name_wins(linker: Linker) -> None:
    links = linker.link("how does seedbank poisoning relate to beacon throttling").links
    assert {link.id for link in links} == {"AML.T0902", "AML.M0901"}
    assert all(link.confidence >= 0.9 for link in links)


def test_typos_are_corrected_towards_atlas_names(linker: Linker) -> None:
    links = linker.link("tell me about seedbnak poisoning").links
    assert links[0].id == "AML.T0902" and links[0].how == "corrected"
    assert linker.correct("mitgations for wethervane clonning") == "mitigations for weathervane cloning"


def test_names_are_found_from_their_words_in_another_order(linker: Linker) -> None:
    links = linker.link("how bad is the leakage of a silo ledger").links
    assert links[0].id == "AML.T0904" and links[0].how == "name-terms"


def test_a_word_only_one_name_has_links_weakly_unless_it_looks_like_a_name(linker: Linker) -> None:
    [weak] = linker.link("the echo one").links
    assert weak.id == "AML.T0901.001" and weak.confidence < 0.75
    [strong] = linker.link("the Kestrel thing").links
    assert strong.id == "AML.CS0901" and strong.confidence >= 0.75


def test_an_item_of_a_list_is_found_by_a_word_of_its_name(linker: Linker) -> None:
    items = ["AML.T0901", "AML.T0902", "AML.T0903"]
    assert linker.item_named("tell me more about the weathervane one", items) == "AML.T0903"
    assert linker.item_named("tell me more about that one", items) is None


def test_an_item_named_by_words_its_sub_techniques_share_is_the_parent(linker: Linker) -> None:
    items = ["AML.T0901", "AML.T0901.001", "AML.T0901.002", "AML.T0902"]
    assert linker.item_named("sub-techniques of the lighthouse one", items) == "AML.T0901"
    assert linker.item_named("the lighthouse foghorn one", items) == "AML.T0901.001"


def test_an_item_is_found_by_the_words_shown_with_it(linker: Linker) -> None:
    shown = {"AML.T0901": "Lighthouse Beacon Probing ([AML.T0901]): \u201cthey pinged the greenhouse router\u201d",
             "AML.T0902": "Seedbank Poisoning ([AML.T0902]): \u201cthe tainted kernels reached the router\u201d"}
    assert linker.item_described("which tactic is the greenhouse trick under", shown) == "AML.T0901"
    assert linker.item_described("and the router part?", shown) is None  # both lines say it
    assert linker.item_described("which tactic is it under", shown) is None
    # "under" files one object under another; it describes no item, even one whose line says it.
    below = {**shown, "AML.T0902": "Seedbank Poisoning ([AML.T0902]): \u201cslipped under the fence\u201d"}
    assert linker.item_described("what tactic is that under", below) is None


def test_search_links_carry_lower_confidence_than_names(linker: Linker) -> None:
    links = linker.search("copying the predictor's behaviour into a replica")
    assert links and all(link.confidence <= 0.8 for link in links)
    assert links[0].confidence >= links[-1].confidence


def test_words_that_steer_the_conversation_do_not_steer_the_search(linker: Linker) -> None:
    plain = linker.search("weathervane model cloning")
    steered = linker.search("ok cool, different topic: weathervane model cloning")
    assert [link.id for link in steered] == [link.id for link in plain]
    assert steered[0].confidence == plain[0].confidence


def test_a_name_matched_in_another_word_form_links_as_surely(linker: Linker) -> None:
    # "scraper" (stem "scraper") is not a word of the fixture; "scraping" (stem "scrape") is.
    exact = linker.search("tidal chart scraping")
    other_form = linker.search("tidal chart scraper")
    assert other_form[0].id == exact[0].id == "AML.T0901.002"
    assert other_form[0].confidence >= 0.55


def test_a_lower_case_name_word_in_a_described_situation_is_an_ordinary_word(rag: AtlasRAG) -> None:
    import dataclasses

    from atlas_rag.conversation.linking import Link

    reader = rag.answerer.reader
    for text, proper in (("how do we stop a kestrel copying our predictor", False),
                         ("how do we stop a Kestrel copying our predictor", True)):
        start = text.lower().index("kestrel")
        link = Link("AML.CS0901", 0.8, "name-word", (start, start + 7))
        reading = dataclasses.replace(reader.read(text), intent="defend")
        assert reader._common_word(reading, link) is not proper
        # Explaining, not asking for another kind of object: the word names the case study.
        assert not reader._common_word(
            dataclasses.replace(reading, intent="explain", target="case_study"), link)


def test_name_terms_that_many_unrelated_names_share_are_generic(
        linker: Linker, monkeypatch: pytest.MonkeyPatch) -> None:
    import atlas_rag.conversation.linking as linking

    monkeypatch.setattr(linking, "GENERIC_NAMES", 2)
    # "seedbank" is in two other techniques' names (Seedbank Poisoning and its sub-technique)
    assert linker._generic("AML.T0903", frozenset({"seedbank"}))
    assert not linker._generic("AML.T0902", frozenset({"seedbank"}))  # only its own family
    monkeypatch.setattr(linking, "GENERIC_NAMES", 1)
    # "ledger" is also in a mitigation's name, Ledger Vault Encryption: another kind
    assert not linker._generic("AML.T0904", frozenset({"ledger"}))
    # its own family does not make a name generic


def test_a_definition_frame_is_dropped_before_typos_are_corrected(rag: AtlasRAG) -> None:
    """Corrected first, "whats" would become "what" and the frame would stay in the search."""
    reader = rag.answerer.reader
    calls: list[str] = []
    search = reader.linker.search

    def spy(text, types=None, k=5, weights=None):
        calls.append(text)
        return search(text, types, k, weights)

    reader.linker.search = spy  # type: ignore[method-assign]
    try:
        reader.searched("whats seedbnak poisoning")
    finally:
        del reader.linker.search
    assert calls == ["seedbank poisoning"]


def test_the_question_reader_does_not_read_opening_acknowledgements(rag: AtlasRAG) -> None:
    reader = rag.answerer.reader
    seen: list[str] = []
    predict = reader.intents.predict

    def spy(text):
        seen.append(text)
        return predict(text)

    reader.intents.predict = spy  # type: ignore[method-assign]
    try:
        reader.read("ok ok. what is the difference between beacon sweeps and seedbank poisoning")
    finally:
        del reader.intents.predict
    assert seen[0].startswith("what is the difference")


def test_a_bare_term_names_atlas_own_object_before_one_adapted_from_attack(linker: Linker) -> None:
    from atlas_rag.conversation.linking import Link
    links = [Link("AML.T0901", 0.5, "search"), Link("AML.T0902", 0.3, "search"),
             Link("AML.T0903", 0.1, "search")]
    # AML.T0901 carries an ATT&CK reference; AML.T0902 is close enough to come first.
    assert [lk.id for lk in linker._atlas_own_first("probing", links)] == [
        "AML.T0902", "AML.T0901", "AML.T0903"]
    # Described in several words, the order of the search stands.
    assert linker._atlas_own_first("probing of the greenhouse", links) == links


def test_a_case_study_name_word_in_a_technique_definition_question_is_an_ordinary_word(
        rag: AtlasRAG) -> None:
    import dataclasses

    reader = rag.answerer.reader
    question = "whats the one where a cartographer sweeps the archive endpoints every night"
    reading = reader.read(question)
    word = next(link for link in reader.linker.link(question).links if link.how == "name-word")
    assert word.id == "AML.CS0902"
    sure = dataclasses.replace(reading.prediction, target_p=0.95)
    asks_technique = dataclasses.replace(reading, intent="explain", target="technique",
                                         prediction=sure)
    assert reader._common_word(asks_technique, word)
    # Asked for a case study, or unsure of the kind, the word still names the case study.
    asks_study = dataclasses.replace(asks_technique, target="case_study")
    assert not reader._common_word(asks_study, word)
    unsure = dataclasses.replace(asks_technique,
                                 prediction=dataclasses.replace(sure, target_p=0.5))
    assert not reader._common_word(unsure, word)


def test_close_first_moves_only_among_close_links() -> None:
    links = [Link("A", 0.8, "search"), Link("B", 0.5, "search"), Link("C", 0.3, "search")]
    later = {"A"}  # "A" should go after the others, but only among the close ones
    moved = close_first(links, lambda link: link.id in later)
    assert [link.id for link in moved] == ["B", "A", "C"]  # C is under half of A's confidence
    assert close_first([], lambda link: True) == []
    assert [link.id for link in close_first(links, lambda link: False)] == ["A", "B", "C"]


def test_english_words_are_not_corrected_into_atlas_words(linker: Linker) -> None:
    """The tokenizer's whole words are words: only a typo is read as an ATLAS word."""
    assert linker.correct("the difference between them") == "the difference between them"
    assert linker.correct("seedbnak poisoning") == "seedbank poisoning"


def test_a_wider_name_replaces_an_exact_name_it_covers() -> None:
    from atlas_rag.conversation.linking import _wider

    assert _wider((0, 26), (13, 26)) and not _wider((13, 26), (13, 26))
    assert not _wider((0, 10), (13, 26)) and not _wider((0, 10), None)


def test_whole_words_come_from_the_configured_models_vocabulary(tmp_path) -> None:
    from atlas_rag.embeddings import whole_words

    (tmp_path / "vocab.txt").write_text("[CLS]\nharbour\n##ing\nquay\n42\n", encoding="utf-8")
    assert whole_words(tmp_path) == frozenset({"harbour", "quay"})
    assert whole_words(tmp_path / "missing") == frozenset()


def test_a_one_word_name_in_another_form_of_its_word_is_an_everyday_word(
        tmp_path, fixture_release) -> None:
    """"collect unemployment money" does not name Collection; "what is collection" does."""
    import yaml

    from atlas_rag.conversation.linking import NAME_WORD_CONFIDENCE, Linker
    from atlas_rag.release import load_release

    data = yaml.safe_load(fixture_release.read_text(encoding="utf-8"))
    tactic = next(t for t in data["matrices"][0]["tactics"] if t["id"] == "AML.TA0903")
    tactic["name"] = "Siphoning"
    path = tmp_path / "release.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    linker = Linker(load_release(path), None)  # type: ignore[arg-type]  # names need no search
    inflected = [link for link in linker.names("they siphoned the ledger") if link.id == "AML.TA0903"]
    assert [(link.how, link.confidence) for link in inflected] == [("name-word", NAME_WORD_CONFIDENCE)]
    named = [link for link in linker.names("what is siphoning") if link.id == "AML.TA0903"]
    assert named and named[0].confidence > NAME_WORD_CONFIDENCE


def test_a_clipped_word_is_the_one_name_word_it_begins(linker: Linker) -> None:
    from atlas_rag.conversation.linking import _completed

    assert linker.correct("any weatherv cases") == "any weathervane cases"
    assert _completed("creds", ("credential", "credentials", "create")) == "credential"
    assert _completed("expo", ("exposure", "export")) is None  # two words begin so


def test_a_message_saying_more_than_an_item_line_is_not_pointing_at_it(linker: Linker) -> None:
    shown = {"AML.T0901": "Lighthouse Beacon Probing ([AML.T0901]): \u201cthey pinged the greenhouse router\u201d",
             "AML.T0902": "Seedbank Poisoning ([AML.T0902]): \u201cthe tainted kernels reached the vault\u201d"}
    question = ("we run one greenhouse with hundreds of sensors and a shared vendor account, how "
                "do we limit the blast radius if it gets hijacked")
    assert linker.item_described(question, shown) is None


def test_between_items_named_as_closely_the_one_named_in_full_is_meant(linker: Linker) -> None:
    # Two words each; only "Seedbank Poisoning" is said whole.
    assert linker.item_named("the seedbank poisoning provenance one",
                             ["AML.M0902", "AML.T0902"]) == "AML.T0902"
    assert linker.item_named("the seedbank one", ["AML.M0902", "AML.T0902"]) is None


@pytest.mark.parametrize("text", [
    "how is that different from slow seedbank tampering (AML.T0902)",
    "how is that different from AML.T0902 (slow seedbank tampering)",
    "vs seedbank tampering ( T0902 )",
])
def test_words_beside_an_id_in_parentheses_label_that_id(linker: Linker, text: str) -> None:
    assert [link.id for link in linker.link(text).links] == ["AML.T0902"]


def test_a_name_apart_from_the_id_still_links(linker: Linker) -> None:
    ids = {link.id for link in linker.link("AML.T0902 and seedbank tampering").links}
    assert ids == {"AML.T0902", "AML.TA0902"}


def test_an_inflected_english_word_is_not_corrected_into_another_word(rag: AtlasRAG) -> None:
    """The tokenizer holds "ledge" whole but not "ledges"; sharing its stem, "ledges" is that
    word inflected, not a typo of the name word "ledger"."""
    answerer = rag.answerer
    knowing = Linker(answerer.catalog, answerer.retriever, frozenset({"ledge"}))
    assert knowing.correct("ledges on the cliff") == "ledges on the cliff"
    assert Linker(answerer.catalog, answerer.retriever).correct("ledges") == "ledger"
    assert knowing.correct("silo ledgr") == "silo ledger"  # a typo still is one


def _renamed(rag: AtlasRAG, atlas_id: str, name: str) -> Linker:
    """A linker over the fixture release with one object renamed."""
    records = [dataclasses.replace(r, name=name) if r.id == atlas_id else r for r in rag.catalog]
    return Linker(Catalog(records, rag.catalog.version), rag.answerer.retriever)


def test_a_clipped_name_may_drop_the_ai_that_marks_it(rag: AtlasRAG) -> None:
    linker = _renamed(rag, "AML.T0904", "Silo AI Ledger Leakage")
    assert linker._clipped_names("silo ledg leak, is it bad")[0].id == "AML.T0904"
    assert linker._clipped_names("silo ai ledg leak")[0].id == "AML.T0904"
    assert linker._clipped_names("silo leak") == []  # still every other word of the name


def test_where_readings_of_the_same_words_overlap_the_surest_wins(
        linker: Linker, monkeypatch: pytest.MonkeyPatch) -> None:
    # "exfil" alone read as a generic one-word name, found first; the clipped name over the
    # same words and more is surer and takes them. Links that do not overlap all stay.
    found = [Link("AML.TA0903", 0.5, "corrected", (10, 15)),
             Link("AML.T0904", 0.85, "corrected", (10, 33)),
             Link("AML.M0901", 0.6, "name-word", (40, 46))]
    monkeypatch.setattr(linker, "names", lambda text: found)
    links = linker.link("how many exfil via the silo ledger ... beacon").links
    assert [link.id for link in links] == ["AML.T0904", "AML.M0901"]


def test_a_name_typed_with_its_words_cut_short_is_that_name(linker: Linker) -> None:
    assert [(link.id, link.how) for link in linker._clipped_names("how do we do beac thrott")] == [
        ("AML.M0901", "corrected")]
    assert linker._clipped_names("silo ledg leak, is it bad")[0].id == "AML.T0904"
    assert linker._clipped_names("the silo ledger") == []  # not every word of the name
    assert linker._clipped_names("beacon throttling") == []  # whole: an exact name, not cut


def test_a_name_is_named_by_its_terms_only_when_they_stand_together(linker: Linker) -> None:
    close = {link.id: link for link in linker.link("how would someone go about poisoning the seedbank").links}
    assert close["AML.T0902"].confidence >= 0.75 and close["AML.T0902"].how == "name-terms"
    text = "the seedbank audit went fine, our worry is poisoning of labels by the vendor"
    scattered = {link.id: link for link in linker.link(text).links}
    assert "AML.T0902" not in scattered or scattered["AML.T0902"].confidence < 0.75


def test_a_lower_case_english_name_word_names_its_object_only_when_search_agrees(
        rag: AtlasRAG, linker: Linker, monkeypatch: pytest.MonkeyPatch) -> None:
    english = Linker(rag.catalog, linker.retriever, english=frozenset({"cartographer"}))
    text = "if a cartographer on our staff edits the saved predictor file, what is that"

    def confidence(lk: Linker, message: str) -> float:
        return next(link.confidence for link in lk.link(message).links
                    if link.id == "AML.CS0902" and link.how == "name-word")

    monkeypatch.setattr(english, "_searched", lambda text: set())
    assert confidence(english, text) == pytest.approx(0.6)
    # Capitalised, or a word English does not have, it is a proper name.
    assert confidence(english, text.replace("cartographer", "Cartographer")) == pytest.approx(0.8)
    assert confidence(linker, text) == pytest.approx(0.8)
    # Search on the message finding the object confirms the everyday word.
    monkeypatch.setattr(english, "_searched", lambda text: {"AML.CS0902"})
    assert confidence(english, text) == pytest.approx(0.8)


def test_a_span_found_in_the_corrected_text_is_moved_onto_the_typed_text() -> None:
    from atlas_rag.conversation.linking import Link, _span_mapper

    typed, corrected = "how many exfil ones (not sub)", "how many exfiltration ones (not sub)"
    moved = _span_mapper(typed, corrected)(Link("AML.TA0010", 0.5, "corrected", (9, 21)))
    assert moved.span == (9, 14) and typed[9:14] == "exfil"
    later = _span_mapper(typed, corrected)(Link("AML.TA0010", 0.5, "corrected", (22, 26)))
    assert typed[slice(*later.span)] == "ones"

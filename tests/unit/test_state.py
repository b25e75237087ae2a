"""The conversation state read back from history: ordinals, pointers, the last list shown."""

from __future__ import annotations

import pytest

from atlas_rag.catalog import Catalog
from atlas_rag.conversation.state import (
    answer_items,
    find_ordinal,
    find_ordinals,
    find_step_number,
    history_turns,
    item_texts,
    marked_ordinal,
    points_back,
    read_state,
    recent_subjects,
    without_ordinal,
)
from atlas_rag.conversation.vocabulary import (
    closes_with_thanks,
    shifts_topic,
    without_asking,
    without_defining,
    without_opening,
)

pytestmark = pytest.mark.unit

LIST_ANSWER = (
    "**Seedbank Poisoning** ([AML.T0902]) has 2 mitigations in ATLAS 0.9.0:\n\n"
    "1. Seedbank Provenance Sealing ([AML.M0902]): seal the seeds.\n"
    "2. Beacon Throttling ([AML.M0901]): throttle.\n\n"
    "<details><summary>Sources (3)</summary>\n\n- [AML.M0903 Ledger Vault Encryption](u)\n\n</details>\n\n"
    "[AML.T0902]: https://atlas.mitre.org/techniques/AML.T0902"
)
CARD_ANSWER = (
    "**Silo Ledger Leakage** ([AML.T0904]) is an ATLAS technique of the Harvest Siphoning "
    "([AML.TA0903]) tactic. It leaks ledgers.\n\n**Mitigations (1):** Ledger Vault Encryption "
    "([AML.M0903])"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the second one", 2),
        ("2nd one?", 2),
        ("#3", 3),
        ("number 4 pls", 4),
        ("and the last one", -1),
        ("first one", 1),
        ("step 2?", 2),
        ("tell me about the third", 3),
        ("3", 3),
        ("and 5?", 5),
    ],
)
def test_ordinal_references_are_read(text: str, expected: int) -> None:
    assert find_ordinal(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "what should we fix first",  # an adverb, not a list position
        "which comes first, recon or staging?",
        "what is AML.T0051",
        "we have 3 models in production and 12 GPUs",
        "last week someone stole our model",
        # An ordinal before a noun of time, events or place orders the user's own story.
        "how did they get hold of the weights in the first place",
        "what changed since the last time we looked at the tool list",
        "the second attempt went through the gateway",
        # In a long story "the last" and "the first" are of the story, not picks of a list.
        "ticket 4411: returns at one store were all marked verified by the same associate for "
        "three months, all tied to two addresses, and after the last two retrains the fraud "
        "model stopped flagging that pattern at all",
    ],
)
def test_words_that_are_not_ordinal_references(text: str) -> None:
    assert find_ordinal(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("how is #1 different from #2", [1, 2]),
        ("compare the first and last of those", [1, -1]),  # a word joined to a pick
        ("the second, third and fourth", [2, 3, 4]),
        ("the second vs the third one", [2, 3]),
        ("the first one, and last week we saw it again", [1]),  # "last week" is a time
        ("what should we fix first and last", []),  # adverbs, no pick to join
    ],
)
def test_every_position_a_message_picks_is_read_in_order(text: str, expected: list[int]) -> None:
    assert find_ordinals(text) == expected


def test_a_marked_pick_is_told_from_a_bare_the_last() -> None:
    for marked in ("the 3rd one - why is that", "#2 please", "item 4", "the last one there"):
        assert marked_ordinal(marked), marked
    for bare in ("why is the last initial access", "the last", "what about the first place"):
        assert not marked_ordinal(bare), bare


def test_a_long_message_still_picks_by_a_marked_ordinal() -> None:
    story = ("we looked at the list again with the team this morning and we think the one that "
             "matters most for our returns desk, given everything that happened in the audit, is")
    assert find_ordinal(f"{story} #2") == 2
    assert find_ordinal(f"{story} the second one") == 2
    assert find_ordinal(f"{story} the second") is None


def test_a_date_in_a_long_message_is_no_pick() -> None:
    scan = ("scan finding 77: an exposed training dashboard with no auth, first seen nine days "
            "ago; its job history shows two jobs submitted from an unknown address on the 11th, "
            "and the node environment holds cloud keys. map it?")
    assert find_ordinals(scan) == []
    assert find_ordinals(f"{scan} the 11th one") == [11]  # a marked pick still counts
    assert find_ordinals("and the 11th?") == [11]  # a short message picks with it


def test_only_the_words_that_pick_are_taken_out() -> None:
    assert "second" not in without_ordinal("what about the second one")
    story = ("ticket 4411: returns at one store were all marked verified by the same associate "
             "for three months, and after the last two retrains the fraud model quietly stopped "
             "flagging that pattern, "
             "see #2")
    kept = without_ordinal(story)
    assert "the last two retrains" in kept and "#2" not in kept


@pytest.mark.parametrize("text", ["how do I stop it?", "its mitigations", "and those?",
                                  "what about that technique"])
def test_pointers_back(text: str) -> None:
    assert points_back(text)


@pytest.mark.parametrize("text", ["how do I stop prompt injection?", "list all tactics",
                                  "which ones are about agents"])
def test_no_pointer_back(text: str) -> None:
    assert not points_back(text)


def test_the_items_of_a_list_answer_in_order_without_its_sources(catalog: Catalog) -> None:
    items, subjects = answer_items(LIST_ANSWER, catalog)
    assert items == ["AML.M0902", "AML.M0901"]  # shown order, not ID order
    assert subjects == ["AML.T0902"]  # the lead, not the list or the sources


def test_each_item_comes_with_the_text_shown_on_its_line(catalog: Catalog) -> None:
    texts = item_texts(LIST_ANSWER, catalog)
    assert list(texts) == ["AML.M0902", "AML.M0901"]
    assert all(atlas_id in line for atlas_id, line in texts.items())
    assert item_texts(CARD_ANSWER, catalog) == {}


def test_a_card_has_subjects_and_no_items(catalog: Catalog) -> None:
    items, subjects = answer_items(CARD_ANSWER, catalog)
    assert items == []
    assert subjects[0] == "AML.T0904"


def test_history_in_every_accepted_shape_gives_the_same_turns() -> None:
    pairs = [("q1", "a1"), ("q2", "a2")]
    messages = [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"},
                {"role": "user", "content": [{"type": "text", "text": "q2"}]},
                {"role": "assistant", "content": "a2"}]
    assert history_turns(pairs) == history_turns(messages)
    assert [t.question for t in history_turns(messages)] == ["q1", "q2"]


def test_state_points_at_the_last_answer_that_showed_objects(catalog: Catalog) -> None:
    state = read_state([("mitigations of seedbank poisoning", LIST_ANSWER),
                        ("thanks", "You're welcome!")], catalog)
    assert state.items == ["AML.M0902", "AML.M0901"]
    assert state.item(2) == "AML.M0901" and state.item(-1) == "AML.M0901"
    assert state.item(3) is None


def test_after_picking_from_a_list_ordinals_keep_pointing_into_that_list(catalog: Catalog) -> None:
    state = read_state([("mitigations of seedbank poisoning", LIST_ANSWER),
                        ("the first one", CARD_ANSWER)], catalog)
    assert state.subjects[0] == "AML.T0904"  # "its ..." is about the object just shown
    assert state.items == ["AML.M0902", "AML.M0901"]  # "the last one" is still in that list


def test_an_inline_list_after_a_lead_about_no_object_is_the_answers_list(catalog: Catalog) -> None:
    count = ("The fixture has **3** mitigations.\n\nThey are Beacon Throttling ([AML.M0901]), "
             "Seedbank Provenance Sealing ([AML.M0902]) and Ledger Vault Encryption ([AML.M0903]).")
    assert answer_items(count, catalog)[0] == ["AML.M0901", "AML.M0902", "AML.M0903"]
    # The same paragraph after a lead about one object is detail of that object, not a list.
    card = count.replace("The fixture has **3** mitigations.", "**Beacon Throttling** ([AML.M0901]).")
    assert answer_items(card, catalog)[0] == []


def test_an_inline_list_of_another_kind_than_the_one_object_of_the_lead_is_its_list(
        catalog: Catalog) -> None:
    # "ATLAS lists 18 case studies for LLM Prompt Crafting. They are A, B, C ...": "which of
    # those involve MCP" picks from them.
    count = ("The fixture lists **3** mitigations for **Silo Ledger Leakage** ([AML.T0904]).\n\n"
             "They are Beacon Throttling ([AML.M0901]), Seedbank Provenance Sealing "
             "([AML.M0902]) and Ledger Vault Encryption ([AML.M0903]).")
    assert answer_items(count, catalog) == (["AML.M0901", "AML.M0902", "AML.M0903"], ["AML.T0904"])


@pytest.mark.parametrize("text, shifts", [
    ("unrelated: how would someone get the bot to say something that embarrasses us", True),
    ("different question - what is a lighthouse probe", True),
    ("ok, switching gears, how do they clone it", True),
    ("how do we protect that", False),
    ("is there another way to do it?", False),
    ("what about that one", False),
])
def test_a_new_topic_is_announced_at_the_opening(text: str, shifts: bool) -> None:
    assert shifts_topic(text) is shifts


@pytest.mark.parametrize("text, closes", [
    ("thanks, sending it to the team", True),
    ("great thanks, that will do for the standup", True),
    ("cheers for the help earlier, the board liked the chart", True),
    ("filed the ticket. thx", True),
    ("thank you", True),
    ("thanks, what about the beacon sweep", False),  # a question follows
    ("thx. now show me the silo probes", False),  # a request follows
    ("thanks! and for the ledger bot?", False),
    ("ok thanks, compare the two", False),
    ("we filed the ticket about the beacon sweep", False),  # no thanks
    ("thanks " + "the beacon sweep hit our ledger bot again " * 3, False),  # too long to close
])
def test_a_message_that_thanks_and_asks_nothing_closes(text: str, closes: bool) -> None:
    assert closes_with_thanks(text) is closes


@pytest.mark.parametrize("text, kept", [
    ("what is model inversion", "model inversion"),
    ("whats a lighthouse probe?", "lighthouse probe?"),
    ("What are the mitigations for it", "mitigations for it"),
    ("what is it", "what is it"),  # nothing would be left to search
    ("how is it done", "how is it done"),
])
def test_the_frame_of_a_definition_question_is_not_searched(text: str, kept: str) -> None:
    assert without_defining(text) == kept


@pytest.mark.parametrize("text, kept", [
    ("ok ok. wat is a lighthouse probe", "wat is a lighthouse probe"),
    ("hey, quick one: beacon sweeps vs silo probes", "one: beacon sweeps vs silo probes"),
    ("what is a new lighthouse probe", "what is a new lighthouse probe"),  # inside: kept
    ("ok thanks", "ok thanks"),  # nothing would be left
])
def test_opening_acknowledgements_are_dropped(text: str, kept: str) -> None:
    assert without_opening(text) == kept


@pytest.mark.parametrize("text, kept", [
    ("how do we harden against the beacon trick", "how do we against the beacon trick"),
    ("would throttling the endpoint help", "would throttling the endpoint help"),
    ("mitigations to secure the seedbank?", "to the seedbank?"),
    ("what controls stop it", "what controls stop it"),  # nothing would be left to search
])
def test_asking_words_are_dropped_from_what_describes_the_subject(text: str, kept: str) -> None:
    assert without_asking(text) == kept


def test_the_subjects_the_question_named_come_first(catalog: Catalog) -> None:
    verdict = ("**No.** **Seedbank Poisoning** ([AML.T0902]) was not used in **Glasshouse "
               "Cartographer Incident** ([AML.CS0902]) in ATLAS 0.9.0.")
    named = read_state([("is this basically the glasshouse cartographer incident?", verdict)], catalog)
    assert named.subjects == ["AML.CS0902", "AML.T0902"]
    by_odd_id = read_state([("was AML.CS902 it?", verdict)], catalog)
    assert by_odd_id.subjects[0] == "AML.CS0902"
    unnamed = read_state([("is this it?", verdict)], catalog)
    assert unnamed.subjects == ["AML.T0902", "AML.CS0902"]


def test_recent_subjects_go_back_through_the_answers(catalog: Catalog) -> None:
    state = read_state([("q", LIST_ANSWER), ("r", CARD_ANSWER)], catalog)
    assert recent_subjects(state, catalog) == ["AML.T0904", "AML.TA0903", "AML.T0902"]


@pytest.mark.parametrize(("text", "expected"), [("and last", -1), ("second?", 2), ("then third", 3)])
def test_a_message_of_an_ordinal_alone_points_at_a_list_position(text: str, expected: int) -> None:
    assert find_ordinal(text) == expected


def test_an_ordinal_word_in_a_sentence_still_needs_its_noun() -> None:
    assert find_ordinal("last but not least, how do we stop it") is None


@pytest.mark.parametrize(("text", "expected"), [
    ("step 2 - mitigations?", 2), ("and what tactic is the very first step", 1),
    ("the 3rd step", 3), ("what happened in the last step", -1), ("step4?", 4),
])
def test_a_step_named_by_its_number(text: str, expected: int) -> None:
    assert find_step_number(text) == expected


@pytest.mark.parametrize("text", ["the second one", "walk me through the steps",
                                  "first, what steps should we take", "step up our defences"])
def test_no_step_number(text: str) -> None:
    assert find_step_number(text) is None

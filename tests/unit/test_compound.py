"""Two questions in one message: where a message splits, and both parts answered."""

from __future__ import annotations

import pytest

from atlas_rag import AtlasRAG
from atlas_rag.conversation.compound import split_asks

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("text", "first", "second"), [
    ("what is seedbank poisoning and which tactic is it under",
     "what is seedbank poisoning", "which tactic is it under"),
    ("what tactic is it in, and is there anything that stops it",
     "what tactic is it in", "is there anything that stops it"),
    ("what is AML.T0902? which mitigations cover it?", "what is AML.T0902", "which mitigations cover it?"),
    ("Which technique is this, and what should we fix?", "Which technique is this", "what should we fix?"),
])
def test_a_second_question_is_split_off(text: str, first: str, second: str) -> None:
    assert split_asks(text) == (first, second)


@pytest.mark.parametrize("text", [
    "mitigations for seedbank poisoning and grafted label swapping",  # one list, two subjects
    "what is the difference between probing and scraping",
    "is there anything and how",  # too short to be two questions
    "how do we stop it",
])
def test_one_question_is_not_split(text: str) -> None:
    assert split_asks(text) is None


def test_both_questions_of_a_message_are_answered(rag: AtlasRAG) -> None:
    one = rag.ask("what is AML.T0902")
    both = rag.ask("what is AML.T0902 and which mitigations cover it")
    assert one.items == []  # a card: the mitigations are named, not listed
    assert both.text.startswith(one.text.split("\n\n")[0])  # the first question's answer first
    assert both.items == ["AML.M0902"]  # then the second's: the mitigations, as a list

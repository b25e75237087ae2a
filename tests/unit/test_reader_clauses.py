"""A message's first clause and whether the rest asks anything (the reader's capability check)."""

from __future__ import annotations

import pytest

from atlas_rag.conversation.reader import asks_something, head_and_rest, names_one


@pytest.mark.parametrize(("message", "expected"), [
    ("what can you do? I look after our scoring models", ("what can you do", "I look after our scoring models")),
    ("what can you help with, we are new to this", ("what can you help with", "we are new to this")),
    ("what can you do - we run two chatbots", ("what can you do", "we run two chatbots")),
    ("what can you do", None),
    ("what can you do?", None),
])
def test_the_first_clause_and_the_rest(message: str, expected: tuple[str, str] | None) -> None:
    assert head_and_rest(message) == expected


@pytest.mark.parametrize("rest", [
    "how do we stop prompt injection",
    "and which mitigations cover it",
    "we run a bot. is it exposed",
    "our model, any case studies",
    "tell me about poisoning?",
])
def test_a_rest_that_asks(rest: str) -> None:
    assert asks_something(rest)


@pytest.mark.parametrize("rest", [
    "I look after the fraud models at an insurer",
    "new here, still finding my way when it comes to AI risk",
    "we ship a sign-off checklist for every model release",
])
def test_a_rest_that_only_tells(rest: str) -> None:
    assert not asks_something(rest)


def test_an_item_named_as_the_x_one_opens_the_message() -> None:
    assert names_one("the human approval one - how would that work for our tool")
    assert names_one("ok, the throttling one, how would that look")
    # Inside a sentence "the ... one" is no phrase naming an item.
    assert not names_one("so what does the attacker get when one of those pickles loads")

"""Which steps of a case study a follow-up asks about: "what was the initial access there",
"which technique is the payload injection", "the step where they uploaded it".

A step is asked about when the message names its tactic, or when the message's description
finds the step's technique near the top of a search of all techniques, or holds most of the
words of the step's own text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..lexical import tokenize
from ..records import Record
from .knowledge import TECHNIQUE_TYPES
from .linking import Link
from .state import find_step_number, without_pointers

# The description must find the step's technique among this many techniques of the release.
FOUND_IN = 5
# Or hold at least this share of its words in the step's own text.
WORDS_SHARE = 0.5

Search = Callable[[str, Sequence[str], int], list[str]]  # text, types, k -> ids, best first
Words = Callable[[str], list[str]]


def step_position(number: int, steps: int) -> int | None:
    """The 0-based position of step ``number`` (-1: the last) of ``steps``, if there is one."""
    position = number - 1 if number > 0 else steps + number
    return position if 0 <= position < steps else None


def asked_steps(study: Record, question: str, links: Sequence[Link], kinds: dict[str, str],
                search: Search, words: Words) -> list[int]:
    """Positions (0-based) of the steps of ``study`` the question asks about, best first."""
    number = find_step_number(question)
    if number is not None:  # "step 2", "the very first step"
        position = step_position(number, len(study.procedure))
        return [] if position is None else [position]
    tactics = {link.id for link in links if kinds.get(link.id) == "tactic"}
    by_tactic = [n for n, step in enumerate(study.procedure) if step.tactic in tactics]
    if by_tactic:
        return by_tactic
    text = without_pointers(question)
    name_terms = set(tokenize(study.name))
    described = [w for w in words(text) if w not in name_terms]
    if not described:
        return []
    found = search(text, TECHNIQUE_TYPES, FOUND_IN)
    scores: dict[int, float] = {}
    for n, step in enumerate(study.procedure):
        rank = next((r for r, i in enumerate(found) if i == step.technique), None)
        share = len(set(described) & set(tokenize(step.description))) / len(set(described))
        if rank is not None or share >= WORDS_SHARE:
            scores[n] = (1.0 - rank / FOUND_IN if rank is not None else 0.0) + share
    if not scores:
        return []
    best = max(scores.values())
    return [n for n in sorted(scores, key=lambda n: -scores[n]) if scores[n] == best]

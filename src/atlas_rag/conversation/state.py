"""The conversation so far, read back from the history a caller passes in.

History arrives as (question, answer) pairs, Gradio message dicts or plain strings; nothing is
kept on the server. From the last answers we recover what a follow-up can point at: the items
of the list an answer showed, in the order shown ("the second one"), and the objects it was
about ("its mitigations").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..catalog import Catalog, normalize_name
from ..ids import find_id_mentions, find_ids, id_kind

# Ordinal references are formal: ordinal words, "#3", "number 3", "3rd", "item 3".
ORDINAL_WORDS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "last": -1,
    "final": -1, "penultimate": -2, "1st": 1, "2nd": 2, "3rd": 3,
}
# "the first place", "the last time", "the second attempt": an ordinal before a noun of time,
# of a sequence of events or of place orders the user's own story, not the list shown. A
# closed class of English nouns (and the idiom "in the first place"), not words of any question.
_OWN_STORY = (r"(?!\s+(?:place|time|times|thing|things|try|attempt|stage|phase|half|week|month"
              r"|year|day|night|quarter|sprint|release|version|round|glance|instance)\b)")
# An ordinal word counts when it is used as one ("the second", "second one", "2nd", or the
# whole message: "and last?"), not as an adverb ("what should we fix first").
_ORDINAL_RE = re.compile(
    r"#\s?(?P<hash>\d{1,2})\b|\b(?:number|no\.?|nr\.?|item|option|step|entry)\s?(?P<num>\d{1,2})\b"
    r"|\b(?P<nth>\d{1,2})(?:st|nd|rd|th)\b"
    r"|\bthe\s+(?:very\s+)?(?P<word>" + "|".join(ORDINAL_WORDS) + r")\b" + _OWN_STORY +
    r"|\b(?P<word_one>" + "|".join(ORDINAL_WORDS) + r")\s+(?:one|item|entry|option|step)\b"
    r"|^\W*(?:and\s+)?(?P<bare>\d{1,2})\W*$"
    r"|^\W*(?:and|or|then|now)?\s*(?P<alone>" + "|".join(ORDINAL_WORDS) + r")\W*$",
    re.IGNORECASE,
)
# A message longer than this tells a story of its own (a write-up, a system): see _picking.
PICKING_WORDS = 30
_MARKED_PICK = re.compile(r"\s+(?:one|item|entry|option)\b", re.IGNORECASE)  # "the second one"
# Words that point back at what was just discussed (a closed class of English pronouns and
# determiners, not tied to any question; "em" is "them" as typed).
_POINTER_RE = re.compile(
    r"\b(it|its|it's|this|that|these|those|them|em|they|their|the same|above|former|latter|both"
    r"|either)\b",
    re.IGNORECASE,
)
# A paragraph naming this many objects, in an answer with no list and no subject, is its list.
INLINE_LIST = 3
# A name this short ("AI", "ML") is a word of many questions, not a mention of its object.
MIN_NAME_CHARS = 4
_SOURCES_RE = re.compile(r"<details>.*?</details>", re.DOTALL | re.IGNORECASE)
_NUMBERED_RE = re.compile(r"^\s*(\d{1,3})[.)]\s+(.*)$")
_BULLET_RE = re.compile(r"^\s*[-*•]\s+(.*)$")


@dataclass(frozen=True)
class Turn:
    question: str
    answer: str


@dataclass
class State:
    """What earlier turns offer a follow-up to point at."""

    turns: list[Turn] = field(default_factory=list)
    items: list[str] = field(default_factory=list)  # the last list shown, in order
    subjects: list[str] = field(default_factory=list)  # what the last answer was about
    items_in_last: bool = False  # the list is the last answer's own (not an earlier one)

    @property
    def empty(self) -> bool:
        return not self.turns

    def item(self, ordinal: int) -> str | None:
        """The n-th item shown (1-based; -1 is the last), or None."""
        if not self.items:
            return None
        index = ordinal - 1 if ordinal > 0 else len(self.items) + ordinal
        return self.items[index] if 0 <= index < len(self.items) else None


def history_turns(history: Any) -> list[Turn]:
    """(question, answer) turns from pairs, Gradio message dicts or plain strings."""
    messages: list[tuple[str, str]] = []
    for item in history or []:
        if isinstance(item, dict):
            content = item.get("content")
            if isinstance(content, list):  # Gradio may give a list of parts
                content = " ".join(
                    p.get("text", "") if isinstance(p, dict) else str(p) for p in content
                )
            metadata = item.get("metadata") or {}
            if isinstance(metadata, dict) and metadata.get("title"):
                continue  # a collapsible side message (sources), not an answer
            messages.append((str(item.get("role") or "user"), _SOURCES_RE.sub("", str(content or ""))))
        elif isinstance(item, list | tuple) and len(item) == 2:
            messages += [("user", str(item[0] or "")),
                         ("assistant", _SOURCES_RE.sub("", str(item[1] or "")))]
        elif isinstance(item, str):
            messages.append(("user", item))
        elif hasattr(item, "text"):  # an Answer
            messages.append(("assistant", str(item.text)))
    turns: list[Turn] = []
    for role, text in messages:
        if role == "assistant" and turns and not turns[-1].answer:
            turns[-1] = Turn(turns[-1].question, text)
        elif role == "assistant":
            turns.append(Turn("", text))
        else:
            turns.append(Turn(text, ""))
    return turns


def history_texts(history: Any) -> list[tuple[str, str]]:
    """(role, text) messages of the history, oldest first."""
    out: list[tuple[str, str]] = []
    for turn in history_turns(history):
        if turn.question:
            out.append(("user", turn.question))
        if turn.answer:
            out.append(("assistant", turn.answer))
    return out


def read_state(history: Any, catalog: Catalog) -> State:
    """The state after ``history``: the last answer that showed objects gives items and subjects."""
    turns = history_turns(history)
    state = State(turns=turns)
    navigating = False
    for turn in reversed(turns):
        items, subjects = answer_items(turn.answer, catalog)
        if not (items or subjects):
            continue
        if not state.subjects:
            # An answer about several objects without a list of its own (a comparison) shows
            # them in its lead: "the second one" counts them.
            state.items = items or (subjects if len(subjects) > 1 else [])
            state.subjects = named_first(subjects, turn.question, catalog)
            state.items_in_last = bool(items) and turn is turns[-1]
        elif navigating and items:
            # The user picked from a list last time ("#2"), then asks "and the last one?":
            # still the list they were picking from.
            state.items, state.items_in_last = items, False
        if state.subjects and not navigating and find_ordinal(turn.question) is not None:
            navigating = True
            continue
        break
    return state


def named_first(subjects: list[str], question: str, catalog: Catalog) -> list[str]:
    """An answer's subjects with those its question named (by ID or whole name) first: "is
    this basically ShadowRay?" answered about a technique and ShadowRay makes "its
    techniques" ShadowRay's."""
    asked = {mention.atlas_id for mention in find_id_mentions(question)}
    text = f" {normalize_name(question)} "

    def named(atlas_id: str) -> bool:
        words = normalize_name(catalog.records[atlas_id].name)
        return atlas_id in asked or (len(words) >= MIN_NAME_CHARS and f" {words} " in text)

    return sorted(subjects, key=lambda i: not named(i))


def recent_subjects(state: State, catalog: Catalog) -> list[str]:
    """What the answers were about, the most recent answer's first, each once."""
    out: list[str] = []
    for turn in reversed(state.turns):
        out += answer_items(turn.answer, catalog)[1]
    return list(dict.fromkeys(out))


def conversation_ids(state: State) -> list[str]:
    """The IDs a conversation has shown: what was discussed last first, then every ID of its
    turns, most recent first."""
    shown = [i for turn in reversed(state.turns) for i in find_ids(f"{turn.question} {turn.answer}")]
    return list(dict.fromkeys([*state.subjects, *state.items, *shown]))


def latest_case_study(state: State) -> str | None:
    """The case study discussed last: the subject, else the latest one the conversation showed."""
    return next((i for i in conversation_ids(state) if id_kind(i) == "case-study"), None)


def answer_items(text: str, catalog: Catalog) -> tuple[list[str], list[str]]:
    """(items of the answer's list in the order shown, objects its lead is about)."""
    body = _SOURCES_RE.sub("", text)
    bullets: list[str] = []
    for line in body.splitlines():
        match = _BULLET_RE.match(line)
        if match and not line.startswith(("  ", "\t")):
            ids = [i for i in find_ids(match.group(1)) if i in catalog]
            if ids:
                bullets.append(ids[0])
    items = [atlas_id for atlas_id, _ in _numbered(body, catalog)] or bullets
    lead = re.split(r"\n\s*\n|\n\s*(?:\d{1,3}[.)]|[-*•])\s", body.strip(), maxsplit=1)[0]
    named = [i for i in find_ids(lead) if i in catalog]
    if not items:
        # A list written inline after its lead ("They are A, B, C ..."): in an answer about no
        # one object ("ATLAS has 35 mitigations."), or of objects of one kind the lead does
        # not name, related to the one object it does ("18 case studies for LLM Prompt
        # Crafting").
        items = next((ids for paragraph in re.split(r"\n\s*\n", body.strip())[1:]
                      if len(ids := [i for i in find_ids(paragraph) if i in catalog])
                      >= INLINE_LIST and (not named or _listed_for_one(named, ids))), [])
    subjects = named
    if not subjects:
        subjects = [i for i in find_ids(body) if i in catalog][:1]
    return list(dict.fromkeys(items)), list(dict.fromkeys(subjects))


def _listed_for_one(named: list[str], ids: list[str]) -> bool:
    """``ids`` are objects of one kind, another than the one object the lead names."""
    kinds = {id_kind(i) for i in ids}
    return len(set(named)) == 1 and len(kinds) == 1 and id_kind(named[0]) not in kinds


def item_texts(text: str, catalog: Catalog) -> dict[str, str]:
    """Each numbered item of an answer with the text shown on its line (its name, and the
    evidence or detail quoted after it), in the order shown."""
    out: dict[str, str] = {}
    for atlas_id, line in _numbered(_SOURCES_RE.sub("", text), catalog):
        out.setdefault(atlas_id, line)
    return out


def _numbered(body: str, catalog: Catalog) -> list[tuple[str, str]]:
    """(the object, the text) of each numbered line of ``body`` that names an object."""
    out = []
    for line in body.splitlines():
        match = _NUMBERED_RE.match(line)
        ids = [i for i in find_ids(match.group(2)) if i in catalog] if match else []
        if match and ids:
            out.append((ids[0], match.group(2)))
    return out


def find_ordinal(text: str) -> int | None:
    """The list position a message points at ("the second one" -> 2, "last" -> -1)."""
    match = next(_picking(text), None)
    return _position(match) if match else None


def marked_ordinal(text: str) -> bool:
    """The message picks a list position in a marked form ("#3", "item 2", "the 3rd", "the
    second one"), not only by a bare "the last", which may be of its own story."""
    return any(match.group("hash") or match.group("num") or match.group("nth")
               or match.group("word_one")
               or (match.group("word") and _MARKED_PICK.match(text, match.end()))
               for match in _ORDINAL_RE.finditer(text))


def find_ordinals(text: str) -> list[int]:
    """Every list position a message points at, in order ("how is #1 different from #2"; "the
    first and last of those": an ordinal word joined to a pick is a pick too)."""
    found: list[int | None] = []
    for match in _picking(text):
        found.append(_position(match))
        joined = _JOINED_RE.match(text, match.end())
        while joined:  # "the second, third and fourth"
            found.append(ORDINAL_WORDS[joined.group("joined").lower()])
            joined = _JOINED_RE.match(text, joined.end())
    return list(dict.fromkeys(p for p in found if p is not None))


# "the first and last", "the second or third": an ordinal word right after a pick and a
# conjunction picks as well (English coordination; the closed classes of ordinals and of
# "and", "or", "vs").
_JOINED_RE = re.compile(r"\s*(?:,|and|or|vs\.?|versus|&)\s+(?:the\s+)?(?P<joined>"
                        + "|".join(ORDINAL_WORDS) + r")\b" + _OWN_STORY, re.IGNORECASE)


def _picking(text: str) -> Iterator[re.Match[str]]:
    """The ordinal phrases of ``text`` that pick an item of a list. In a long message (a pasted
    write-up or a described system) "the last", "the first" and "the 11th" are of its own story
    ("after the last two retrains", "the first time", a date "on the 11th"); there only a
    marked pick counts ("#2", "item 3", "the second one")."""
    long = len(text.split()) > PICKING_WORDS
    return (match for match in _ORDINAL_RE.finditer(text)
            if not (long and (match.group("word") or match.group("nth"))
                    and not _MARKED_PICK.match(text, match.end())))


def _position(match: re.Match[str]) -> int | None:
    for group in ("hash", "num", "nth", "bare"):
        if match.group(group):
            value = int(match.group(group))
            return value if value > 0 else None
    return ORDINAL_WORDS[(match.group("word") or match.group("word_one")
                          or match.group("alone")).lower()]


def without_ordinal(text: str) -> str:
    """``text`` without the words that pick a list position ("#3", "the second one"); the
    ordinals of a long message's own story stay (see ``_picking``)."""
    kept, start = [], 0
    for match in _picking(text):
        kept.append(text[start:match.start()])
        start = match.end()
    return " ".join([*kept, text[start:]])


# A case study's step by its number: "step 2", "the 2nd step", "the very first step", "last
# step" (the data model's noun with an ordinal: formal).
_STEP_NUMBER_RE = re.compile(
    r"\bstep\s?(?P<num>\d{1,2})\b|\b(?P<nth>\d{1,2})(?:st|nd|rd|th)\s+step\b"
    r"|\b(?P<word>" + "|".join(ORDINAL_WORDS) + r")\s+step\b", re.IGNORECASE)


def find_step_number(text: str) -> int | None:
    """The step a message names by number ("step 2" -> 2, "the last step" -> -1), if any."""
    match = _STEP_NUMBER_RE.search(text)
    if not match:
        return None
    number = match.group("num") or match.group("nth")
    if number:
        return int(number) or None
    return ORDINAL_WORDS[match.group("word").lower()]


def without_pointers(text: str) -> str:
    """``text`` without the words that point back ("which of those are about agents")."""
    return re.sub(r"\s+", " ", _POINTER_RE.sub(" ", text)).strip()


def points_back(text: str) -> bool:
    """The message refers to something said before ("its mitigations", "that one")."""
    return bool(_POINTER_RE.search(text))

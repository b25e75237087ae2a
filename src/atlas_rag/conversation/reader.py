"""The reading of one message in its conversation: intent, target, subjects, follow-up.

The intent and target come from the learned classifier; subjects from the linker (what the
message itself names always comes first), then from the conversation: an ordinal picks an
item of the last list shown, a message that only points back takes the last answer's
subjects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..catalog import Catalog
from ..lexical import STOPWORDS, tokenize
from .facets import narrow
from .intents import LazyIntentModel, Prediction
from .linking import Link, Linker, Links
from .state import State, find_ordinal, points_back, read_state
from .vocabulary import ASKING_TERMS

# Intents that need no ATLAS subject. A message naming an ATLAS ID is never one of the first
# three: IDs are formal and only ATLAS uses them.
NOT_ABOUT_ATLAS = ("off_topic", "greeting", "thanks", "help")
# Messages this close to ATLAS's text (cosine to the nearest chunk) are about ATLAS: no
# off-topic example of the training set comes this close, half of the on-topic ones do.
IN_ATLAS = 0.55
# Pronouns pointing at several things, or at one (closed classes of English words).
_PLURAL = re.compile(r"\b(them|those|these|all of them|both)\b", re.IGNORECASE)
_SINGULAR = re.compile(r"\b(it|its|it's|this|that)\b", re.IGNORECASE)
_ONES = re.compile(r"\b(?:ones|of (?:them|those|these))\b", re.IGNORECASE)
# Intents that describe their own subject at length: never read as a follow-up for lack of a
# searchable subject.
FRESH_INTENTS = ("threat_model", "incident", "compare")
# The classifier must be this sure of an off-topic or manipulation reading to decline.
DECLINE_SURE = 0.5
# Links this sure are the message's own subjects; weaker ones only rule out small talk.
OWN_SUBJECT = 0.75
NAME_WORD = 0.6
# A searched subject this sure counts as the message's own (a topic shift, not a follow-up).
SEARCH_SURE = 0.55
TECHNIQUE_TYPES = ("technique", "subtechnique")


@dataclass
class Reading:
    """What one message asks, about what, in what conversation."""

    question: str
    intent: str
    target: str
    prediction: Prediction | None
    links: Links  # what the message itself names
    subjects: list[Link] = field(default_factory=list)  # what the answer is about, best first
    source: str = ""  # question | ordinal | history | "" (the composer searches)
    state: State = field(default_factory=State)
    ordinal: int | None = None
    ordinal_missing: bool = False  # it pointed at a position the last list does not have

    @property
    def subject(self) -> str | None:
        return self.subjects[0].id if self.subjects else None

    def subject_ids(self) -> list[str]:
        return [link.id for link in self.subjects]


class Reader:
    """Reads messages against one catalog."""

    def __init__(self, catalog: Catalog, linker: Linker, intents: LazyIntentModel) -> None:
        self.catalog = catalog
        self.linker = linker
        self.intents = intents

    def read(self, question: str, history: Any = None) -> Reading:
        state = read_state(history, self.catalog)
        links = self.linker.link(question)
        prediction = self.intents.predict(self.linker.correct(question))
        intent, target = prediction.intent, prediction.target
        confident = [link for link in links.links if link.confidence >= OWN_SUBJECT]
        ordinal = find_ordinal(question) if state.items and not confident else None
        # IDs are formal: only ATLAS uses them. A named object or an ordinal into the last list
        # rules out small talk; off-topic needs an ID or a whole, specific name to overrule.
        names_atlas = any(link.how in ("id", "attack") or link.confidence >= 0.88 for link in links.links)
        refers = any(link.confidence >= NAME_WORD for link in links.links) or (
            ordinal is not None and len(question.split()) <= 8)
        if (intent in ("greeting", "thanks", "help") and refers) or (
                intent == "off_topic" and (names_atlas or ordinal is not None
                                           or self.linker.retriever.relevance(question) >= IN_ATLAS)):
            intent = _best_of(prediction.intents, exclude=(*NOT_ABOUT_ATLAS, "injection"))
        elif intent in ("off_topic", "injection") and prediction.intent_p < DECLINE_SURE:
            # A refusal needs a sure reading: a doubtful one answers what it most likely asks.
            intent = _best_of(prediction.intents, exclude=("off_topic", "injection"))
        if intent in ("list", "count") and _ONES.search(question) and state.turns:
            # "which ones ..." asks for more of the kind the previous question was about.
            before = self.intents.predict(state.turns[-1].question).target
            target = before if before != "none" else target
        reading = Reading(question, intent, target, prediction, links, state=state)
        self._subjects(reading, ordinal)
        return reading

    def _subjects(self, reading: Reading, ordinal: int | None) -> None:
        own = [link for link in reading.links.links if link.confidence >= OWN_SUBJECT]
        state = reading.state
        if own:
            reading.subjects, reading.source = list(own), "question"
            return
        if ordinal is not None:
            reading.ordinal = ordinal
            item = state.item(ordinal)
            if item:
                reading.subjects, reading.source = [Link(item, 1.0, "ordinal")], "ordinal"
            else:
                reading.ordinal_missing = True
            return
        if state.empty:
            return
        named = self.linker.item_named(reading.question, state.items + state.subjects)
        if named:  # "tell me more about the bing one"
            reading.subjects, reading.source = [Link(named, 0.9, "item")], "ordinal"
            return
        # A follow-up points back, or names nothing search can find on its own ("any real
        # cases?", "what techniques were involved"); a new topic names its own subject.
        if narrow(reading.question, self.catalog, list(self.catalog)) and not points_back(
                reading.question):
            return  # "case studies from 2025": a question about the whole release
        if not (points_back(reading.question) or not self.subject_words(reading.question)
                or (reading.intent not in FRESH_INTENTS
                    and not self.confident_search(reading.question))):
            return
        plural = _PLURAL.search(reading.question)
        singular = _SINGULAR.search(reading.question)
        # Defending right after a list of techniques (an incident, a threat model) covers the
        # list, unless the message points at one thing ("it", "that").
        listed = state.items_in_last and all(
            self.catalog.records[i].type in TECHNIQUE_TYPES for i in state.items)
        if state.items and (plural or (reading.intent == "defend" and listed and not singular)):
            pointed = state.items
        else:
            pointed = state.subjects or state.items[:1]
        reading.subjects = [Link(i, 0.9, "history") for i in pointed if i in self.catalog]
        reading.source = "history" if reading.subjects else ""

    def confident_search(self, text: str) -> bool:
        """Search alone finds one clear subject for the message."""
        links = self.linker.search(self.linker.correct(text), None, 3)
        return bool(links) and links[0].confidence >= SEARCH_SURE

    def subject_words(self, text: str) -> list[str]:
        """The words of ``text`` that could name a subject (not stopwords, not asking words)."""
        return [t for t in tokenize(self.linker.correct(text))
                if t not in ASKING_TERMS and t not in STOPWORDS and not t.isdigit()]


def _best_of(scores: dict[str, float], exclude: tuple[str, ...]) -> str:
    return max((i for i in scores if i not in exclude), key=lambda i: scores[i])

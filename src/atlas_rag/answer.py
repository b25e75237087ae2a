"""Grounded answers from the release itself, composed per intent; no LLM needed.

A question is read (intent, target, subjects, follow-up), then the composer registered for
its intent writes the answer from the catalog and the retriever. Every ID in an answer comes
from the catalog, and every answer lists the sources it used, so a reader can check each
claim on atlas.mitre.org.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from .catalog import Catalog
from .conversation.compose import COMPOSERS, Context
from .conversation.compose.described import name_described
from .conversation.compose.objects import card
from .conversation.compound import WHOLE_INTENTS, split_asks
from .conversation.intents import LazyIntentModel
from .conversation.linking import Linker
from .conversation.reader import Reader, Reading
from .conversation.reply import Reply, join
from .conversation.state import history_turns
from .errors import QueryError
from .ids import find_ids
from .records import Record
from .retrieval import Hit, Retriever

TYPE_LABELS = {"tactic": "Tactic", "technique": "Technique", "subtechnique": "Sub-technique",
               "mitigation": "Mitigation", "case-study": "Case study"}
# Intents whose answer names a subject; without one they ask which object is meant.
NEEDS_SUBJECT = ("explain",)
NOTE_NAMES = 3  # subjects a follow-up note names before "and N more"


@dataclass
class Answer:
    """An answer in markdown, the ATLAS IDs it cites and the hits it used."""

    text: str
    citations: list[str]
    sources: list[Hit] = field(default_factory=list)
    abstained: bool = False
    intent: str = ""
    subject: str | None = None
    backend: str = "grounded"
    notice: str = ""
    items: list[str] = field(default_factory=list)  # the numbered list shown, in order

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def key_sentences(text: str, count: int = 3, limit: int = 600) -> str:
    """The first sentences of a description, plain text, at most ``limit`` characters."""
    from .text import opening

    return opening(text, count, limit)


def render_card(record: Record, catalog: Catalog) -> str:
    """A markdown card of one object with its relations (``atlas-rag show``)."""
    reply = Reply(catalog)
    card(catalog, reply, record)
    return reply.text()


class GroundedAnswerer:
    """Answers from the catalog and retriever alone (no LLM)."""

    def __init__(
        self,
        catalog: Catalog,
        retriever: Retriever,
        intents: LazyIntentModel,
        max_input_chars: int = 20000,
        english: frozenset[str] = frozenset(),
    ) -> None:
        self.catalog = catalog
        self.retriever = retriever
        self.linker = Linker(catalog, retriever, english)
        self.reader = Reader(catalog, self.linker, intents)
        self.context = Context(catalog, retriever, self.linker, self.reader, max_input_chars)
        self.max_input_chars = max_input_chars

    def read(self, question: str, history: Any = None) -> Reading:
        question = self.retriever.check_query(question, limit=self.max_input_chars)
        return self.reader.read(question, history)

    def answer(self, question: str, history: Any = None) -> Answer:
        reading = self.read(question, history)
        reply = self._compound(question, history, reading) or self.compose(reading)
        text = reply.text()
        citations = [] if reply.abstained else [i for i in find_ids(text) if i in self.catalog]
        return Answer(text=text, citations=citations, sources=list(reply.sources.values()),
                      abstained=reply.abstained, intent=reply.kind or reading.intent,
                      subject=reading.subject,
                      items=list(reply.items))

    def compose(self, reading: Reading) -> Reply:
        about_atlas = reading.intent not in ("greeting", "thanks", "help", "off_topic", "injection")
        if about_atlas and reading.ordinal_missing:
            return self._missing_item(reading)
        if about_atlas and reading.links.unknown_ids and not reading.subjects:
            return self._unknown(reading)
        if (reading.intent in NEEDS_SUBJECT and not reading.subjects
                and not self.reader.subject_words(reading.question)):
            return self._which(reading)
        reply = COMPOSERS[reading.intent](self.context, reading)
        if about_atlas and not reply.abstained:
            name_described(self.context, reading, reply)
            self._notes(reading, reply)
        return reply

    def _compound(self, question: str, history: Any, whole: Reading) -> Reply | None:
        """Two questions in one message, each answered: the second as a follow-up to the
        answer to the first (see ``compound``). None when the message is one question."""
        parts = split_asks(question)
        if parts is None or whole.intent in WHOLE_INTENTS:
            return None
        first = self.reader.read(parts[0], history)
        if first.intent in WHOLE_INTENTS:
            return None
        reply = self.compose(first)
        pairs = [(t.question, t.answer) for t in history_turns(history)]
        second = self.reader.read(parts[1], [*pairs, (parts[0], reply.text())])
        if second.intent in WHOLE_INTENTS or (second.intent, second.target) == (
                first.intent, first.target):
            return None
        reply.extend(self.compose(second))
        return reply

    # ------------------------------------------------------------------ notes

    def _notes(self, reading: Reading, reply: Reply) -> None:
        """How the question was read, where the answer alone would not say it."""
        if reading.source == "ordinal" and reading.ordinal is not None:
            where = "the last item" if reading.ordinal == -1 else f"item {reading.ordinal}"
            reply.prepend(f"_{where.capitalize()} of the previous list:_")
        elif reading.source == "history" and reading.subject:
            head = reply.text()[:300]
            ids = [] if reply.own_text else reading.subject_ids()
            if ids and ids[0] not in head:
                about = join([reply.name(i, bold=False) for i in ids[:NOTE_NAMES]]
                             + ([f"{len(ids) - NOTE_NAMES} more"] if len(ids) > NOTE_NAMES else []))
                reply.prepend(f"_About {about}, from the previous answer:_")
        for attack in reading.links.attack:
            names = [reply.name(i, bold=False) for i in attack.atlas_ids if i in self.catalog]
            if attack.also_atlas:
                reply.insert_after_lead(
                    f"_{attack.attack_id} read as the ATLAS ID {attack.also_atlas}. In MITRE "
                    f"ATT&CK, {attack.attack_id} is another object, which ATLAS's "
                    f"{join(names)} references._")
            else:
                reply.prepend(f"_{attack.attack_id} is a MITRE ATT&CK ID; in ATLAS, "
                              f"{join(names)} references it._")
        unknown = [i for i in reading.links.unknown_ids if i not in reply.cited]
        if unknown:
            reply.para(f"_{join(unknown)} {'is' if len(unknown) == 1 else 'are'} not in ATLAS "
                       f"{self.catalog.version}._")

    # ------------------------------------------------------------------ clarifications

    def _unknown(self, reading: Reading) -> Reply:
        """An ID the release does not hold: said so, and counted as declining to answer, since
        ATLAS has nothing to say of it; unless it numbers a sub-technique of a technique ATLAS
        holds ("AML.T0051.004"), whose family is then shown: what the ID was meant to find."""
        unknown = reading.links.unknown_ids
        parents = list(dict.fromkeys(i.rsplit(".", 1)[0] for i in unknown))
        family = all(i.count(".") == 2 for i in unknown) and all(p in self.catalog for p in parents)
        reply = Reply(self.catalog, kind="unknown", abstained=not family)
        ids = join(unknown)
        reply.para(f"{ids} {'is' if len(unknown) == 1 else 'are'} not in "
                   f"ATLAS {self.catalog.version}. Check the ID on https://atlas.mitre.org, or "
                   "describe what you are looking for and I will find the closest entries.")
        for parent in parents if family else []:
            subs = self.catalog.records[parent].subtechniques
            reply.para(f"{reply.name(parent)} has {len(subs) or 'no'} "
                       f"sub-technique{'' if len(subs) == 1 else 's'} in ATLAS {self.catalog.version}"
                       + (":" if subs else "."))
            for sub in subs:
                reply.item(sub, reply.name(sub, bold=False))
        return reply

    def _missing_item(self, reading: Reading) -> Reply:
        reply = Reply(self.catalog, kind="clarify")
        count = len(reading.state.items)
        reply.para(f"The previous list has {count} item{'s' if count != 1 else ''}; which one do "
                   "you mean? You can also name it or give its ID.")
        return reply

    def _which(self, reading: Reading) -> Reply:
        reply = Reply(self.catalog, kind="clarify")
        reply.para("Which ATLAS object do you mean? Give its ID (such as AML.T0051 or M0015) or "
                   "its name, or describe the attack or defence you have in mind.")
        return reply


def final_answer(events: Iterable[str | Answer]) -> Answer:
    """The Answer that ends a stream of text pieces."""
    answer: Answer | None = None
    for event in events:
        if isinstance(event, Answer):
            answer = event
    if answer is None:
        raise RuntimeError("the answer stream ended without an Answer")
    return answer


def stream_text(answer: Answer, piece: int = 3) -> Iterator[str]:
    """The answer text in pieces of a few lines, for progressive display."""
    lines = answer.text.split("\n")
    for start in range(0, len(lines), piece):
        yield "\n".join(lines[start : start + piece]) + ("\n" if start + piece < len(lines) else "")


__all__ = ["Answer", "GroundedAnswerer", "QueryError", "render_card", "stream_text"]

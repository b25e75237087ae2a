"""What every composer shares: the context it works in and the registry of composers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ...catalog import Catalog
from ...errors import QueryError
from ...retrieval import Hit, Retriever
from ..linking import Link, Linker
from ..reader import Reader, Reading
from ..reply import Reply


@dataclass
class Context:
    """What composers may use: the catalog, search, the linker and the reader."""

    catalog: Catalog
    retriever: Retriever
    linker: Linker
    reader: Reader
    max_input_chars: int = 20000

    def search(self, text: str, types: Iterable[str] | None = None, k: int = 5,
               weights: dict[str, float] | None = None) -> list[Hit]:
        """Search that returns nothing (instead of raising) for text with no searchable words."""
        try:
            return self.retriever.search(
                self.linker.correct(text)[: self.retriever.max_query_chars], k=k,
                types=list(types) if types else None, weights=weights,
            )
        except QueryError:
            return []

    def subjects(self, reading: Reading, types: Sequence[str] | None = None) -> list[str]:
        """The reading's subjects of the wanted types, in order."""
        return [s.id for s in reading.subjects
                if types is None or self.catalog.records[s.id].type in types]

    def searched(self, reading: Reading, types: Sequence[str] | None, k: int = 5,
                 weights: dict[str, float] | None = None) -> list[Link]:
        return self.reader.searched(reading.question, types, k, weights)


# "How would someone make a car's camera misread a road sign", "we run X with Y and Z": a goal
# or a system told in everyday words, which ATLAS's techniques name in words of their own.
# Words shared by chance ("sign" in Code Signing, "driving" in Google Drive) mislead the
# word-matching signals more than the domain-tuned embedding, so the embedding weighs more in
# the searches of a goal, a system or an object described (attack, threat model, "what's the
# one where ..."). Measured on the dev conversations (attack, dense 1.6 / 2.4 / 3.2 / 4.8:
# +0 / +9 -1 / +12 -4 / +11 -4 turns; threat model +1 -0; explain +1 -0); the linking,
# defence, mitigation and case-study searches lost as much as they gained with it.
GOAL_WEIGHTS = {"dense": 2.4}


Composer = Callable[[Context, Reading], Reply]
COMPOSERS: dict[str, Composer] = {}


def composes(*intents: str) -> Callable[[Composer], Composer]:
    """Register a composer for one or more intents."""

    def register(function: Composer) -> Composer:
        for intent in intents:
            if intent in COMPOSERS:
                raise ValueError(f"two composers for intent {intent!r}")
            COMPOSERS[intent] = function
        return function

    return register


def relative(hits: Sequence[Hit], share: float, limit: int) -> list[Hit]:
    """The hits scoring at least ``share`` of the best one, at most ``limit``."""
    if not hits:
        return []
    top = hits[0].score or 1.0
    return [h for h in hits if h.score >= share * top][:limit]


# A question the reader thinks may be after a documented incident at least this likely ("has
# anyone actually done this?") also gets the closest case studies, when some are close.
CASE_STUDY_HINT = 0.2


def case_studies_line(ctx: Context, reply: Reply, question: str) -> None:
    """The documented incidents closest to the question, when some are close."""
    found = relative(ctx.search(question, ("case-study",), 3), 0.7, 2)
    if found:
        reply.para("Seen in ATLAS case studies: " + reply.names([h.id for h in found]) + ".")


def may_seek_incidents(reading: Reading) -> bool:
    return reading.prediction is not None and (
        reading.prediction.targets.get("case_study", 0.0) >= CASE_STUDY_HINT)

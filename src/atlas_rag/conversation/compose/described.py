"""The incident a message retells, or the control it describes, named.

A description that fits one ATLAS case study (or mitigation) better than any other kind of
object, and that one clearly better than the next of its kind, is about that object: "the av
vendor that attacked its own cloud malware model with only the client's features" retells a
case study; "every tool our agent calls runs in its own container with scoped credentials"
describes a mitigation. The answer names it, whatever else it says. Search scores are
relative to the best object of any kind, so "better than any technique" is the object's own
score; no word of the message decides it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...text import opening
from ..linking import BY_ID
from ..reader import KIND_SURE, Reading
from ..reply import Reply
from .base import Context

# The object scores at least this share of the best object of any kind: the description fits
# it as well as anything in ATLAS.
DESCRIBED_SHARE = 0.9
# The next object of its kind scores at most this share of it: one incident or control, not a
# kind of attack that several share.
DESCRIBED_GAP = 0.8
# Words of its own a message has at least to describe something (pointers and asking aside).
DESCRIBED_WORDS = 3
# Intents whose message may describe an incident or a control: explaining one, mapping one,
# and the attack, defence or system questions that tell one as their reason.
DESCRIBING_INTENTS = ("explain", "incident", "attack", "defend", "threat_model")
# Intents that ask how things could go (an attack, a system's risks), not what happened or
# what is in place: an object their words fit is mentioned in the answer's lead, never before.
HOW_INTENTS = ("attack", "threat_model")


@dataclass(frozen=True)
class Described:
    """How an answer names an object of one kind that a message describes."""

    kind: str
    target: str  # the reader's name for the kind
    first: str  # said before the answer: "<first> **Name** ([ID]) (year): description"
    in_lead: str  # said in the answer's lead: "<in_lead> Name ([ID]) (year)."


# The kinds a user describes without naming: an incident (a case study), a control (a
# mitigation). Techniques are what every answer already leads with.
DESCRIBED = (
    Described("case-study", "case_study", "The closest incident ATLAS documents is the case study",
              "ATLAS documents a closely matching incident, the case study"),
    Described("mitigation", "mitigation", "The ATLAS mitigation closest to what you describe is",
              "The ATLAS mitigation closest to what you describe is"),
)


def described_object(ctx: Context, reading: Reading, kind: str) -> str | None:
    """The object of ``kind`` the message's own words describe, if one clearly."""
    return _clearly_best(ctx, reading, kind) if _may_describe(ctx, reading) else None


def _may_describe(ctx: Context, reading: Reading) -> bool:
    """The message may describe an object in its own words: a describing intent, its own
    question, no ID, at least a few words of its own."""
    return (reading.intent in DESCRIBING_INTENTS and reading.source in ("question", "")
            and not any(link.how in BY_ID for link in reading.links.links)  # an ID says which
            and len(ctx.reader.subject_words(reading.question)) >= DESCRIBED_WORDS)


def _clearly_best(ctx: Context, reading: Reading, kind: str) -> str | None:
    """The object of ``kind`` that fits the message as well as anything in ATLAS and clearly
    better than the next of its kind, unless the reader found one of that kind itself ("the
    newest case study")."""
    if any(ctx.catalog.records[s.id].type == kind and s.how != "name-word"
           for s in reading.subjects):
        return None
    hits = ctx.search(reading.question, (kind,), 2)
    if not hits or hits[0].score < DESCRIBED_SHARE:
        return None
    if len(hits) > 1 and hits[1].score > DESCRIBED_GAP * hits[0].score:
        return None
    return hits[0].id


def name_described(ctx: Context, reading: Reading, reply: Reply) -> None:
    """The first kind's object a message describes: said before the answer when the reader
    does not know the message asks for another kind, else in the answer's lead."""
    if not _may_describe(ctx, reading):
        return
    for way in DESCRIBED:
        found = _clearly_best(ctx, reading, way.kind)
        if found is None:
            continue
        prediction = reading.prediction
        other_kind_sure = (prediction is not None and reading.target != way.target
                           and prediction.target_p >= KIND_SURE)
        leads = not other_kind_sure and reading.intent not in HOW_INTENTS
        if found not in reply.lead():
            record = ctx.catalog.records[found]
            when = str(record.extra.get("incident_date") or "")[:4]
            year = f" ({when})" if when else ""
            reply.source(found)
            if leads:
                reply.prepend(f"{way.first} {reply.name(found)}{year}: "
                              + opening(record.description, 1, 220))
            else:
                reply.add_to_lead(f"{way.in_lead} {reply.name(found, bold=False)}{year}.")
        return


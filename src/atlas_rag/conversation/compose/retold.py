"""A documented incident that a message retells.

A description that fits one ATLAS case study better than any technique or mitigation, and
that case study clearly better than any other, retells that incident ("the av vendor that
attacked its own cloud malware model with only the client's features"): the answer names it.
Search scores are relative to the best object of any kind, so "better than any technique" is
the case study's own score; no word of the message decides it.
"""

from __future__ import annotations

from ...text import opening
from ..linking import BY_ID
from ..reader import KIND_SURE, Reading
from ..reply import Reply
from .base import Context

# The case study scores at least this share of the best object of any kind: the description
# fits it as well as anything in ATLAS.
RETOLD_SHARE = 0.9
# The next case study scores at most this share of it: one incident, not a kind of attack
# that several case studies share.
RETOLD_GAP = 0.8
# Words of its own a message has at least to describe an incident (pointers and asking aside).
RETOLD_WORDS = 3
# Intents whose message may retell an incident: explaining one, mapping one, and the attack,
# defence or system questions that tell one as their reason.
RETELLING_INTENTS = ("explain", "incident", "attack", "defend", "threat_model")
# Intents that ask how things could go (an attack, a system's risks), not what happened: an
# incident their words fit is mentioned after the answer's lead, never before it.
HOW_INTENTS = ("attack", "threat_model")


def retold_incident(ctx: Context, reading: Reading) -> str | None:
    """The case study the message's own words retell, if one clearly."""
    if reading.intent not in RETELLING_INTENTS or reading.source not in ("question", ""):
        return None
    if any(link.how in BY_ID for link in reading.links.links):
        return None  # an ID says which object is meant
    if any(ctx.catalog.records[s.id].type == "case-study" and s.how != "name-word"
           for s in reading.subjects):
        return None  # the reader found the incident meant ("the newest case study")
    if len(ctx.reader.subject_words(reading.question)) < RETOLD_WORDS:
        return None
    hits = ctx.search(reading.question, ("case-study",), 2)
    if not hits or hits[0].score < RETOLD_SHARE:
        return None
    if len(hits) > 1 and hits[1].score > RETOLD_GAP * hits[0].score:
        return None
    return hits[0].id


def name_retold_incident(ctx: Context, reading: Reading, reply: Reply) -> None:
    """The case study a message retells: said before the answer when the reader does not know
    the message asks for another kind, else after it (once)."""
    study = retold_incident(ctx, reading)
    if study is None:
        return
    prediction = reading.prediction
    other_kind_sure = (prediction is not None and reading.target != "case_study"
                       and prediction.target_p >= KIND_SURE)
    leads = not other_kind_sure and reading.intent not in HOW_INTENTS
    if study in lead_of(reply):
        return
    record = ctx.catalog.records[study]
    when = str(record.extra.get("incident_date") or "")[:4]
    reply.source(study)
    if leads:
        reply.prepend(f"The closest incident ATLAS documents is the case study {reply.name(study)}"
                      + (f" ({when})" if when else "") + ": " + opening(record.description, 1, 220))
    else:
        reply.add_to_lead(f"ATLAS documents a closely matching incident, the case study "
                          f"{reply.name(study, bold=False)}" + (f" ({when})." if when else "."))


def lead_of(reply: Reply) -> str:
    """The answer's first paragraph."""
    end = reply.lines.index("") if "" in reply.lines else len(reply.lines)
    return "\n".join(reply.lines[:end])

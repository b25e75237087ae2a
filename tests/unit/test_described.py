"""The incident a message retells, or the control it describes, is named: before the answer,
or in its lead."""

from __future__ import annotations

import dataclasses

import pytest

from atlas_rag import AtlasRAG
from atlas_rag.conversation.compose.described import described_object, name_described
from atlas_rag.conversation.intents import Prediction
from atlas_rag.conversation.reader import Reading
from atlas_rag.conversation.reply import Reply

pytestmark = pytest.mark.unit

RETOLD = ("a red team crew tainted a greenhouse vendor's seed catalogue and then copied its "
          "flagship predictor overnight. which atlas entry")


def reading(rag: AtlasRAG, question: str, intent: str, sure: float | None) -> Reading:
    read = rag.answerer.read(question)
    prediction = None if sure is None else Prediction(
        intent, 1.0, "technique", sure, {intent: 1.0}, {"technique": sure, "case_study": 1 - sure})
    return dataclasses.replace(read, intent=intent, target="technique", prediction=prediction)


def reply_with_lead(rag: AtlasRAG) -> Reply:
    reply = Reply(rag.catalog)
    reply.para("Seedbank Poisoning is the technique. In the order of the ATLAS matrix:")
    reply.item("AML.T0902", "Seedbank Poisoning")
    return reply


def test_an_incident_retold_is_named_first_when_the_kind_asked_is_unsure(rag: AtlasRAG) -> None:
    reply = reply_with_lead(rag)
    name_described(rag.answerer.context, reading(rag, RETOLD, "explain", 0.6), reply)
    assert reply.lines[0].startswith("The closest incident ATLAS documents is the case study "
                                     "**Operation Copper Kestrel** ([AML.CS0901]) (2024)")
    assert "AML.CS0901" in reply.sources and reply.items == ["AML.T0902"]


def test_an_incident_retold_goes_in_the_lead_when_another_kind_is_surely_asked(rag: AtlasRAG) -> None:
    for intent, sure in (("explain", 0.95), ("attack", 0.6)):  # attack: how, not what happened
        reply = reply_with_lead(rag)
        name_described(rag.answerer.context, reading(rag, RETOLD, intent, sure), reply)
        assert reply.lines[0] == (
            "Seedbank Poisoning is the technique. ATLAS documents a closely matching incident, the "
            "case study Operation Copper Kestrel ([AML.CS0901]) (2024). In the order of the ATLAS "
            "matrix:")


def test_no_incident_for_an_id_a_few_words_or_an_incident_already_found(rag: AtlasRAG) -> None:
    ctx = rag.answerer.context
    assert described_object(ctx, reading(rag, RETOLD, "explain", 0.6), "case-study") == "AML.CS0901"
    assert described_object(ctx, reading(rag, RETOLD + " like AML.T0902", "explain", 0.6), "case-study") is None
    assert described_object(ctx, reading(rag, "copper kestrel?", "explain", 0.6), "case-study") is None
    assert described_object(ctx, reading(rag, "the copper kestrel exercise: what happened", "explain",
                                        0.6), "case-study") is None  # named: the reader links it
    assert described_object(ctx, reading(rag, RETOLD, "list", 0.6), "case-study") is None



def test_a_control_described_is_named_as_its_mitigation(rag: AtlasRAG) -> None:
    question = ("each kernel batch that comes into our store carries a signed tag and we turn "
                "away batches with a forged one. what is that called")
    ctx = rag.answerer.context
    assert described_object(ctx, reading(rag, question, "explain", 0.6), "mitigation") == "AML.M0902"
    reply = reply_with_lead(rag)
    name_described(ctx, reading(rag, question, "explain", 0.6), reply)
    assert reply.lines[0].startswith(
        "The ATLAS mitigation closest to what you describe is **Seedbank Provenance Sealing**")


def test_a_kind_asked_is_offered_not_stated_when_another_kind_fits_far_better(rag: AtlasRAG) -> None:
    """Read as asking for a technique, a described control still finds a technique in a search
    of techniques alone; it is offered as the closest, not stated."""
    from atlas_rag.conversation.compose.objects import closest

    question = ("we keep our silo ledgers in an encrypted vault with short-lived keys so a stolen "
                "snapshot is unreadable. what is that")
    read = reading(rag, question, "explain", 0.95)
    reply = closest(rag.answerer.context, read, Reply(rag.catalog))
    assert reply.lines[0].startswith("I'm not sure which ATLAS entry you mean. The closest is "
                                     "**Silo Ledger Leakage**")

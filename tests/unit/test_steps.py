"""Which steps of a case study a follow-up asks about, and the answer that shows them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from atlas_rag import AtlasRAG
from atlas_rag.conversation.linking import Link
from atlas_rag.conversation.steps import asked_steps
from atlas_rag.lexical import tokenize
from atlas_rag.records import Record, Step

pytestmark = pytest.mark.unit

STUDY = Record(
    id="AML.CS0990", name="Operation Paper Lantern", type="case-study", description="",
    url="https://example.org/paper-lantern", atlas_version="0.0.1",
    procedure=(
        Step("AML.TA0901", "AML.T0901", "The crew swept the lantern depot's hostnames at night."),
        Step("AML.TA0902", "AML.T0902", "The crew mailed forged seed packets to the depot."),
        Step("AML.TA0903", "AML.T0903", "The crew copied the depot's ledger over a proxy."),
    ),
)


def words(text: str) -> list[str]:
    return [t for t in tokenize(text) if t not in {"which", "part", "what", "step", "there"}]


def searching(*found: str):
    def search(text: str, types: Sequence[str], k: int) -> list[str]:
        return list(found)[:k]
    return search


def test_a_named_tactic_picks_its_steps() -> None:
    links = [Link("AML.TA0902", 0.95, "name")]
    kinds = {"AML.TA0902": "tactic"}
    assert asked_steps(STUDY, "what was the tampering there", links, kinds, searching(),
                       words) == [1]


def test_a_description_picks_the_step_search_finds_for_it() -> None:
    assert asked_steps(STUDY, "which part is the theft", [], {}, searching("AML.T0777", "AML.T0903"),
                       words) == [2]


def test_a_description_picks_the_step_whose_text_holds_its_words() -> None:
    assert asked_steps(STUDY, "the step where they mailed the forged packets", [], {},
                       searching("AML.T0777"), words) == [1]


def test_a_message_describing_nothing_of_the_study_picks_no_step() -> None:
    assert asked_steps(STUDY, "how do attackers poison a vector store", [], {},
                       searching("AML.T0777", "AML.T0778"), words) == []
    # Words of the study's own name are the study, not a part of it.
    assert asked_steps(STUDY, "tell me more about paper lantern", [], {},
                       searching(), words) == []


def test_the_step_answer_leads_with_the_technique_and_quotes_the_step(rag: AtlasRAG) -> None:
    answerer = rag.answerer
    reading = answerer.read("what was the Seedbank Tampering part there", [])
    reading = dataclasses.replace(reading, intent="step",
                                  subjects=[Link("AML.CS0901", 0.9, "history")])
    text = answerer.compose(reading).text()
    lead = text.split("\n\n", 1)[0]
    assert "AML.T0902" in lead and "step 2" in lead and "AML.CS0901" in lead
    assert "tainted kernels" in text  # the step's own text


def test_a_step_names_its_tactic_by_id_and_answers_the_relation_asked(rag: AtlasRAG) -> None:
    answerer = rag.answerer
    reading = answerer.read("the step where they scraped the release calendar, its parent?", [])
    reading = dataclasses.replace(reading, intent="step", target="parent",
                                  subjects=[Link("AML.CS0902", 0.9, "history")])
    text = answerer.compose(reading).text()
    lead = text.split("\n\n", 1)[0]
    assert "AML.T0901.002" in lead and "Its parent technique: Lighthouse Beacon Probing" in lead
    assert "AML.TA0901" in text  # the step's tactic, by its ID
    unnamed = dataclasses.replace(reading, question="the step where they scraped the calendar?")
    assert "Its parent technique" not in answerer.compose(unnamed).text()


def test_a_step_asked_for_its_tactics_gives_the_matrix_ones_where_they_differ(rag: AtlasRAG) -> None:
    answerer = rag.answerer
    question = "which tactics does the step where they copied the second ledger snapshot map to"
    reading = answerer.read(question, [])
    reading = dataclasses.replace(reading, intent="step", target="tactic",
                                  subjects=[Link("AML.CS0902", 0.9, "history")])
    lead = answerer.compose(reading).text().split("\n\n", 1)[0]
    # Filed under TA0903 in the case study; the technique also belongs to TA0901 in the matrix.
    assert "AML.T0904" in lead and "In the ATLAS matrix" in lead and "AML.TA0901" in lead
    filed = dataclasses.replace(reading, question="which tactic is the step where they swept "
                                "the public endpoints with a beacon under")
    assert "In the ATLAS matrix" not in answerer.compose(filed).text()  # the same tactic


@pytest.mark.parametrize("question", ["which techniques show up in it", "what techniques appear in it",
                                      "which techniques were involved there"])
def test_asking_which_techniques_a_case_study_holds_asks_for_all_of_them(
        rag: AtlasRAG, question: str) -> None:
    # The verbs of membership name no part of the study: the answer lists its techniques.
    history = [("AML.CS0901", rag.ask("AML.CS0901").text)]
    reading = rag.answerer.read(question, history)
    assert reading.intent != "step"
    assert rag.answerer.reader.subject_words(question) == []

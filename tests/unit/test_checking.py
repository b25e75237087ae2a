"""Yes/no questions about relations: which messages ask one, what they check, and ATLAS's
verdict from the relation graph (on the fictional fixture release)."""

from __future__ import annotations

import pytest

from atlas_rag.catalog import Catalog
from atlas_rag.conversation.checking import Check, asked_check, asks_yes_no, kind_asked, verdict

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("question", [
    "is grafted label swapping a sub-technique of seedbank poisoning?",
    "does M0901 cover beacon probing",
    "did the kestrel case use label swapping",
    "so is AML.T0904 under harvest siphoning?",
    "Was CS0902 an example of tidal chart scraping?",
    "ok and can beacon throttling stop weathervane cloning",
])
def test_yes_no_questions_open_with_an_auxiliary(question: str) -> None:
    assert asks_yes_no(question)


@pytest.mark.parametrize("question", [
    "is there a mitigation for seedbank poisoning",  # existence: a list
    "can you list the tactics",  # a request
    "should we encrypt the ledgers",  # advice
    "has anyone actually cloned a weathervane model",  # real incidents
    "what is AML.T0901",
    "how do I stop beacon probing",
])
def test_other_questions_are_not_yes_no(question: str) -> None:
    assert not asks_yes_no(question)


def test_two_named_objects_are_checked_against_each_other() -> None:
    check = asked_check("is AML.T0902.001 a sub-technique of AML.T0902?",
                        ["AML.T0902.001", "AML.T0902"], [])
    assert check == Check("AML.T0902.001", ("AML.T0902",))


def test_one_named_object_is_checked_against_the_subject_pointed_at() -> None:
    check = asked_check("is it under harvest siphoning?", ["AML.TA0903"], ["AML.T0904"])
    assert check == Check("AML.T0904", ("AML.TA0903",))


def test_an_either_or_question_checks_both() -> None:
    check = asked_check("is AML.T0904 harvest siphoning or seedbank tampering?",
                        ["AML.T0904", "AML.TA0903", "AML.TA0902"], [])
    assert check == Check("AML.T0904", ("AML.TA0903", "AML.TA0902"))


def test_a_kind_asked_about_one_object_is_a_kind_check() -> None:
    assert kind_asked("is seedbank poisoning a tactic?") == "tactic"
    assert kind_asked("is seedbank poisoning a tactic of the kestrel crew") == ""
    assert asked_check("is seedbank poisoning a tactic?", ["AML.T0902"], []) == Check(
        "AML.T0902", kind="tactic")


def test_no_check_without_a_yes_no_form_or_without_objects() -> None:
    assert asked_check("what is AML.T0902.001 to AML.T0902", ["AML.T0902.001", "AML.T0902"],
                       []) is None
    assert asked_check("is it bad?", [], []) is None


def _verdict(catalog: Catalog, a: str, b: str):
    return verdict(catalog, catalog.records[a], catalog.records[b])


def test_parent_and_sub_technique(catalog: Catalog) -> None:
    assert _verdict(catalog, "AML.T0901.001", "AML.T0901").holds
    assert _verdict(catalog, "AML.T0901", "AML.T0901.001").holds
    found = _verdict(catalog, "AML.T0902.001", "AML.T0901")
    assert not found.holds and found.how == "is a separate technique from"
    assert _verdict(catalog, "AML.T0901.001", "AML.T0901.002").how == "is a sibling of"


def test_a_technique_is_under_each_of_its_tactics_and_a_sub_under_its_parents(
        catalog: Catalog) -> None:
    assert _verdict(catalog, "AML.T0904", "AML.TA0901").holds  # its second tactic
    assert not _verdict(catalog, "AML.T0901", "AML.TA0903").holds
    assert _verdict(catalog, "AML.T0901.002", "AML.TA0901").holds  # the parent's tactic


def test_a_mitigation_against_a_technique_directly_or_through_its_family(
        catalog: Catalog) -> None:
    direct = _verdict(catalog, "AML.M0901", "AML.T0901")
    assert direct.holds and not direct.through and "beacon" in direct.detail.lower()
    through = _verdict(catalog, "AML.M0901", "AML.T0901.002")
    assert through.holds and through.through == "AML.T0901"
    assert not _verdict(catalog, "AML.M0903", "AML.T0902").holds
    assert _verdict(catalog, "AML.T0902", "AML.M0902").how == "is addressed by"


def test_a_case_study_used_a_technique_or_its_sub_technique(catalog: Catalog) -> None:
    direct = _verdict(catalog, "AML.CS0901", "AML.T0903")
    assert direct.holds and direct.detail  # the step's own text
    through = _verdict(catalog, "AML.CS0901", "AML.T0901")
    assert through.holds and through.through == "AML.T0901.001"
    assert not _verdict(catalog, "AML.CS0901", "AML.T0904").holds
    assert _verdict(catalog, "AML.CS0902", "AML.TA0903").holds  # a step of that tactic
    assert not _verdict(catalog, "AML.CS0902", "AML.TA0902").holds


def test_a_mitigation_and_a_case_study_meet_only_through_techniques(catalog: Catalog) -> None:
    assert _verdict(catalog, "AML.M0902", "AML.CS0901").holds
    assert not _verdict(catalog, "AML.M0902", "AML.CS0902").holds

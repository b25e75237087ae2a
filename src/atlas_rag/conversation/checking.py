"""Yes/no questions about ATLAS's relations: "is LLM Jailbreak a sub-technique of prompt
injection?", "does M0015 mitigate evasion?", "is AML.T0070 persistence or initial access?".

A check is an object asked about and what it is checked against: other objects (one, or
several in an either-or question) or a kind of object ("is prompt injection a tactic?"). The
verdict comes from the relation graph alone, so it is exact; the composer words it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..catalog import Catalog
from ..records import Record
from .knowledge import (
    TECHNIQUE_TYPES,
    family,
    kind_of_word,
    techniques_of,
    techniques_of_case_study,
)

# A yes/no question opens with an auxiliary verb (a closed class of English). "is there",
# "can you", "should we", "has anyone" ask for something else: existence, a service, advice,
# real incidents.
YES_NO = re.compile(
    r"^\W*(?:(?:so|and|ok|okay|hey|also|quick q(?:uestion)?)\W+)*"
    r"(?:is|are|was|were|does|do|did|has|have|can|could)\s+"
    r"(?!there\b|you\b|u\b|i\b|we\b|our\b|my\b|anyone\b|anybody\b|someone\b|somebody\b"
    r"|any\b|it\s+possible\b|atlas\b)", re.IGNORECASE)
# A kind the question asks whether its subject is ("a tactic?"): the data model's own nouns.
_KIND_ASKED = re.compile(
    r"\b(?:an?|one of the|considered an?)\s+(?P<kind>tactic|technique|sub-?technique|mitigation"
    r"|case[\s-]?study)\b(?!\s+(?:of|for|in|under|from|against)\b)", re.IGNORECASE)


@dataclass(frozen=True)
class Check:
    """What a yes/no question checks: ``subject`` against ``others`` (or against ``kind``)."""

    subject: str
    others: tuple[str, ...] = ()
    kind: str = ""
    member: bool = False  # "is X one of them": whether ``subject`` is among ``others``


@dataclass(frozen=True)
class Verdict:
    """Whether ATLAS relates the two, and how (a sentence fragment without the names)."""

    holds: bool
    how: str  # "is a sub-technique of", "is listed against", ...
    through: str = ""  # the family member the relation goes through, when not direct
    detail: str = ""  # ATLAS's own text for the relation (a use text, a step)


def asks_yes_no(question: str) -> bool:
    return bool(YES_NO.search(question))


def kind_asked(question: str) -> str:
    match = _KIND_ASKED.search(question)
    return kind_of_word(match.group("kind")) if match else ""


def asked_check(question: str, named: Sequence[str], pointed: Sequence[str]) -> Check | None:
    """The check a yes/no question asks. ``named``: the objects the message names, in the
    order it names them; ``pointed``: the conversation's subject when the message points back
    ("is it under exfiltration?")."""
    if not asks_yes_no(question):
        return None
    objects = list(dict.fromkeys(named))
    if len(objects) == 1 and pointed and pointed[0] not in objects:
        objects = [pointed[0], *objects]
    if len(objects) >= 2:
        return Check(objects[0], tuple(objects[1:3]))
    kind = kind_asked(question)
    if objects and kind:
        return Check(objects[0], kind=kind)
    return None


Rule = Callable[[Catalog, Record, Record], "Verdict | None"]
RULES: list[Rule] = []


def rule(function: Rule) -> Rule:
    """Register a relation check; the first rule that applies to the pair decides."""
    RULES.append(function)
    return function


def verdict(catalog: Catalog, a: Record, b: Record) -> Verdict:
    """ATLAS's answer to "is ``a`` related to ``b``" in the way their kinds can be related."""
    if a.id == b.id:
        return Verdict(True, "is the same object as")
    for check in RULES:
        found = check(catalog, a, b)
        if found is not None:
            return found
    return Verdict(False, "is not linked in ATLAS to")


@rule
def _parent_and_sub(catalog: Catalog, a: Record, b: Record) -> Verdict | None:
    if a.type not in TECHNIQUE_TYPES or b.type not in TECHNIQUE_TYPES:
        return None
    if a.parent == b.id:
        return Verdict(True, "is a sub-technique of")
    if b.parent == a.id:
        return Verdict(True, "is the parent technique of")
    if a.parent and a.parent == b.parent:
        return Verdict(False, "is a sibling of", through=a.parent)
    return Verdict(False, "is a separate technique from")


@rule
def _technique_and_tactic(catalog: Catalog, a: Record, b: Record) -> Verdict | None:
    if a.type in TECHNIQUE_TYPES and b.type == "tactic":
        return Verdict(b.id in catalog.tactics_of(a), "is under the tactic")
    if a.type == "tactic" and b.type in TECHNIQUE_TYPES:
        return Verdict(a.id in catalog.tactics_of(b), "is a tactic of")
    return None


@rule
def _mitigation_and_technique(catalog: Catalog, a: Record, b: Record) -> Verdict | None:
    if a.type == "mitigation" and b.type in TECHNIQUE_TYPES:
        mitigation, technique, how = a, b, "is listed against"
    elif b.type == "mitigation" and a.type in TECHNIQUE_TYPES:
        mitigation, technique, how = b, a, "is addressed by"
    else:
        return None
    if technique.id in mitigation.techniques:
        return Verdict(True, how, detail=mitigation.uses.get(technique.id, ""))
    for member in family(catalog, technique.id)[1:]:
        if member in mitigation.techniques:
            return Verdict(True, how, through=member, detail=mitigation.uses.get(member, ""))
    return Verdict(False, how)


@rule
def _case_study_and_technique(catalog: Catalog, a: Record, b: Record) -> Verdict | None:
    if a.type == "case-study" and (b.type in TECHNIQUE_TYPES or b.type == "tactic"):
        study, other, how = a, b, "used"
    elif b.type == "case-study" and (a.type in TECHNIQUE_TYPES or a.type == "tactic"):
        study, other, how = b, a, "was used in"
    else:
        return None
    if other.type == "tactic":
        steps = [s for s in study.procedure if s.tactic == other.id]
        return Verdict(bool(steps), how, detail=steps[0].description if steps else "")
    used = techniques_of_case_study(catalog, study.id)
    for member in family(catalog, other.id):
        if member in used:
            step = next((s for s in study.procedure if s.technique == member), None)
            return Verdict(True, how, through=member if member != other.id else "",
                           detail=step.description if step else "")
    return Verdict(False, how)


@rule
def _mitigation_and_grouping(catalog: Catalog, a: Record, b: Record) -> Verdict | None:
    """A mitigation and a tactic or case study: ATLAS links them only through techniques."""
    pair = {a.type, b.type}
    if "mitigation" not in pair or not pair & {"tactic", "case-study"}:
        return None
    mitigation, other = (a, b) if a.type == "mitigation" else (b, a)
    techniques = techniques_of(catalog, other)
    shared = [t for t in techniques if t in mitigation.techniques]
    return Verdict(bool(shared), "addresses techniques of", through=shared[0] if shared else "")

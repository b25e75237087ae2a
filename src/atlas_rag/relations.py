"""Relationship questions answered exactly from the relation graph of a catalog."""

from __future__ import annotations

from .catalog import Catalog
from .errors import UnknownIdError

# kind -> (type the subject must have, description used in answers)
RELATIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "mitigations_of": (("technique", "subtechnique"), "mitigations"),
    "techniques_of_mitigation": (("mitigation",), "techniques addressed"),
    "case_studies_of": (("technique", "subtechnique"), "case studies"),
    "techniques_of_case_study": (("case-study",), "techniques used, in step order"),
    "subtechniques_of": (("technique",), "sub-techniques"),
    "parent_of": (("subtechnique",), "parent technique"),
    "techniques_of_tactic": (("tactic",), "techniques"),
    "tactics_of": (("technique", "subtechnique", "case-study"), "tactics"),
    "attack_to_atlas": ((), "ATLAS objects"),
    "atlas_to_attack": (("technique", "subtechnique", "tactic"), "ATT&CK reference"),
}


def related(catalog: Catalog, kind: str, subject: str) -> list[str]:
    """The IDs related to ``subject`` by ``kind``, in a stable, meaningful order.

    ``attack_to_atlas`` takes an ATT&CK ID (T1596) and ``atlas_to_attack`` returns ATT&CK IDs;
    every other kind takes and returns ATLAS IDs.
    """
    if kind not in RELATIONS:
        raise ValueError(f"unknown relation {kind!r}")
    if kind == "attack_to_atlas":
        return catalog.by_attack(subject)
    record = catalog.get(subject)
    types = RELATIONS[kind][0]
    if types and record.type not in types:
        raise UnknownIdError(
            f"{record.id} is a {record.type}; '{RELATIONS[kind][1]}' applies to {' or '.join(types)}"
        )
    if kind == "mitigations_of":
        return list(record.mitigations)
    if kind == "techniques_of_mitigation":
        return list(record.techniques)
    if kind == "case_studies_of":
        return list(record.case_studies)
    if kind == "techniques_of_case_study":
        return list(dict.fromkeys(step.technique for step in record.procedure)) or list(
            record.techniques
        )
    if kind == "subtechniques_of":
        return list(record.subtechniques)
    if kind == "parent_of":
        return [record.parent] if record.parent else []
    if kind == "techniques_of_tactic":
        return list(record.techniques)
    if kind == "tactics_of":
        return list(record.tactics)
    ref = record.attack_reference or {}
    return [ref["id"]] if ref.get("id") else []

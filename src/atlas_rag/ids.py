"""ATLAS and ATT&CK identifiers: finding them in text and normalising them."""

from __future__ import annotations

import re

# AML.TA0004, AML.T0051, AML.T0051.001, AML.M0015, AML.CS0005 in any letter case.
ATLAS_ID_RE = re.compile(r"(?<![\w.])aml\.(ta|t|m|cs)([0-9]{4})(?:\.([0-9]{3}))?(?![\w])", re.IGNORECASE)
# ATT&CK techniques (T1596, T1596.002) and tactics (TA0043).
ATTACK_ID_RE = re.compile(r"(?<![\w.])(ta|t)([0-9]{4})(?:\.([0-9]{3}))?(?![\w])", re.IGNORECASE)

_PREFIX_TYPES = {"TA": "tactic", "T": "technique", "M": "mitigation", "CS": "case-study"}


def normalize_id(text: str) -> str | None:
    """Return the canonical form of an ATLAS ID (``AML.T0051.001``), or None if it is not one."""
    match = ATLAS_ID_RE.fullmatch(text.strip())
    return _canonical(match) if match else None


def find_ids(text: str) -> list[str]:
    """All ATLAS IDs in ``text``, canonical, in order of first appearance, without repeats."""
    seen: dict[str, None] = {}
    for match in ATLAS_ID_RE.finditer(text):
        seen.setdefault(_canonical(match), None)
    return list(seen)


def find_attack_ids(text: str) -> list[str]:
    """All ATT&CK IDs (``T1596``, ``TA0043``) in ``text`` that are not part of an ATLAS ID."""
    seen: dict[str, None] = {}
    for match in ATTACK_ID_RE.finditer(text):
        prefix, number, sub = match.group(1).upper(), match.group(2), match.group(3)
        seen.setdefault(f"{prefix}{number}" + (f".{sub}" if sub else ""), None)
    return list(seen)


def id_kind(atlas_id: str) -> str:
    """The object kind an ID names: tactic, technique, subtechnique, mitigation or case-study."""
    match = ATLAS_ID_RE.fullmatch(atlas_id)
    if not match:
        raise ValueError(f"not an ATLAS ID: {atlas_id!r}")
    kind = _PREFIX_TYPES[match.group(1).upper()]
    return "subtechnique" if kind == "technique" and match.group(3) else kind


def parent_id(atlas_id: str) -> str | None:
    """``AML.T0051.001`` -> ``AML.T0051``; None for IDs without a parent."""
    canonical = normalize_id(atlas_id)
    if canonical and canonical.count(".") == 2:
        return canonical.rsplit(".", 1)[0]
    return None


def _canonical(match: re.Match[str]) -> str:
    prefix, number, sub = match.group(1).upper(), match.group(2), match.group(3)
    return f"AML.{prefix}{number}" + (f".{sub}" if sub else "")

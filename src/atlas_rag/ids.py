"""ATLAS and ATT&CK identifiers: finding them in text and normalising them."""

from __future__ import annotations

import re
from dataclasses import dataclass

# AML.TA0004, AML.T0051, AML.T0051.001, AML.M0015, AML.CS0005 in any letter case.
ATLAS_ID_RE = re.compile(r"(?<![\w.])aml\.(ta|t|m|cs)([0-9]{4})(?:\.([0-9]{3}))?(?![\w])", re.IGNORECASE)
# ATT&CK techniques (T1596, T1596.002) and tactics (TA0043).
ATTACK_ID_RE = re.compile(r"(?<![\w.])(ta|t)([0-9]{4})(?:\.([0-9]{3}))?(?![\w])", re.IGNORECASE)

# The kinds whose bare IDs people shorten by dropping the leading zeros ("m15", "cs42"):
# ATT&CK numbers nothing with M or CS, and a bare T or TA with fewer digits is a product name
# ("T5") as often as an ID.
SHORTENED_KINDS = ("M", "CS")
_PREFIX_TYPES = {"TA": "tactic", "T": "technique", "M": "mitigation", "CS": "case-study"}

# The loose forms people type: "M0015", "cs0042", "AML-T0043-001", "AML.T0043.1", "aml t0051",
# "T0051.001". With the AML prefix any separator and 1-4 digits are accepted; without it the
# letters must touch exactly four digits, so "T5" (a model) or "m 2" are not read as IDs; on
# request (``shortened``) also two or three digits after M or CS ("m15", "cs42"), which the
# caller keeps only when the object exists: "M365" is a product, "M62" a road.
_LOOSE_RE = re.compile(
    r"(?<![\w.])(?:(?P<aml>aml)[\s._-]{0,2})?(?P<kind>ta|cs|t|m)(?P<sep>[\s._-]?)(?P<num>\d{1,4})"
    r"(?:[._-](?P<sub>\d{1,3}))?(?![\w])",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class IdMention:
    """An ID as a user wrote it, read as an ATLAS ID."""

    text: str  # as written
    atlas_id: str  # canonical ATLAS form: AML.T0043.001
    prefixed: bool  # written with "AML"; a bare "TA0003" may also be an ATT&CK ID
    start: int
    end: int
    shortened: bool = False  # bare, without the leading zeros ("m15")

    @property
    def bare(self) -> str:
        """The ID without "AML." (TA0003), which is how ATT&CK writes its own IDs."""
        return self.atlas_id.removeprefix("AML.")


def find_id_mentions(text: str, shortened: bool = False) -> list[IdMention]:
    """Every ID-like mention in ``text`` in any form users type, read as ATLAS IDs, in order.

    Whether each names a real object is the catalog's business; a bare form (``TA0003``,
    ``T1190``) is also what ATT&CK calls its own objects, which ``prefixed`` tells apart.
    With ``shortened``, bare M and CS numbers of two or three digits count too ("m15").
    """
    found = []
    for match in _LOOSE_RE.finditer(text):
        prefixed = bool(match.group("aml"))
        number = match.group("num")
        kind = match.group("kind").upper()
        short = shortened and kind in SHORTENED_KINDS and len(number) in (2, 3)
        if not prefixed and (match.group("sep") or not (len(number) == 4 or short)):
            continue
        sub = match.group("sub")
        atlas_id = f"AML.{kind}{int(number):04d}" + (f".{int(sub):03d}" if sub else "")
        if sub and kind != "T":
            continue  # only techniques have sub-techniques
        found.append(IdMention(match.group(0), atlas_id, prefixed, match.start(), match.end(),
                               shortened=not prefixed and len(number) != 4))
    return found


def read_id(text: str) -> str | None:
    """The canonical ATLAS ID of a text that is one ID in any form ("m0015", "AML-T0043-1")."""
    strict = normalize_id(text)
    if strict:
        return strict
    mentions = find_id_mentions(text.strip())
    if len(mentions) == 1 and mentions[0].text == text.strip():
        return mentions[0].atlas_id
    return None


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


def id_letters_and_number(atlas_id: str) -> tuple[str, str]:
    """``AML.T0053.001`` -> ("T", "0053"): the kind's letters and the four-digit number."""
    match = ATLAS_ID_RE.fullmatch(atlas_id)
    if not match:
        raise ValueError(f"not an ATLAS ID: {atlas_id!r}")
    return match.group(1).upper(), match.group(2)


def parent_id(atlas_id: str) -> str | None:
    """``AML.T0051.001`` -> ``AML.T0051``; None for IDs without a parent."""
    canonical = normalize_id(atlas_id)
    if canonical and canonical.count(".") == 2:
        return canonical.rsplit(".", 1)[0]
    return None


def _canonical(match: re.Match[str]) -> str:
    prefix, number, sub = match.group(1).upper(), match.group(2), match.group(3)
    return f"AML.{prefix}{number}" + (f".{sub}" if sub else "")

"""The vault format: ATLAS pages as the knowledge vaults our users keep write them.

A vault page has Docusaurus frontmatter (a slug ``id``, ``title: "ID: Name"``,
``sidebar_label``, ``sidebar_position``), a ``# ID: Name`` heading, a ``## Metadata`` list and
relation sections (``## Tactics (N)``, ``## Case Studies (N)``, ...) whose ``[[path|ID: Name]]``
links carry the ID in their label; paths follow the vault's folder layout
(``frameworks/atlas/techniques/<tactic>/<parent>/<slug>``). This module writes records in that
format (:mod:`atlas_rag.vault_render`, with our machine-readable fields added to the
frontmatter); this module holds the format's names and reads such pages back into the
frontmatter fields the rest of atlas-rag uses. Which section holds which relation is one
table, :data:`SECTIONS`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .ids import normalize_id
from .records import Example, Record, Step

ROOT = "frameworks/atlas"
KIND_FOLDERS = {
    "tactic": "tactics",
    "technique": "techniques",
    "subtechnique": "techniques",
    "mitigation": "mitigations",
    "case-study": "case-studies",
}
PREFIX_FOLDERS = {"TA": "tactics", "T": "techniques", "M": "mitigations", "CS": "case-studies"}
ID_LABELS = {
    "tactic": "Tactic ID",
    "technique": "Technique ID",
    "subtechnique": "Technique ID",
    "mitigation": "Mitigation ID",
    "case-study": "Case Study ID",
}
NO_TACTIC = "no-tactic"
# Our machine-readable frontmatter keys, written after the vault's own; they win when read.
MACHINE_KEYS = ("atlas_id", "type", "atlas_version", "url", "tactics", "parent", "subtechniques",
                "mitigations", "case_studies", "techniques", "attack_reference")

WIKI_LINK_RE = re.compile(r"\[\[([^\]|]+)\|([^\]]+)\]\]")
MD_LINK_RE = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
SITE_PATHS = {"techniques": "T", "tactics": "TA", "mitigations": "M", "studies": "CS"}
ID_PREFIX_RE = re.compile(r"^AML\.(TA|CS|T|M)\d", re.IGNORECASE)
_LABELLED_ID_RE = re.compile(r"^\s*([^:\s]+)\s*:\s*(.+?)\s*$")
_COUNT_RE = re.compile(r"^(.*?)\s*\((\d+)\)\s*$")
_PARENT_RE = re.compile(r"\*\*(?:Sub-Technique of|Parent Technique):\*\*\s*(\[\[[^\]]+\]\])",
                        re.IGNORECASE)
_PARENT_LINE_RE = re.compile(r"^> \*\*Sub-Technique of:\*\*[ \t]*", re.MULTILINE | re.IGNORECASE)
_META_LINE_RE = re.compile(r"^-\s*\*\*([^*:]+):\*\*\s*(.*?)\s*$", re.MULTILINE)
_STEP_MARK_RE = re.compile(r"^\*\*Step (\d+)\*\*(?: · \*\*Tactic:\*\* (.*?))?\s*$", re.MULTILINE)
_TACTIC_LINE_RE = re.compile(r"^(?:\*\*)?Tactic:(?:\*\*)?\s*(.*?)\s*$", re.MULTILINE)
_HEADING_STEP_RE = re.compile(r"^Step (\d+):\s*(.*)$|^(.*?)\s+step (\d+)\s*$", re.IGNORECASE)
_DATE_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%Y-%m-%d", "%d %B %Y")


@dataclass(frozen=True)
class SectionKind:
    """What a ``## Name (N)`` section holds: the record field its links fill and, when each
    related object has a ``###`` block, what the block's text is (``uses``: how a mitigation
    applies; ``examples``: the steps of a case study that used the technique; ``steps``: a
    case study's procedure)."""

    relation: str
    blocks: str = ""


# Section names, lower case and without their count. Our earlier rendered format's names
# ("Procedure examples", "Techniques addressed") are read too.
SECTIONS: dict[str, SectionKind] = {
    "tactics": SectionKind("tactics"),
    "sub-techniques": SectionKind("subtechniques"),
    "techniques": SectionKind("techniques", "uses"),
    "techniques addressed": SectionKind("techniques", "uses"),
    "mitigations": SectionKind("mitigations", "uses"),
    "case studies": SectionKind("case_studies", "examples"),
    "procedure examples": SectionKind("case_studies", "examples"),
    "procedure": SectionKind("techniques", "steps"),
}
RELATIONS = ("tactics", "subtechniques", "mitigations", "case_studies", "techniques")


def parent_sentence(text: str) -> str:
    """The vault's parent line ``> **Sub-Technique of:** [[...]]`` as the sentence chunks
    state it, ``> Sub-technique of [[...]]``, the same whatever the page's format."""
    return _PARENT_LINE_RE.sub("> Sub-technique of ", text)


def section_name(title: str) -> str:
    """A section title without its count: ``Case Studies (4)`` -> ``Case Studies``."""
    match = _COUNT_RE.match(title)
    return (match.group(1) if match else title).strip()


def section_kind(title: str) -> SectionKind | None:
    return SECTIONS.get(section_name(title).lower())


# --------------------------------------------------------------------------- reading

def parse_date(value: str) -> str | None:
    """``May 13, 2021`` (or ISO) -> ``2021-05-13``; None when it is not a date."""
    text = value.strip()
    for pattern in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, pattern).date().isoformat()
        except ValueError:
            continue
    return None





def link_id(target: str, label: str) -> str | None:
    """The ATLAS ID of a link: from its label (``ID: Name`` or a bare ID), else from the last
    part of its path (our earlier layout, ``techniques/AML.T0051``)."""
    match = _LABELLED_ID_RE.match(label)
    found = normalize_id(match.group(1)) if match else None
    return found or normalize_id(label) or normalize_id(target.rsplit("/", 1)[-1])


def _links(text: str) -> list[str]:
    found: dict[str, None] = {}
    for target, label in WIKI_LINK_RE.findall(text):
        atlas_id = link_id(target, label)
        if atlas_id:
            found.setdefault(atlas_id, None)
    return list(found)


@dataclass
class _Block:
    heading: str
    text: str


@dataclass
class _Section:
    title: str
    intro: str
    blocks: list[_Block]


def _sections(body: str) -> tuple[str, list[_Section]]:
    """The text before the first ``##`` and every section with its ``###`` blocks (empty
    blocks included: a relation without text is still a relation)."""
    lead: list[str] = []
    sections: list[_Section] = []
    buf: list[str] = []
    in_fence = False

    def flush() -> None:
        text = "\n".join(buf).strip()
        buf.clear()
        if not sections:
            lead.append(text)
        elif sections[-1].blocks:
            sections[-1].blocks[-1].text = text
        else:
            sections[-1].intro = text

    for line in body.split("\n"):
        if line.startswith("```") and line.count("```") % 2 == 1:
            in_fence = not in_fence
        if not in_fence and line.startswith("## "):
            flush()
            sections.append(_Section(line[3:].strip(), "", []))
        elif not in_fence and line.startswith("### ") and sections:
            flush()
            sections[-1].blocks.append(_Block(line[4:].strip(), ""))
        else:
            buf.append(line)
    flush()
    return "\n".join(lead), sections


def vault_id(meta: dict[str, Any], body: str) -> str | None:
    """The ATLAS ID a vault page is about: ``atlas_id``, the title, the ``# ID: Name`` heading
    or the ``**Technique ID:**`` (Mitigation, Case Study, Tactic) Metadata line."""
    for value in (meta.get("atlas_id"), meta.get("title")):
        if isinstance(value, str):
            found = normalize_id(value) or _titled_id(value)
            if found:
                return found
    heading = re.search(r"^# (.+)$", body, flags=re.MULTILINE)
    if heading and _titled_id(heading.group(1)):
        return _titled_id(heading.group(1))
    for label, value in _META_LINE_RE.findall(body):
        if label.strip().endswith(" ID") and normalize_id(value):
            return normalize_id(value)
    return None


def _titled_id(title: str) -> str | None:
    match = _LABELLED_ID_RE.match(title)
    return normalize_id(match.group(1)) if match else None


def _titled_name(title: Any) -> str | None:
    if not isinstance(title, str):
        return None
    match = _LABELLED_ID_RE.match(title)
    if match and normalize_id(match.group(1)):
        return match.group(2).strip()
    return None


def _kind(atlas_id: str, parent: str | None) -> str:
    prefix = ID_PREFIX_RE.match(atlas_id)
    kind = {"TA": "tactic", "T": "technique", "M": "mitigation", "CS": "case-study"}[
        prefix.group(1).upper()] if prefix else "note"
    if kind == "technique" and (parent or atlas_id.count(".") == 2):
        return "subtechnique"
    return kind


def read_vault_meta(meta: dict[str, Any], body: str) -> dict[str, Any] | None:
    """The frontmatter fields atlas-rag uses (``id`` the ATLAS ID, ``type``, ``name``,
    relations, dates, maturity), read from a page in the vault format; None when the page
    names no ATLAS ID. Our machine-readable frontmatter fields, when present, win."""
    atlas_id = vault_id(meta, body)
    if atlas_id is None:
        return None
    heading = re.search(r"^# (.+)$", body, flags=re.MULTILINE)
    name = (_titled_name(meta.get("title")) or _titled_name(heading.group(1) if heading else None)
            or (str(meta["sidebar_label"]) if meta.get("sidebar_label") else atlas_id))
    parent_link = _PARENT_RE.search(body)
    parent = _links(parent_link.group(1))[0] if parent_link and _links(parent_link.group(1)) else None
    facts = {label.strip().lower(): value for label, value in _META_LINE_RE.findall(body)}
    out: dict[str, Any] = {k: v for k, v in meta.items() if k not in ("id", "atlas_id")}
    if meta.get("id") is not None:
        out["slug"] = str(meta["id"])
    out.update(id=atlas_id, name=name, type=_kind(atlas_id, parent), parent=parent)
    for key, label in (("created", "created"), ("modified", "last modified")):
        out[key] = parse_date(facts[label]) if facts.get(label) else None
    out["maturity"] = facts.get("maturity") or None
    relations: dict[str, list[str]] = {key: [] for key in RELATIONS}
    _, sections = _sections(body)
    for section in sections:
        kind = section_kind(section.title)
        if kind is None:
            continue
        if kind.blocks == "steps":
            for block in section.blocks:
                step = _step(block)
                if step is not None:
                    _add(relations["techniques"], step.technique)
                    _add(relations["tactics"], step.tactic)
        elif section.blocks:
            for block in section.blocks:
                for found in _links(block.heading)[:1]:
                    _add(relations[kind.relation], found)
        else:
            for line in section.intro.split("\n"):
                if line.lstrip().startswith(("- ", "* ")):
                    for found in _links(line):
                        _add(relations[kind.relation], found)
    out.update(relations)
    attack = next((s for s in sections if section_name(s.title).lower() == "att&ck reference"), None)
    if attack is not None:
        ref = MD_LINK_RE.search(attack.intro)
        out["attack_reference"] = {"id": ref.group(1), "url": ref.group(2)} if ref else None
    else:
        out["attack_reference"] = None
    site = re.search(r"https://atlas\.mitre\.org/\S+?/" + re.escape(atlas_id) + r"\b", body)
    out["url"] = site.group(0) if site else ""
    for key in MACHINE_KEYS:
        if key in meta and key != "atlas_id":
            out[key] = meta[key]
    return out


def _add(items: list[str], value: str) -> None:
    if value and value not in items:
        items.append(value)


def _step(block: _Block) -> Step | None:
    heading = _HEADING_STEP_RE.match(block.heading)
    technique = _links(heading.group(2) or "") if heading and heading.group(2) else _links(block.heading)
    if not technique:
        return None
    tactic_line = _TACTIC_LINE_RE.search(block.text)
    tactic = (_links(tactic_line.group(1)) or [""])[0] if tactic_line else ""
    text = block.text[tactic_line.end():] if tactic_line else block.text
    return Step(tactic, technique[0], text.strip())


def record_parts(
    body: str, atlas_type: str
) -> tuple[str, dict[str, str], tuple[Example, ...], tuple[Step, ...]]:
    """The description, ``uses``, procedure examples and steps of a page body (any format)."""
    lead, sections = _sections(body)
    lead = re.sub(r"^# .*$", "", lead, count=1, flags=re.MULTILINE)
    lead = re.sub(r"^> (\*\*Sub-Technique of:\*\*|Sub-technique of) .*$", "", lead,
                  flags=re.MULTILINE | re.IGNORECASE)
    uses: dict[str, str] = {}
    examples: list[Example] = []
    steps: list[Step] = []
    for section in sections:
        kind = section_kind(section.title)
        if kind is None or not kind.blocks:
            continue
        for block in section.blocks:
            if kind.blocks == "steps":
                step = _step(block)
                if step is not None:
                    steps.append(step)
                continue
            head = _links(block.heading)
            if not head:
                continue
            if kind.blocks == "uses" and atlas_type in ("technique", "subtechnique", "mitigation"):
                uses[head[0]] = block.text.strip()
            elif kind.blocks == "examples":
                examples += _examples(head[0], block)
    return lead.strip(), uses, tuple(examples), tuple(steps)


def _examples(study: str, block: _Block) -> list[Example]:
    """A case study's steps under its ``###`` heading: ``**Step N** · **Tactic:** link``
    markers (ours), a heading ending in ``step N`` with a ``Tactic:`` line (our earlier
    format), or just the text (a vault page)."""
    marks = list(_STEP_MARK_RE.finditer(block.text))
    if marks:
        out = []
        for n, mark in enumerate(marks):
            end = marks[n + 1].start() if n + 1 < len(marks) else len(block.text)
            tactic = (_links(mark.group(2) or "") or [""])[0]
            out.append(Example(study, int(mark.group(1)), tactic,
                               block.text[mark.end():end].strip()))
        return out
    heading = _HEADING_STEP_RE.match(block.heading)
    number = int(heading.group(4)) if heading and heading.group(4) else 0
    tactic_line = _TACTIC_LINE_RE.match(block.text)
    tactic = (_links(tactic_line.group(1)) or [""])[0] if tactic_line else ""
    text = block.text[tactic_line.end():] if tactic_line else block.text
    if not text.strip() and not number:
        return []
    return [Example(study, number, tactic, text.strip())]


def example_pieces(text: str) -> list[str]:
    """A case-study block's text split at our step markers, each piece starting with a
    ``Tactic:`` line, as the chunker wants one piece per step."""
    marks = list(_STEP_MARK_RE.finditer(text))
    if not marks:
        return [text]
    pieces = []
    for n, mark in enumerate(marks):
        end = marks[n + 1].start() if n + 1 < len(marks) else len(text)
        tactic = f"Tactic: {mark.group(2)}\n\n" if mark.group(2) else ""
        pieces.append(tactic + text[mark.end():end].strip())
    return pieces


def complete_uses(records: Iterable[Record]) -> None:
    """A technique's advice from a mitigation that is empty on one side is taken from the
    other (a vault page may write it on the mitigation's page only)."""
    by_id = {r.id: r for r in records}
    for record in by_id.values():
        for other_id, text in record.uses.items():
            other = by_id.get(other_id)
            related = other is not None and record.id in (*other.mitigations, *other.techniques)
            if text and other is not None and related and not other.uses.get(record.id):
                other.uses[record.id] = text


def complete_relations(metas: Iterable[dict[str, Any]]) -> None:
    """Fill each relation in both directions across the pages, as a release does: a mitigation
    listing a technique puts itself on that technique, and so on. A sub-technique without
    tactics of its own is filed under its parent's (and a tactic lists only the techniques
    that name it themselves)."""
    by_id = {str(m["id"]): m for m in metas}
    techniques = ("technique", "subtechnique")
    for meta in by_id.values():
        for key in RELATIONS:
            meta[key] = list(meta.get(key) or [])
    for meta in by_id.values():
        kind = meta.get("type")
        if kind == "subtechnique" and meta.get("parent") in by_id:
            _add(by_id[meta["parent"]]["subtechniques"], meta["id"])
        for sub in meta["subtechniques"] if kind in techniques else []:
            if sub in by_id and not by_id[sub].get("parent"):
                by_id[sub]["parent"] = meta["id"]
        for other_kind, back in (("mitigation", "mitigations"), ("case-study", "case_studies"),
                                 ("tactic", "tactics")):
            if kind == other_kind:
                for t in meta["techniques"]:
                    if by_id.get(t, {}).get("type") in techniques:
                        _add(by_id[t][back], meta["id"])
            elif kind in techniques:
                for other in meta[back]:
                    if by_id.get(other, {}).get("type") != other_kind:
                        continue
                    parent = by_id.get(str(meta.get("parent")))
                    if back == "tactics" and parent is not None and other in parent["tactics"]:
                        continue  # inherited from the parent, not the sub-technique's own
                    _add(by_id[other]["techniques"], meta["id"])
    for meta in by_id.values():
        parent = by_id.get(str(meta.get("parent")))
        if meta.get("type") == "subtechnique" and not meta["tactics"] and parent is not None:
            meta["tactics"] = list(parent["tactics"])

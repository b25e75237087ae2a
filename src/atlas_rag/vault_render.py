"""Writing records as vault pages: the vault's folder layout, frontmatter and page body.

The format is described in :mod:`atlas_rag.vault`, which reads such pages back.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .catalog import Catalog
from .ids import normalize_id
from .records import Record
from .vault import (
    ID_LABELS,
    ID_PREFIX_RE,
    KIND_FOLDERS,
    MD_LINK_RE,
    NO_TACTIC,
    PREFIX_FOLDERS,
    ROOT,
    SITE_PATHS,
)


def slugify(text: str) -> str:
    """``AI Intellectual Property Theft`` -> ``ai-intellectual-property-theft``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower().replace("&", " and ")).strip("-") or "page"


@dataclass(frozen=True)
class Layout:
    """Where each record's page lives in the vault (path without ``.md``) and its slug."""

    paths: dict[str, str]
    slugs: dict[str, str]

    def link(self, atlas_id: str, catalog: Catalog) -> str:
        record = catalog.records.get(atlas_id)
        label = record.title if record else atlas_id
        return f"[[{self.path(atlas_id)}|{label}]]"

    def path(self, atlas_id: str) -> str:
        if atlas_id in self.paths:
            return self.paths[atlas_id]
        prefix = ID_PREFIX_RE.match(atlas_id)
        folder = PREFIX_FOLDERS[prefix.group(1).upper()] if prefix else "notes"
        return f"{ROOT}/{folder}/{atlas_id.lower()}"


def vault_layout(catalog: Catalog) -> Layout:
    """The vault's folder layout: ``techniques/<tactic>/<parent>/<slug>``, ``case-studies/<slug>``,
    ``mitigations/<slug>``, ``tactics/<slug>``; a slug taken twice gets the ID appended."""
    own: dict[str, str] = {}
    taken: set[str] = set()
    for record in catalog:
        slug = slugify(record.name)
        key = (KIND_FOLDERS.get(record.type, "notes"),
               record.parent or "", slug)
        if "/".join(key) in taken:
            slug = f"{slug}-{slugify(record.id)}"
        taken.add("/".join((key[0], key[1], slug)))
        own[record.id] = slug

    def tactic_folder(record: Record) -> str:
        tactics = catalog.tactics_of(record)
        return own.get(tactics[0], NO_TACTIC) if tactics else NO_TACTIC

    paths: dict[str, str] = {}
    slugs: dict[str, str] = {}
    for record in catalog:
        folder = KIND_FOLDERS.get(record.type, "notes")
        parent = catalog.parent_of(record)
        if record.type == "technique" or (record.type == "subtechnique" and parent is None):
            paths[record.id] = f"{ROOT}/{folder}/{tactic_folder(record)}/{own[record.id]}/{own[record.id]}"
            slugs[record.id] = own[record.id]
        elif record.type == "subtechnique" and parent is not None:
            paths[record.id] = (f"{ROOT}/{folder}/{tactic_folder(parent)}/{own[parent.id]}/"
                                f"{own[record.id]}")
            slugs[record.id] = f"{own[parent.id]}-{own[record.id]}"
        else:
            paths[record.id] = f"{ROOT}/{folder}/{own[record.id]}"
            slugs[record.id] = own[record.id]
    return Layout(paths, slugs)


def convert_links(text: str, layout: Layout) -> str:
    """The release's resolved template references (``[Name](/techniques/AML.T0017)``) become
    vault links with the same name: ``[[frameworks/atlas/.../slug|Name]]``."""

    def replace(match: re.Match[str]) -> str:
        label, target = match.group(1), match.group(2)
        parts = target.strip("/").split("/")
        if target.startswith("/") and len(parts) == 2 and parts[0] in SITE_PATHS:
            atlas_id = normalize_id(parts[1])
            if atlas_id:
                return f"[[{layout.path(atlas_id)}|{label}]]"
        return match.group(0)

    return MD_LINK_RE.sub(replace, text)


# --------------------------------------------------------------------------- writing


def format_date(value: str | None) -> str:
    """``2021-05-13`` -> ``May 13, 2021`` (other text is kept as it is)."""
    if not value:
        return ""
    try:
        day = dt.date.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return f"{day:%B} {day.day}, {day.year}"




def frontmatter_fields(record: Record, catalog: Catalog, layout: Layout) -> dict[str, Any]:
    """The vault's frontmatter keys, then ours (ID, type, relations, version, URL, extras)."""
    meta: dict[str, Any] = {
        "id": layout.slugs.get(record.id, slugify(record.name)),
        "title": record.title,
        "sidebar_label": record.name,
        "sidebar_position": _position(record, catalog),
        "atlas_id": record.id,
        "type": record.type,
        "atlas_version": record.atlas_version,
        "url": record.url,
        "tactics": list(record.tactics),
        "parent": record.parent,
        "subtechniques": list(record.subtechniques),
        "mitigations": list(record.mitigations),
        "case_studies": list(record.case_studies),
        "techniques": list(record.techniques),
        "attack_reference": record.attack_reference,
    }
    meta.update({k: v for k, v in record.extra.items() if v not in ("", [], None)})
    return meta


def _position(record: Record, catalog: Catalog) -> int:
    """1-based place among its siblings: a sub-technique under its parent, a tactic in the
    matrix, anything else among the objects of its type."""
    parent = catalog.parent_of(record)
    if parent is not None and record.id in parent.subtechniques:
        return parent.subtechniques.index(record.id) + 1
    if record.type == "tactic":
        return catalog.tactic_order().index(record.id) + 1
    same = [r.id for r in catalog.of_type(record.type)]
    return same.index(record.id) + 1 if record.id in same else 1


def page_body(record: Record, catalog: Catalog, layout: Layout | None = None) -> str:
    """The markdown body of a record's vault page: heading, text, metadata, relations."""
    layout = layout or vault_layout(catalog)

    def link(atlas_id: str) -> str:
        return layout.link(atlas_id, catalog)

    def text(value: str) -> str:
        return convert_links(value, layout)

    lines = [f"# {record.title}", ""]
    if record.parent:
        lines += [f"> **Sub-Technique of:** {link(record.parent)}", ""]
    lines += [text(record.description), ""]
    lines += ["## Metadata", "", f"- **{ID_LABELS.get(record.type, 'ID')}:** {record.id}"]
    for label, key in (("Category", "category"), ("ML Lifecycle", "lifecycle")):
        if record.extra.get(key):
            lines.append(f"- **{label}:** {', '.join(str(v) for v in record.extra[key])}")
    for label, value in (("Created", record.created), ("Last Modified", record.modified)):
        if value:
            lines.append(f"- **{label}:** {format_date(value)}")
    if record.maturity:
        lines.append(f"- **Maturity:** {record.maturity}")
    if record.parent:
        lines += ["", f"- **Parent Technique:** {link(record.parent)}"]
    lines.append("")
    if record.type in ("technique", "subtechnique"):
        own = [t for t in record.tactics
               if t not in catalog.records or record.id in catalog.records[t].techniques]
        lines += _list_section("Tactics", own, link, "This technique supports the following tactics:",
                               "*No tactics currently associated with this technique.*")
        if record.subtechniques:
            lines += _list_section("Sub-Techniques", record.subtechniques, link)
        if record.mitigations:
            lines += [f"## Mitigations ({len(record.mitigations)})", "",
                      "The following mitigations address this technique:", ""]
            for m in record.mitigations:
                lines += [f"### {link(m)}", "", text(record.uses.get(m, "")), ""]
        lines += _case_studies(record, link, text)
    elif record.type == "tactic":
        lines += _list_section("Techniques", record.techniques, link,
                               "The following techniques support this tactic:")
    elif record.type == "mitigation" and record.techniques:
        lines += [f"## Techniques Addressed ({len(record.techniques)})", "",
                  "This mitigation addresses the following techniques:", ""]
        for t in record.techniques:
            lines += [f"### {link(t)}", "", text(record.uses.get(t, "")), ""]
    elif record.type == "case-study":
        facts = [("Type", "case_study_type"), ("Incident date", "incident_date"),
                 ("Target", "target"), ("Actor", "actor"), ("Reporter", "reporter")]
        shown = [f"- **{label}:** {record.extra[key]}" for label, key in facts if record.extra.get(key)]
        if shown:
            lines += ["## Details", "", *shown, ""]
        if record.procedure:
            lines += [f"## Procedure ({len(record.procedure)})", ""]
            for n, step in enumerate(record.procedure, start=1):
                lines += [f"### Step {n}: {link(step.technique)}", "",
                          f"**Tactic:** {link(step.tactic)}", "", text(step.description), ""]
    if record.attack_reference:
        ref = record.attack_reference
        lines += ["## ATT&CK Reference", "", f"- [{ref['id']}]({ref['url']})", ""]
    lines += ["## References", ""]
    if record.url:
        lines += [f"MITRE Corporation. *{record.name} ({record.id})*. MITRE ATLAS. "
                  f"Available at: {record.url}", ""]
    references = record.extra.get("references") or []
    if references:
        lines += [f"- [{r['title'] or r['url']}]({r['url']})" for r in references] + [""]
    return "\n".join(lines)


def _list_section(
    name: str, ids: Iterable[str], link: Any, intro: str = "", empty: str = ""
) -> list[str]:
    ids = list(ids)
    lines = [f"## {name} ({len(ids)})", ""] + ([intro, ""] if intro else [])
    if ids:
        return lines + [f"- {link(i)}" for i in ids] + [""]
    return lines + ([empty, ""] if empty else [])


def _case_studies(record: Record, link: Any, text: Any) -> list[str]:
    """One ``###`` block per case study; each step that used the technique under it."""
    if not record.case_studies:
        return []
    lines = [f"## Case Studies ({len(record.case_studies)})", "",
             "The following case studies demonstrate this technique:", ""]
    for study in record.case_studies:
        lines += [f"### {link(study)}", ""]
        for ex in (e for e in record.examples if e.case_study == study):
            lines += [f"**Step {ex.step}** · **Tactic:** {link(ex.tactic)}", "",
                      text(ex.description), ""]
    return lines



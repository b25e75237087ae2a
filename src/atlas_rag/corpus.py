"""Markdown pages with YAML frontmatter: render a release into them, read them back.

One page per tactic, technique, sub-technique, mitigation and case study. Related pages are
linked with ``[[path|ID: Name]]`` wiki links. Pages of the same shape written by a team
(their own notes) are read too; pages without usable frontmatter are skipped with a warning.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import frontmatter

from .catalog import Catalog
from .errors import CorpusError
from .ids import normalize_id
from .records import PAGE_FOLDERS, Example, Record, Step, page_path

logger = logging.getLogger(__name__)

WIKI_LINK_RE = re.compile(r"\[\[([^\]|]+)\|([^\]]+)\]\]")
MD_LINK_RE = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_SITE_PATHS = {"techniques": "techniques", "tactics": "tactics", "mitigations": "mitigations",
               "studies": "case-studies"}
GENERATED_FOLDERS = sorted(set(PAGE_FOLDERS.values()))
MAX_PAGE_BYTES = 2_000_000
LIST_FIELDS = ("tactics", "subtechniques", "mitigations", "case_studies", "techniques")


@dataclass
class Section:
    """A ``##`` section, or a ``###`` subsection within one."""

    title: str
    text: str
    subsection: str = ""


@dataclass
class Page:
    path: Path
    meta: dict[str, Any]
    body: str
    sections: list[Section] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.meta["id"])


@dataclass
class CorpusReport:
    pages: list[Page]
    skipped: list[tuple[Path, str]]


# --------------------------------------------------------------------------- rendering


def wiki(record: Record) -> str:
    return f"[[{page_path(record.id, record.type)}|{record.title}]]"


def convert_links(text: str) -> str:
    """ATLAS-site links (``[Name](/techniques/AML.T0017)``) become wiki links to our pages."""

    def replace(match: re.Match[str]) -> str:
        label, target = match.group(1), match.group(2)
        parts = target.strip("/").split("/")
        if target.startswith("/") and len(parts) == 2 and parts[0] in _SITE_PATHS:
            return f"[[{_SITE_PATHS[parts[0]]}/{parts[1]}|{label}]]"
        return match.group(0)

    return MD_LINK_RE.sub(replace, text)


def render_page(record: Record, catalog: Catalog) -> str:
    """The markdown page (frontmatter and body) of one record."""
    meta: dict[str, Any] = {
        "id": record.id,
        "type": record.type,
        "name": record.name,
        "title": record.title,
        "atlas_version": record.atlas_version,
        "url": record.url,
        "tactics": list(record.tactics),
        "parent": record.parent,
        "subtechniques": list(record.subtechniques),
        "mitigations": list(record.mitigations),
        "case_studies": list(record.case_studies),
        "techniques": list(record.techniques),
        "attack_reference": record.attack_reference,
        "maturity": record.maturity,
        "created": record.created,
        "modified": record.modified,
    }
    if record.procedure:
        meta["procedure"] = [{"tactic": s.tactic, "technique": s.technique} for s in record.procedure]
    meta.update({k: v for k, v in record.extra.items() if v not in ("", [], None)})
    post = frontmatter.Post(page_body(record, catalog), **meta)
    return frontmatter.dumps(post, sort_keys=False) + "\n"


def page_body(record: Record, catalog: Catalog) -> str:
    """The markdown body of a record's page (its text and relations, no frontmatter)."""

    def link(atlas_id: str) -> str:
        return wiki(catalog.records[atlas_id])

    lines = [f"# {record.title}", ""]
    if record.parent:
        lines += [f"> Sub-technique of {link(record.parent)}", ""]
    lines += [convert_links(record.description), ""]
    if record.type in ("technique", "subtechnique"):
        if record.tactics:
            lines += ["## Tactics", ""] + [f"- {link(t)}" for t in record.tactics] + [""]
        if record.subtechniques:
            lines += ["## Sub-techniques", ""] + [f"- {link(t)}" for t in record.subtechniques] + [""]
        if record.mitigations:
            lines += ["## Mitigations", ""]
            for m in record.mitigations:
                lines += [f"### {link(m)}", "", convert_links(record.uses.get(m, "")), ""]
        if record.examples:
            lines += ["## Procedure examples", ""]
            for ex in record.examples:
                lines += [
                    f"### {link(ex.case_study)} step {ex.step}",
                    "",
                    f"Tactic: {link(ex.tactic)}",
                    "",
                    convert_links(ex.description),
                    "",
                ]
    elif record.type == "tactic" and record.techniques:
        lines += ["## Techniques", ""] + [f"- {link(t)}" for t in record.techniques] + [""]
    elif record.type == "mitigation" and record.techniques:
        lines += ["## Techniques addressed", ""]
        for t in record.techniques:
            lines += [f"### {link(t)}", "", convert_links(record.uses.get(t, "")), ""]
    elif record.type == "case-study":
        facts = [("Type", "case_study_type"), ("Incident date", "incident_date"),
                 ("Target", "target"), ("Actor", "actor"), ("Reporter", "reporter")]
        shown = [f"- **{label}:** {record.extra[key]}" for label, key in facts if record.extra.get(key)]
        if shown:
            lines += ["## Details", "", *shown, ""]
        if record.procedure:
            lines += ["## Procedure", ""]
            for n, step in enumerate(record.procedure, start=1):
                lines += [
                    f"### Step {n}: {link(step.technique)}",
                    "",
                    f"Tactic: {link(step.tactic)}",
                    "",
                    convert_links(step.description),
                    "",
                ]
    if record.attack_reference:
        ref = record.attack_reference
        lines += ["## ATT&CK reference", "", f"- [{ref['id']}]({ref['url']})", ""]
    references = record.extra.get("references") or []
    if references:
        lines += ["## References", ""]
        lines += [f"- [{r['title'] or r['url']}]({r['url']})" for r in references] + [""]
    lines += ["## Metadata", "", f"- **ID:** {record.id}", f"- **Type:** {record.type}"]
    if record.maturity:
        lines.append(f"- **Maturity:** {record.maturity}")
    for label, value in (("Created", record.created), ("Last modified", record.modified)):
        if value:
            lines.append(f"- **{label}:** {value}")
    lines += [f"- **ATLAS version:** {record.atlas_version}", f"- **URL:** {record.url}", ""]
    return "\n".join(lines)


def write_corpus(catalog: Catalog, corpus_dir: Path) -> int:
    """Render every record into ``corpus_dir``; replaces only the generated folders.

    Pages are written to a temporary folder first, so a failure leaves the old corpus as it was.
    Other files in ``corpus_dir`` (a team's own notes) are left alone.
    """
    corpus_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=corpus_dir))
    try:
        for record in catalog:
            target = staging / f"{page_path(record.id, record.type)}.md"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(render_page(record, catalog), encoding="utf-8")
        for folder in GENERATED_FOLDERS:
            new, old = staging / folder, corpus_dir / folder
            retired = staging / f"{folder}.old"
            if old.exists():
                os.replace(old, retired)
            if new.exists():
                os.replace(new, old)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return len(catalog)


# --------------------------------------------------------------------------- reading


def read_pages(corpus_dir: Path) -> CorpusReport:
    """Every page under ``corpus_dir`` (recursively); unusable pages are skipped and reported."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist", "run `atlas-rag build`")
    pages: list[Page] = []
    skipped: list[tuple[Path, str]] = []
    seen: dict[str, Path] = {}
    for path in sorted(corpus_dir.rglob("*.md")):
        if any(part.startswith(".") for part in path.relative_to(corpus_dir).parts):
            continue
        try:
            page = read_page(path)
        except CorpusError as exc:
            logger.warning("skipping %s: %s", path, exc.message)
            skipped.append((path, exc.message))
            continue
        if page.id in seen:
            reason = f"ID {page.id} is already used by {seen[page.id]}"
            logger.warning("skipping %s: %s", path, reason)
            skipped.append((path, reason))
            continue
        seen[page.id] = path
        pages.append(page)
    return CorpusReport(pages, skipped)


def read_page(path: Path) -> Page:
    """One page; CorpusError says what is wrong with it."""
    try:
        if path.stat().st_size > MAX_PAGE_BYTES:
            raise CorpusError(f"page is larger than {MAX_PAGE_BYTES} bytes")
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise CorpusError(f"cannot read: {exc.strerror}") from exc
    return parse_page(text, path)


def parse_page(text: str, path: Path = Path("<page>")) -> Page:
    """Parse page text; CorpusError for broken frontmatter or a missing ID."""
    text = text.replace("\r\n", "\n").replace("\x00", "")
    try:
        post = frontmatter.loads(text)
    except Exception as exc:  # python-frontmatter raises whatever its YAML parser raises
        raise CorpusError(f"broken frontmatter: {str(exc).splitlines()[0][:200]}") from exc
    meta = dict(post.metadata)
    raw_id = meta.get("id")
    if not isinstance(raw_id, str | int) or not str(raw_id).strip():
        raise CorpusError("frontmatter has no id")
    meta["id"] = normalize_id(str(raw_id)) or str(raw_id).strip()
    if not isinstance(meta.get("name") or meta.get("title"), str):
        meta["name"] = meta["id"]
    meta.setdefault("name", meta.get("title"))
    meta.setdefault("type", "note")
    for key in LIST_FIELDS:
        value = meta.get(key)
        if isinstance(value, str):
            meta[key] = [value]
        elif value is not None and not isinstance(value, list):
            raise CorpusError(f"frontmatter field {key!r} must be a list of IDs")
    body = post.content
    return Page(path, meta, body, split_sections(body))


def split_sections(body: str) -> list[Section]:
    """The description (before the first ``##``) and every section and subsection."""
    sections: list[Section] = []
    title, sub = "Description", ""
    buf: list[str] = []

    def flush() -> None:
        text = "\n".join(buf).strip()
        if text:
            sections.append(Section(title, text, sub))
        buf.clear()

    in_fence = False
    for line in body.split("\n"):
        if line.startswith("```") and line.count("```") % 2 == 1:
            in_fence = not in_fence
        if not in_fence and line.startswith("## "):
            flush()
            title, sub = line[3:].strip(), ""
        elif not in_fence and line.startswith("### "):
            flush()
            sub = line[4:].strip()
        elif not in_fence and line.startswith("# ") and not sections and not buf:
            continue  # the page title
        else:
            buf.append(line)
    flush()
    return sections


def linked_ids(text: str) -> list[str]:
    """IDs of the pages a text links to with wiki links, in order."""
    found: dict[str, None] = {}
    for target, _label in WIKI_LINK_RE.findall(text):
        atlas_id = normalize_id(target.rsplit("/", 1)[-1])
        if atlas_id:
            found.setdefault(atlas_id, None)
    return list(found)


def plain_text(text: str) -> str:
    """Markdown without link syntax: ``[[p|AML.T0051: Name]]`` -> ``AML.T0051: Name``."""
    text = WIKI_LINK_RE.sub(lambda m: m.group(2), text)
    text = MD_LINK_RE.sub(lambda m: m.group(1), text)
    return re.sub(r"\*\*|__|^>\s?", "", text, flags=re.MULTILINE)


def record_from_page(page: Page) -> Record:
    """A record from a page's frontmatter and sections (the inverse of :func:`render_page`)."""
    meta = page.meta

    def ids(key: str) -> tuple[str, ...]:
        value = meta.get(key) or []
        if isinstance(value, str):
            value = [value]
        return tuple(str(v) for v in value if v)

    description = "\n\n".join(
        s.text for s in page.sections if s.title == "Description" and not s.subsection
    )
    description = re.sub(r"^> Sub-technique of .*$", "", description, flags=re.MULTILINE).strip()
    uses: dict[str, str] = {}
    examples: list[Example] = []
    steps: list[Step] = []
    for section in page.sections:
        head = linked_ids(section.subsection)
        if not head:
            continue
        body = section.text
        tactic_line = re.match(r"Tactic: (.*)\n*", body)
        tactic = (linked_ids(tactic_line.group(1)) or [""])[0] if tactic_line else ""
        body = body[tactic_line.end():] if tactic_line else body
        if section.title in ("Mitigations", "Techniques addressed"):
            uses[head[0]] = body.strip()
        elif section.title == "Procedure examples":
            step_no = re.search(r"step (\d+)\s*$", section.subsection)
            examples.append(
                Example(head[0], int(step_no.group(1)) if step_no else 0, tactic, body.strip())
            )
        elif section.title == "Procedure":
            steps.append(Step(tactic, head[0], body.strip()))
    known = {"id", "type", "name", "title", "atlas_version", "url", "tactics", "parent",
             "subtechniques", "mitigations", "case_studies", "techniques", "attack_reference",
             "maturity", "created", "modified", "procedure"}
    attack = meta.get("attack_reference")
    return Record(
        id=page.id,
        type=str(meta.get("type") or "note"),
        name=str(meta.get("name") or page.id),
        description=description,
        url=str(meta.get("url") or ""),
        atlas_version=str(meta.get("atlas_version") or ""),
        tactics=ids("tactics"),
        parent=str(meta["parent"]) if meta.get("parent") else None,
        subtechniques=ids("subtechniques"),
        mitigations=ids("mitigations"),
        case_studies=ids("case_studies"),
        techniques=ids("techniques"),
        attack_reference=(
            {"id": str(attack.get("id", "")), "url": str(attack.get("url", ""))}
            if isinstance(attack, dict) else None
        ),
        maturity=str(meta["maturity"]) if meta.get("maturity") else None,
        created=str(meta["created"]) if meta.get("created") else None,
        modified=str(meta["modified"]) if meta.get("modified") else None,
        uses=uses,
        procedure=tuple(steps),
        examples=tuple(examples),
        extra={k: _jsonable(v) for k, v in meta.items() if k not in known},
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def catalog_from_pages(pages: Iterable[Page]) -> Catalog:
    records = [record_from_page(p) for p in pages]
    versions = sorted({r.atlas_version for r in records if r.atlas_version})
    return Catalog(records, versions[-1] if versions else "")

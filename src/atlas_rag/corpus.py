"""Markdown pages with YAML frontmatter: render a release into them, read them back.

One page per tactic, technique, sub-technique, mitigation and case study, written in the vault
format of :mod:`atlas_rag.vault` (the format of the knowledge vaults our users keep) in the
vault's folder layout, with our machine-readable fields in the frontmatter. Pages of that format
written by a team, pages of our earlier format (``id: AML.T0051`` with the fields in the
frontmatter) and a team's own notes (any other page with an ``id``) are read; pages without
usable frontmatter or ID are skipped with a warning.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import frontmatter

from . import vault, vault_render
from .catalog import Catalog
from .errors import CorpusError
from .ids import normalize_id
from .records import PAGE_FOLDERS, Record, page_path
from .vault import MD_LINK_RE, WIKI_LINK_RE
from .vault_render import Layout, vault_layout

logger = logging.getLogger(__name__)

# Folders a build replaces: the vault's ATLAS folder, and those of our earlier layout (so an
# upgraded corpus holds no second copy of a page).
GENERATED_FOLDERS = [vault.ROOT, "case-studies", "mitigations", "tactics", "techniques"]
MAX_PAGE_BYTES = 2_000_000
LIST_FIELDS = vault.RELATIONS
# Frontmatter keys that are fields of a record, not extras.
KNOWN_KEYS = {"id", "type", "name", "title", "atlas_version", "url", "tactics", "parent",
              "subtechniques", "mitigations", "case_studies", "techniques", "attack_reference",
              "maturity", "created", "modified", "procedure", "slug", "sidebar_label",
              "sidebar_position", "atlas_id"}


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


def render_page(record: Record, catalog: Catalog, layout: Layout | None = None) -> str:
    """The markdown page (frontmatter and body) of one record, in the vault format."""
    layout = layout or vault_layout(catalog)
    meta = vault_render.frontmatter_fields(record, catalog, layout)
    post = frontmatter.Post(vault_render.page_body(record, catalog, layout), **meta)
    return frontmatter.dumps(post, sort_keys=False) + "\n"


def page_body(record: Record, catalog: Catalog) -> str:
    """The markdown body of a record's page (its text and relations, no frontmatter)."""
    return vault_render.page_body(record, catalog)


def write_corpus(catalog: Catalog, corpus_dir: Path) -> int:
    """Render every record into ``corpus_dir`` in the vault's layout; replaces only the
    generated folders.

    Pages are written to a temporary folder first, so a failure leaves the old corpus as it was.
    Other files in ``corpus_dir`` (a team's own notes) are left alone.
    """
    corpus_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=corpus_dir))
    layout = vault_layout(catalog)
    try:
        for record in catalog:
            target = staging / f"{layout.paths[record.id]}.md"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(render_page(record, catalog, layout), encoding="utf-8")
        for n, folder in enumerate(GENERATED_FOLDERS):
            new, old = staging / folder, corpus_dir / folder
            retired = staging / f".retired-{n}"
            if old.exists():
                os.replace(old, retired)
            if new.exists():
                old.parent.mkdir(parents=True, exist_ok=True)
                os.replace(new, old)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return len(catalog)


# --------------------------------------------------------------------------- reading


def read_pages(corpus_dir: Path) -> CorpusReport:
    """Every page under ``corpus_dir`` (recursively); unusable pages are skipped and reported.

    Relations are completed in both directions across the pages (see
    :func:`atlas_rag.vault.complete_relations`).
    """
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
        page.meta["vault_path"] = path.relative_to(corpus_dir).with_suffix("").as_posix()
        pages.append(page)
    pages.sort(key=page_order)
    complete_pages(pages)
    return CorpusReport(pages, skipped)


def page_order(page: Page) -> str:
    """Pages of ATLAS objects in the order of their kind and ID (``techniques/AML.T0051``),
    whatever their file names, so that a catalog, its listings and the query model's training
    do not depend on a vault's folder layout; notes by their path."""
    kind = str(page.meta.get("type"))
    if kind in PAGE_FOLDERS:
        return f"{page_path(page.id, kind)}.md"
    return str(page.meta.get("vault_path") or page.path)


def complete_pages(pages: Iterable[Page]) -> None:
    """Complete the pages' relations in both directions (in their frontmatter fields)."""
    vault.complete_relations(p.meta for p in pages)


def link_targets(pages: Iterable[Page]) -> dict[str, str]:
    """Page paths (relative, without ``.md``) to page IDs, so that links labelled with a name
    only (``[[frameworks/atlas/.../extract-ai-model|Extract AI Model]]``) can be resolved."""
    return {str(p.meta["vault_path"]): p.id for p in pages if p.meta.get("vault_path")}


def merge_pages(base: list[Page], overrides: list[Page]) -> tuple[list[Page], list[str]]:
    """``base`` with each page of ``overrides`` replacing the one with its ID (or added);
    also the IDs that were replaced."""
    by_id = {p.id: p for p in base}
    replaced = [p.id for p in overrides if p.id in by_id]
    by_id.update({p.id: p for p in overrides})
    return list(by_id.values()), replaced


def unknown_links(pages: Iterable[Page]) -> list[tuple[Path, str]]:
    """Pages whose relations name an ID no page has: (path, which IDs). They are kept."""
    pages = list(pages)
    known = {p.id for p in pages}
    found = []
    for page in pages:
        missing: dict[str, None] = {}
        for key in (*LIST_FIELDS, "parent"):
            value = page.meta.get(key) or []
            for atlas_id in [value] if isinstance(value, str) else value:
                if str(atlas_id) not in known:
                    missing.setdefault(str(atlas_id), None)
        if missing:
            found.append((page.path, "links to ID(s) no page has, kept as they are: "
                          + ", ".join(missing)))
    return found


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
    """Parse page text; CorpusError for broken frontmatter or a missing ID.

    A page that names an ATLAS ID in the vault format (``atlas_id``, the title, the heading or
    the Metadata ID line) is read as that ATLAS object; one with an ATLAS ``id`` and a ``type``
    in its frontmatter as a page of our earlier format; any other page with an ``id`` is a note.
    """
    text = text.replace("\r\n", "\n").replace("\x00", "")
    try:
        post = frontmatter.loads(text)
    except Exception as exc:  # python-frontmatter raises whatever its YAML parser raises
        raise CorpusError(f"broken frontmatter: {str(exc).splitlines()[0][:200]}") from exc
    meta = dict(post.metadata)
    body = post.content
    raw_id = meta.get("id")
    earlier = isinstance(raw_id, str) and normalize_id(raw_id) and meta.get("type")
    from_vault = None if earlier or meta.get("type") == "note" else vault.read_vault_meta(meta, body)
    if from_vault is not None:
        meta = from_vault
    elif not isinstance(raw_id, str | int) or not str(raw_id).strip():
        raise CorpusError(
            "no ID: the frontmatter has no id, and no ATLAS ID is in the title, the "
            "'# ID: Name' heading or a '**Technique ID:**' Metadata line",
            "add `id:` to the frontmatter, or an ATLAS ID to the title",
        )
    else:
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


def linked_ids(text: str, targets: Mapping[str, str] | None = None) -> list[str]:
    """IDs of the pages a text links to with wiki links, in order: from the label
    (``ID: Name``), the path (``techniques/AML.T0051``) or, for a label with a name only, the
    page the path leads to in ``targets`` (see :func:`link_targets`)."""
    found: dict[str, None] = {}
    for target, label in WIKI_LINK_RE.findall(text):
        atlas_id = vault.link_id(target, label) or (targets or {}).get(target.strip())
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

    record_type = str(meta.get("type") or "note")
    description, uses, examples, steps = vault.record_parts(page.body, record_type)
    related = ids("techniques") if record_type == "mitigation" else ids("mitigations")
    if uses or record_type in ("technique", "subtechnique", "mitigation"):
        uses = {i: uses.get(i, "") for i in related}
    attack = meta.get("attack_reference")
    return Record(
        id=page.id,
        type=record_type,
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
        procedure=steps,
        examples=examples,
        extra={k: _jsonable(v) for k, v in meta.items()
               if k not in KNOWN_KEYS and k != "vault_path"},
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
    vault.complete_uses(records)
    versions = sorted({r.atlas_version for r in records if r.atlas_version})
    return Catalog(records, versions[-1] if versions else "")

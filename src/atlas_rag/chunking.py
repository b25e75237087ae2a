"""Section-aware chunks of corpus pages, each carrying the metadata retrieval needs.

The text that is embedded and matched lexically starts with a short context line (the
page's ID, name, parent, tactics and section), so a chunk such as one procedure step is
still recognisably about its technique when read alone.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from .corpus import Page, Section, linked_ids, plain_text
from .vault import example_pieces, parent_sentence, section_name

# all-MiniLM-L6-v2 reads 256 word pieces; about 150 words leave room for the context line.
MAX_WORDS = 150
MAX_TOKENS = 256
# Sections by name without their count ("Case Studies (4)" is "case studies"), lower case;
# the names of our earlier page format are kept, so such pages chunk as before.
SKIPPED_SECTIONS = {"metadata", "tactics", "techniques", "att&ck reference", "references"}
SECTION_KINDS = {
    "description": "description",
    "mitigations": "mitigation-use",
    "techniques addressed": "mitigation-use",
    "case studies": "procedure-example",
    "procedure examples": "procedure-example",
    "procedure": "step",
    "sub-techniques": "subtechniques",
    "details": "details",
}
# Sections whose content is one ``###`` block per related object; the line introducing the
# blocks ("The following case studies demonstrate this technique:") is not content.
BLOCK_KINDS = {"mitigation-use", "procedure-example", "step"}


def _section_key(title: str) -> str:
    return section_name(title).lower()


@dataclass(frozen=True)
class Chunk:
    """A piece of one page, ready to embed and to index lexically."""

    id: str
    page_id: str
    page_type: str
    name: str
    section: str
    kind: str
    text: str
    context: str
    links: tuple[str, ...]
    tactics: tuple[str, ...]
    parent: str
    url: str

    @property
    def embed_text(self) -> str:
        return f"{self.context}\n{self.text}"

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.embed_text.encode("utf-8")).hexdigest()


def chunk_pages(
    pages: Iterable[Page],
    names: dict[str, str],
    count_tokens: Callable[[str], int] | None = None,
    max_tokens: int = MAX_TOKENS,
    targets: dict[str, str] | None = None,
) -> list[Chunk]:
    """Chunks of every page; ``names`` maps IDs to display names for context lines.

    ``count_tokens`` measures a text in the embedding model's word pieces: a chunk longer than
    ``max_tokens`` (what the model reads) is split at sentence ends, so no text is cut off
    unseen. Without it, pieces of MAX_WORDS words are assumed to fit. ``targets`` maps page
    paths to IDs, for links labelled with a name only.
    """
    chunks: list[Chunk] = []
    for page in pages:
        for chunk in chunk_page(page, names, targets):
            chunks += _fitted(chunk, count_tokens, max_tokens) if count_tokens else [chunk]
    return chunks


def _fitted(chunk: Chunk, count_tokens: Callable[[str], int], max_tokens: int) -> list[Chunk]:
    """The chunk, or its text split at sentence ends (then words) into pieces that fit."""
    if count_tokens(chunk.embed_text) <= max_tokens:
        return [chunk]
    parts = [p for p in re.split(r"(?<=[.!?])\s+|\n+", chunk.text) if p.strip()]
    if len(parts) < 2:
        words = chunk.text.split()
        if len(words) < 2:
            return [chunk]
        parts = [" ".join(words[: len(words) // 2]), " ".join(words[len(words) // 2 :])]
    middle = len(parts) // 2
    halves = [" ".join(parts[:middle]), " ".join(parts[middle:])]
    out: list[Chunk] = []
    for n, text in enumerate(halves):
        out += _fitted(replace(chunk, id=f"{chunk.id}.{n}", text=text), count_tokens, max_tokens)
    return out


def chunk_page(
    page: Page, names: dict[str, str], targets: dict[str, str] | None = None
) -> list[Chunk]:
    page = replace(page, sections=[
        replace(s, text=parent_sentence(s.text)) if s.title == "Description" else s
        for s in page.sections])
    meta = page.meta
    page_type = str(meta.get("type") or "note")
    name = str(meta.get("name") or page.id)
    parent = str(meta.get("parent") or "")
    tactics = tuple(str(t) for t in meta.get("tactics") or [] if t)
    full_name = f"{names[parent]}: {name}" if parent in names else name
    about = [f"{page.id} {full_name} ({_type_label(page_type)}"]
    if tactics and page_type != "case-study":  # a case study's steps name their own tactic
        about.append("; tactics: " + ", ".join(names.get(t, t) for t in tactics))
    about.append(")")
    head = "".join(about)

    pieces: list[tuple[Section, str]] = [(Section("Title", full_name), "title")]
    lead = _lead(page)
    if lead:
        pieces.append((Section("Description", lead), "lead"))
    for section in page.sections:
        key = _section_key(section.title)
        if key in SKIPPED_SECTIONS:
            continue
        kind = SECTION_KINDS.get(key, "note")
        if kind in BLOCK_KINDS and not section.subsection:
            continue
        title = section_name(section.title)
        texts = example_pieces(section.text) if kind == "procedure-example" else [section.text]
        pieces += [(Section(title, w, section.subsection), kind)
                   for text in texts for w in _windows(Section(title, text, section.subsection))]

    chunks = []
    for n, (section, kind) in enumerate(pieces):
        links = tuple(linked_ids(section.subsection + "\n" + section.text, targets))
        if kind == "procedure-example":
            # The case study's title says little about the technique; the step says it all.
            label = "Procedure example"
        elif section.subsection:
            label = f"{section.title}: {plain_text(section.subsection)}"
        else:
            label = section.title
        text = plain_text(section.text).strip()
        tactic_line = re.match(r"Tactic: ([^\n]*)\n+", text)
        if tactic_line:  # steps name their tactic on the first line; it belongs to the context
            label += f" (tactic {tactic_line.group(1)})"
            text = text[tactic_line.end():]
        if kind == "title":
            # The page's head: its name and the opening of its description, like a search
            # result's title and abstract.
            context, text = head, _opening(page)
        elif kind == "lead":
            # What the object is, in its own first sentences under its bare name: short
            # enough for the embedding to hold one idea.
            context = f"{page.id} {full_name}:"
        else:
            context = f"{head}. {label}:"
        chunks.append(
            Chunk(
                id=f"{page.id}#{n}",
                page_id=page.id,
                page_type=page_type,
                name=name,
                section=section.title,
                kind=kind,
                text=text,
                context=context,
                links=links,
                tactics=tactics,
                parent=parent,
                url=str(meta.get("url") or ""),
            )
        )
    return chunks


def _opening(page: Page, words: int = 70) -> str:
    """The start of the page's text, about ``words`` words: its description first, then what
    follows it when the description is short (a mitigation's first advice, say)."""
    out: list[str] = []
    count = 0
    for section in page.sections:
        key = _section_key(section.title)
        if key in SKIPPED_SECTIONS or (SECTION_KINDS.get(key) in BLOCK_KINDS
                                       and not section.subsection):
            continue
        raw = section.text
        if SECTION_KINDS.get(key) == "procedure-example":
            raw = "\n\n".join(example_pieces(raw))
        text = plain_text(re.sub(r"^> .*$", "", raw, flags=re.MULTILINE))
        text = re.sub(r"^Tactic: .*$", "", text, flags=re.MULTILINE)
        for sentence in re.split(r"(?<=[.!?])\s+|\n+", text):
            size = len(sentence.split())
            if not size:
                continue
            if out and count + size > words:
                return " ".join(out)
            out.append(sentence.strip())
            count += size
    return " ".join(out)


def _lead(page: Page, sentences: int = 2) -> str:
    """The first sentences of the page's description as the page shows them (a
    sub-technique's first line names the technique it belongs to), at most MAX_WORDS words;
    "" without a description."""
    for section in page.sections:
        if section.title == "Description":
            text = plain_text(section.text)
            found = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]
            return " ".join(" ".join(found[:sentences]).split()[:MAX_WORDS])
    return ""


def _windows(section: Section) -> list[str]:
    """The section's text in pieces of at most MAX_WORDS words, cut at sentence ends."""
    words = section.text.split()
    if len(words) <= MAX_WORDS:
        return [section.text]
    sentences = re.split(r"(?<=[.!?])\s+|\n{2,}", section.text)
    out: list[str] = []
    current: list[str] = []
    for sentence in sentences:
        size = len(sentence.split())
        if current and sum(len(s.split()) for s in current) + size > MAX_WORDS:
            out.append(" ".join(current))
            # Carry the last short sentence over for context, if the window still fits.
            last = current[-1]
            fits = len(last.split()) < MAX_WORDS // 3 and len(last.split()) + size <= MAX_WORDS
            current = [last] if fits else []
        if size > MAX_WORDS:  # one very long sentence: cut by words
            tokens = sentence.split()
            for i in range(0, len(tokens), MAX_WORDS):
                out.append(" ".join(tokens[i : i + MAX_WORDS]))
            current = []
            continue
        current.append(sentence)
    if current:
        out.append(" ".join(current))
    return out


def _type_label(page_type: str) -> str:
    return {"subtechnique": "sub-technique", "case-study": "case study"}.get(page_type, page_type)

"""Writing answers: object references, sentences from ATLAS text, and the answer itself.

IDs are written as markdown reference links (``[AML.T0051]``) whose targets are listed once
at the end of the text, so an answer stays readable, every ID is clickable, and the first
sentences hold names and IDs rather than long URLs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..catalog import Catalog
from ..records import Record
from ..retrieval import Hit
from ..text import opening

KIND_NAMES = {
    "tactic": ("tactic", "tactics"),
    "technique": ("technique", "techniques"),
    "subtechnique": ("sub-technique", "sub-techniques"),
    "mitigation": ("mitigation", "mitigations"),
    "case-study": ("case study", "case studies"),
    "note": ("note", "notes"),
}


def kind_name(kind: str, count: int = 1) -> str:
    singular, plural = KIND_NAMES.get(kind, (kind, kind + "s"))
    return singular if count == 1 else plural


def join(parts: Sequence[str], word: str = "and") -> str:
    parts = [p for p in parts if p]
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + f" {word} " + parts[-1]


@dataclass
class Reply:
    """An answer being written: its lines, the objects it cites and the ones it lists."""

    catalog: Catalog
    abstained: bool = False
    # Set when the reply is not the intent's answer but a clarification ("unknown", "clarify").
    kind: str = ""
    # Set when the answer is drawn from the message's own text (a pasted write-up, a described
    # system), not from the conversation's subjects.
    own_text: bool = False
    lines: list[str] = field(default_factory=list)
    cited: dict[str, None] = field(default_factory=dict)
    items: list[str] = field(default_factory=list)
    sources: dict[str, Hit] = field(default_factory=dict)

    # ------------------------------------------------------------------ references

    def ref(self, atlas_id: str) -> str:
        """``[AML.T0051]``, a link to the object's page."""
        self.cited.setdefault(atlas_id, None)
        return f"[{atlas_id}]"

    def name(self, atlas_id: str, bold: bool = True) -> str:
        """``**LLM Prompt Injection** ([AML.T0051])``."""
        record = self.catalog.records[atlas_id]
        label = self.catalog.full_name(record)
        return f"**{label}** ({self.ref(atlas_id)})" if bold else f"{label} ({self.ref(atlas_id)})"

    def names(self, ids: Iterable[str], limit: int = 8, bold: bool = False) -> str:
        ids = [i for i in ids if i in self.catalog]
        shown = [self.name(i, bold) for i in ids[:limit]]
        if len(ids) > limit:
            shown.append(f"{len(ids) - limit} more")
        return join(shown)

    def source(self, atlas_id: str, hit: Hit | None = None) -> None:
        if atlas_id in self.catalog and atlas_id not in self.sources:
            self.sources[atlas_id] = hit or hit_of(self.catalog.records[atlas_id], self.catalog)

    # ------------------------------------------------------------------ text

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def para(self, text: str) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")
        self.lines.append(text)

    def _lead_end(self) -> int:
        """The index of the line after the first paragraph."""
        return self.lines.index("") if "" in self.lines else len(self.lines)

    def lead(self) -> str:
        """The first paragraph."""
        return "\n".join(self.lines[: self._lead_end()])

    def insert_after_lead(self, text: str) -> None:
        """A paragraph right after the first one (a note on how the question was read)."""
        end = self._lead_end()
        self.lines[end:end] = ["", text]

    def add_to_lead(self, sentence: str) -> None:
        """A sentence at the end of the first paragraph, or before its last sentence when that
        one introduces what follows ("In the order of the ATLAS matrix:")."""
        end = self._lead_end()
        if not end:
            self.lines[:0] = [sentence, ""]
            return
        last = self.lines[end - 1]
        parts = re.split(r"(?<=[.!?])\s+(?=\S)", last)
        if len(parts) > 1 and parts[-1].rstrip().endswith(":"):
            self.lines[end - 1] = " ".join([*parts[:-1], sentence, parts[-1]])
        else:
            self.lines[end - 1] = f"{last} {sentence}"

    def prepend(self, text: str) -> None:
        self.lines[:0] = [text, ""]

    def item(self, atlas_id: str, text: str) -> None:
        """A numbered list line; numbers run on through the answer, so "#3" is the third shown."""
        if self.lines and self.lines[-1] and not re.match(r"\d+\. ", self.lines[-1]):
            self.lines.append("")  # a list starts a paragraph of its own
        self.items.append(atlas_id)
        self.lines.append(f"{len(self.items)}. {text}")
        self.source(atlas_id)

    def extend(self, other: Reply) -> None:
        """``other``'s answer after this one (a second question of the same message), its
        list numbers running on from this one's."""
        offset = len(self.items)

        def renumber(line: str) -> str:
            match = re.match(r"(\d+)\. ", line)
            return f"{int(match.group(1)) + offset}. {line[match.end():]}" if match else line

        self.para("")
        self.lines += [renumber(line) for line in other.lines]
        self.items += other.items
        for atlas_id in other.cited:
            self.cited.setdefault(atlas_id, None)
        for atlas_id, hit in other.sources.items():
            self.sources.setdefault(atlas_id, hit)
        self.abstained = self.abstained and other.abstained

    def text(self) -> str:
        body = "\n".join(self.lines).strip()
        body = re.sub(r"\n{3,}", "\n\n", body)
        links = [f"[{i}]: {self.catalog.records[i].url}" for i in self.cited if i in self.catalog]
        return body + ("\n\n" + "\n".join(links) if links else "")


def hit_of(record: Record, catalog: Catalog, score: float = 1.0, snippet: str = "") -> Hit:
    """A source entry for an object an answer used."""
    return Hit(id=record.id, name=catalog.full_name(record), type=record.type, score=score,
               url=record.url, snippet=snippet or opening(record.description, 1, 300),
               section="Description", matched_by=("answer",), tactics=record.tactics)

"""Grounded answers from the release itself: cards, exact relations, ranked techniques.

Needs no LLM. Every ID in an answer comes from the catalog, and every answer lists the
sources it used, so a reader can check each claim on atlas.mitre.org.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from .catalog import Catalog
from .corpus import plain_text
from .errors import QueryError, UnknownIdError
from .ids import find_ids
from .mapping import map_text
from .records import Record
from .relations import RELATIONS, related
from .retrieval import Hit, Retriever
from .understanding import Reader, Understanding

TYPE_LABELS = {"tactic": "Tactic", "technique": "Technique", "subtechnique": "Sub-technique",
               "mitigation": "Mitigation", "case-study": "Case study"}
LIST_LIMIT = 12
OPEN_RESULTS = 5


@dataclass
class Answer:
    """An answer in markdown, the ATLAS IDs it cites and the hits it used."""

    text: str
    citations: list[str]
    sources: list[Hit] = field(default_factory=list)
    abstained: bool = False
    intent: str = ""
    subject: str | None = None
    backend: str = "grounded"
    notice: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def link(record: Record) -> str:
    return f"[{record.id}]({record.url})"


def key_sentences(text: str, count: int = 3, limit: int = 600) -> str:
    """The first sentences of a description, plain text, at most ``limit`` characters."""
    clean = re.sub(r"\s+", " ", plain_text(text)).strip()
    parts = re.split(r"(?<=[.!?])\s+", clean)
    out = ""
    for part in parts[:count]:
        if out and len(out) + len(part) > limit:
            break
        out = f"{out} {part}".strip()
    return out if len(out) <= limit else out[: limit - 1].rsplit(" ", 1)[0] + "…"


def render_card(record: Record, catalog: Catalog) -> str:
    """A concise markdown card of one object with its relations."""

    def names(ids: tuple[str, ...] | list[str], limit: int = LIST_LIMIT) -> str:
        shown = [f"{link(catalog.records[i])} {catalog.records[i].name}" for i in ids[:limit]
                 if i in catalog]
        more = f", and {len(ids) - limit} more" if len(ids) > limit else ""
        return "; ".join(shown) + more

    lines = [f"### {record.id}: {catalog.full_name(record)}", ""]
    facts = [f"**{TYPE_LABELS.get(record.type, record.type)}**"]
    if record.parent and record.parent in catalog:
        facts.append(f"sub-technique of {link(catalog.records[record.parent])} "
                     f"{catalog.records[record.parent].name}")
    if record.tactics and record.type != "case-study":
        facts.append("tactics: " + names(record.tactics))
    if record.maturity:
        facts.append(f"maturity: {record.maturity}")
    lines += [" · ".join(facts), "", key_sentences(record.description), ""]
    if record.type == "case-study":
        extra = record.extra
        details = [f"{label}: {extra[key]}" for label, key in
                   (("Target", "target"), ("Actor", "actor"), ("Date", "incident_date"),
                    ("Type", "case_study_type")) if extra.get(key)]
        if details:
            lines += ["- " + " · ".join(details), ""]
    relations = [
        ("Sub-techniques", record.subtechniques),
        ("Mitigations", record.mitigations),
        ("Case studies", record.case_studies),
        ("Techniques used, in step order" if record.type == "case-study" else
         "Techniques addressed" if record.type == "mitigation" else "Techniques", record.techniques),
    ]
    for label, ids in relations:
        if ids:
            lines.append(f"- **{label} ({len(ids)}):** {names(ids)}")
    if record.attack_reference and record.attack_reference.get("id"):
        ref = record.attack_reference
        lines.append(f"- **ATT&CK:** [{ref['id']}]({ref.get('url', '')})")
    lines += ["", f"Read more: {record.url}"]
    return "\n".join(lines)


class GroundedAnswerer:
    """Answers from the catalog and retriever alone (no LLM)."""

    def __init__(self, catalog: Catalog, retriever: Retriever, max_input_chars: int = 20000) -> None:
        self.catalog = catalog
        self.retriever = retriever
        self.reader = Reader(catalog, retriever)
        self.max_input_chars = max_input_chars

    def answer(self, question: str, history: Any = None) -> Answer:
        question = self.retriever.check_query(question, limit=self.max_input_chars)
        reading = self.reader.read(question, history)
        handler = {
            "injection": self._decline,
            "off-topic": self._off_topic,
            "version": self._version,
            "incident": self._incident,
            "relationship": self._relationship,
            "object": self._object,
        }.get(reading.intent, self._open)
        return handler(question, reading)

    # ------------------------------------------------------------------ answers

    def _finish(self, text: str, reading: Understanding, sources: list[Hit] | None = None,
                abstained: bool = False) -> Answer:
        citations = [] if abstained else [i for i in find_ids(text) if i in self.catalog]
        return Answer(text=text, citations=citations, sources=sources or [], abstained=abstained,
                      intent=reading.intent, subject=reading.subject)

    def _decline(self, question: str, reading: Understanding) -> Answer:
        text = ("I answer questions about MITRE ATLAS from its published release only. I don't "
                "follow instructions given in messages, and I don't reveal settings or other "
                "internal details. Ask about an ATLAS technique, tactic, mitigation or case study.")
        return self._finish(text, reading, abstained=True)

    def _off_topic(self, question: str, reading: Understanding) -> Answer:
        text = ("ATLAS does not cover this. MITRE ATLAS describes how adversaries attack AI "
                "systems: tactics, techniques, mitigations and case studies. Ask me about one of "
                "those, for example \"how do attackers steal a model through its API?\".")
        return self._finish(text, reading, abstained=True)

    def _version(self, question: str, reading: Understanding) -> Answer:
        counts: dict[str, int] = {}
        for record in self.catalog:
            counts[record.type] = counts.get(record.type, 0) + 1
        plural = {"case-study": "case studies"}
        summary = ", ".join(
            f"{n} {plural.get(t, TYPE_LABELS.get(t, t).lower() + 's')}"
            for t, n in sorted(counts.items())
        )
        text = f"I am answering from MITRE ATLAS release {self.catalog.version} ({summary})."
        return self._finish(text, reading)

    def _object(self, question: str, reading: Understanding) -> Answer:
        assert reading.subject
        try:
            record = self.catalog.get(reading.subject)
        except UnknownIdError as exc:
            hits = self.retriever.search(reading.subject.replace(".", " "), k=3)
            text = f"{exc.message}. "
            if hits:
                text += "Closest known objects: " + "; ".join(
                    f"{link(self.catalog.records[h.id])} {h.name}" for h in hits
                )
            return self._finish(text, reading, hits, abstained=not hits)
        hit = _hit_of(record, self.catalog)
        return self._finish(render_card(record, self.catalog), reading, [hit])

    def _relationship(self, question: str, reading: Understanding) -> Answer:
        kind = reading.relation
        assert kind
        if kind == "attack_to_atlas":
            assert reading.attack_id
            ids = related(self.catalog, kind, reading.attack_id)
            lines = [f"ATLAS objects that reference ATT&CK **{reading.attack_id}** "
                     f"(ATLAS {self.catalog.version}):", ""]
            lines += [f"- {link(self.catalog.records[i])} **{self.catalog.full_name(self.catalog.records[i])}**"
                      f" ({TYPE_LABELS[self.catalog.records[i].type].lower()})" for i in ids]
            sources = [_hit_of(self.catalog.records[i], self.catalog) for i in ids]
            return self._finish("\n".join(lines), reading, sources)
        assert reading.subject
        subject = self.catalog.records[reading.subject]
        ids = related(self.catalog, kind, subject.id)
        label = RELATIONS[kind][1]
        head = f"{link(subject)} **{self.catalog.full_name(subject)}**"
        lines = []
        if reading.subject_from == "search":
            lines += [f"_Reading your question as about {subject.id} "
                      f"{self.catalog.full_name(subject)}; ask with an ID for another object._", ""]
        if kind == "atlas_to_attack":
            ref = subject.attack_reference or {}
            if ref.get("id"):
                lines.append(f"{head} references ATT&CK [{ref['id']}]({ref.get('url', '')}).")
            else:
                lines.append(f"{head} has no ATT&CK reference in ATLAS {self.catalog.version}.")
            return self._finish("\n".join(lines), reading, [_hit_of(subject, self.catalog)])
        if not ids:
            lines.append(f"ATLAS {self.catalog.version} lists no {label} for {head}.")
            if kind == "mitigations_of" and subject.parent:
                parent = self.catalog.records[subject.parent]
                if parent.mitigations:
                    lines.append(f"Its parent {link(parent)} {parent.name} has "
                                 f"{len(parent.mitigations)}: ask about {parent.id}.")
            return self._finish("\n".join(lines), reading, [_hit_of(subject, self.catalog)])
        lines += [f"**{label.capitalize()} of {subject.id} {self.catalog.full_name(subject)}** "
                  f"({len(ids)}, ATLAS {self.catalog.version}):", ""]
        for n, other_id in enumerate(ids, start=1):
            other = self.catalog.records[other_id]
            detail = self._relation_detail(kind, subject, other)
            bullet = f"{n}." if kind == "techniques_of_case_study" else "-"
            lines.append(f"{bullet} {link(other)} **{self.catalog.full_name(other)}**"
                         + (f": {detail}" if detail else ""))
        lines += ["", f"Source: the relations published in ATLAS {self.catalog.version}; "
                      f"{subject.url}"]
        sources = [_hit_of(subject, self.catalog)] + [
            _hit_of(self.catalog.records[i], self.catalog) for i in ids
        ]
        return self._finish("\n".join(lines), reading, sources)

    def _relation_detail(self, kind: str, subject: Record, other: Record) -> str:
        if kind == "mitigations_of":
            return key_sentences(subject.uses.get(other.id, ""), 1, 220)
        if kind == "techniques_of_mitigation":
            return key_sentences(subject.uses.get(other.id, ""), 1, 220)
        if kind == "case_studies_of":
            examples = [e for e in subject.examples if e.case_study == other.id]
            return key_sentences(examples[0].description, 1, 220) if examples else ""
        if kind == "techniques_of_case_study":
            steps = [s for s in subject.procedure if s.technique == other.id]
            return key_sentences(steps[0].description, 1, 220) if steps else ""
        return ""

    def _open(self, question: str, reading: Understanding) -> Answer:
        wants_mitigations = bool(re.search(r"\b(mitigat|defen[cs]|protect|prevent)", question.lower()))
        types = ("mitigation",) if wants_mitigations else ("technique", "subtechnique")
        hits = self.retriever.search(question, k=OPEN_RESULTS, types=types)
        if not hits:
            return self._off_topic(question, Understanding("off-topic"))
        top = hits[0].score or 1.0
        kept = [h for h in hits if h.score >= 0.6 * top][:OPEN_RESULTS]
        noun = "mitigations" if wants_mitigations else "techniques"
        lines = [f"The ATLAS {noun} that best match your question:", ""]
        lines += self._ranked(kept, "Why")
        lines += ["", "Ask \"which mitigations address <ID>?\" or \"case studies of <ID>\" to go "
                      "further; each ID links to its ATLAS page."]
        return self._finish("\n".join(lines), reading, kept)

    def _incident(self, question: str, reading: Understanding) -> Answer:
        hits = map_text(self.retriever, question, k=8, max_chars=self.max_input_chars)
        if not hits:
            return self._finish("I found no ATLAS technique clearly shown in this text.", reading,
                                abstained=True)
        lines = ["Techniques this text shows, strongest evidence first:", ""]
        lines += self._ranked(hits, "Evidence")
        return self._finish("\n".join(lines), reading, hits)

    def _ranked(self, hits: list[Hit], because: str) -> list[str]:
        """A numbered list of hits with their tactics and the sentence that supports each."""
        lines = []
        for n, hit in enumerate(hits, start=1):
            record = self.catalog.records[hit.id]
            tactics = ", ".join(
                self.catalog.records[t].name for t in record.tactics if t in self.catalog
            )
            lines.append(f"{n}. {link(record)} **{hit.name}**" + (f" ({tactics})" if tactics else ""))
            lines.append(f"   - {because}: \"{hit.snippet}\"")
        return lines


def _hit_of(record: Record, catalog: Catalog) -> Hit:
    return Hit(id=record.id, name=catalog.full_name(record), type=record.type, score=1.0,
               url=record.url, snippet=key_sentences(record.description, 1, 300),
               section="Description", matched_by=("relation",), tactics=record.tactics)


def final_answer(events: Iterable[str | Answer]) -> Answer:
    """The Answer that ends a stream of text pieces."""
    answer: Answer | None = None
    for event in events:
        if isinstance(event, Answer):
            answer = event
    if answer is None:
        raise RuntimeError("the answer stream ended without an Answer")
    return answer


def stream_text(answer: Answer, piece: int = 3) -> Iterator[str]:
    """The answer text in pieces of a few lines, for progressive display."""
    lines = answer.text.split("\n")
    for start in range(0, len(lines), piece):
        yield "\n".join(lines[start : start + piece]) + ("\n" if start + piece < len(lines) else "")


__all__ = ["Answer", "GroundedAnswerer", "QueryError", "render_card", "stream_text"]

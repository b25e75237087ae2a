"""Map a report: a write-up's techniques on the matrix, their evidence, the mitigations that
cover them and the Navigator layer, computed once for any shell (the chat's second tab).

No Gradio here: the chat only lays the parts out and offers the layer as a file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from .api import AtlasRAG
from .conversation.knowledge import rank_mitigations
from .errors import AtlasRagError
from .ids import find_ids
from .matrix_view import render_matrix
from .navigator import MAX_MAPPED, MAX_SCORE, ids_layer, mapping_layer

logger = logging.getLogger(__name__)

EMPTY_REPORT = ("Paste an incident write-up (or upload a .txt or .md file), then press "
                "**Map the report**.")
NOTHING_MAPPED = "No ATLAS technique is clearly shown in this text; the matrix is shown plain."
FAILED = "⚠️ Something went wrong while mapping the report. The error was logged on the server."
MITIGATIONS_SHOWN = 10
EVIDENCE_HEADERS = ["Technique", "Score", "Evidence"]


@dataclass
class ReportView:
    """What the tab shows: a message, the matrix, evidence rows, mitigations, the layer."""

    message: str
    matrix_html: str = ""
    evidence: list[list[Any]] = field(default_factory=list)
    mitigations: str = ""
    layer: dict[str, Any] | None = None


def map_report(rag: AtlasRAG, text: str | None, max_chars: int) -> ReportView:
    """The view of a write-up; bad input or a failure is a message, never an exception."""
    text = text if isinstance(text, str) else ""
    if not text.strip():
        return ReportView(EMPTY_REPORT)
    if len(text) > max_chars:
        return ReportView(f"⚠️ The report is {len(text):,} characters long; the limit is "
                          f"{max_chars:,}. Please shorten it or map it in parts.")
    try:
        hits = rag.map_text(text, k=MAX_MAPPED)
    except AtlasRagError as exc:
        return ReportView("⚠️ " + " ".join(_sentence(t) for t in (exc.message, exc.hint) if t))
    except Exception:
        logger.exception("mapping a report of %d characters failed", len(text))
        return ReportView(FAILED)
    catalog = rag.catalog
    scores = {h.id: round(h.score * MAX_SCORE, 1) for h in hits}
    matrix = render_matrix(catalog, scores)
    if not hits:
        return ReportView(NOTHING_MAPPED, matrix)
    evidence = [[f"{h.id} {catalog.full_name(catalog.records[h.id])}", scores[h.id], h.snippet]
                for h in hits]
    message = (f"**{len(hits)} technique(s)** shown by the report, shaded by confidence "
               "(0-100). Download the layer to open it in the ATLAS Navigator.")
    return ReportView(message, matrix, evidence, mitigations_markdown(rag, hits),
                      mapping_layer(catalog, hits, name="atlas-rag report"))


def mitigations_markdown(rag: AtlasRAG, hits: list[Any]) -> str:
    """Mitigations ranked by how much of the mapped techniques they cover."""
    catalog = rag.catalog
    ranked = rank_mitigations(catalog, {h.id: h.score for h in hits})[:MITIGATIONS_SHOWN]
    if not ranked:
        return "ATLAS lists no mitigation for the mapped techniques."
    lines = ["**Mitigations that cover the mapped techniques**, by coverage:", ""]
    for n, coverage in enumerate(ranked, start=1):
        record = catalog.records[coverage.id]
        covers = ", ".join(coverage.covers) or "their parent or sub-techniques"
        lines.append(f"{n}. [{record.id} {record.name}]({record.url}) covers {covers}")
    return "\n".join(lines)


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ")", "`")) else text + "."


NO_TECHNIQUES = ("The last answer lists no ATLAS techniques, so there is no layer to download: "
                 "ask about an incident, a system to threat-model or a case study first.")


def answer_layer(rag: AtlasRAG, history: list[Any] | None) -> tuple[dict[str, Any] | None, str]:
    """The Navigator layer of the techniques the chat's last answer cites, in the order it cites
    them, or None and a message saying why there is none."""
    text = _last_answer_text(history or [])
    techniques = [i for i in dict.fromkeys(find_ids(text))
                  if i in rag.catalog and rag.catalog.records[i].type in ("technique", "subtechnique")]
    if not techniques:
        return None, NO_TECHNIQUES
    layer = ids_layer(rag.catalog, techniques, name="atlas-rag chat answer")
    return layer, f"A layer of the {len(techniques)} technique(s) the last answer cites."


def _last_answer_text(history: list[Any]) -> str:
    for message in reversed(history):
        role = message.get("role") if isinstance(message, dict) else getattr(message, "role", "")
        if role != "assistant":
            continue
        content = (message.get("content") if isinstance(message, dict)
                   else getattr(message, "content", ""))
        return _plain(content)
    return ""


def _plain(content: Any) -> str:
    """Message content as text, whether a string or a list of parts (Gradio's two forms)."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("value") or "")
    if isinstance(content, list | tuple):
        return "\n".join(_plain(part) for part in content)
    return ""

"""Incident mapping: which ATLAS techniques a write-up shows, and the sentence that shows it."""

from __future__ import annotations

import re
from dataclasses import replace

from .retrieval import Hit, Retriever

TECHNIQUE_TYPES = ("technique", "subtechnique")
WINDOW = 2  # sentences per window
MIN_SCORE = 0.55  # fused, relative to the best technique of the window


def sentences(text: str) -> list[str]:
    """Sentences of a free-text report (paragraph breaks and bullets also end one)."""
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", text)
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])|\n\s*\n|\n\s*[-*•]\s+|\n(?=[A-Z])", text)
    return [re.sub(r"\s+", " ", p).strip() for p in parts if len(p.strip()) >= 25]


def map_text(retriever: Retriever, text: str, k: int = 10, max_chars: int = 20000) -> list[Hit]:
    """Techniques shown in ``text``, best supported first, each with its evidence sentence."""
    text = retriever.check_query(text, limit=max_chars)
    found = sentences(text) or [text]
    windows = [" ".join(found[i : i + WINDOW]) for i in range(0, max(1, len(found) - WINDOW + 1))]
    if len(found) < WINDOW:
        windows = [" ".join(found)]
    best: dict[str, tuple[float, str, Hit]] = {}
    support: dict[str, int] = {}
    for window in windows:
        hits = retriever.search(window, k=3, types=TECHNIQUE_TYPES)
        if not hits:
            continue
        top = hits[0].score or 1.0
        for rank, hit in enumerate(hits):
            relative = hit.score / top * (1.0 - 0.15 * rank)
            if relative < MIN_SCORE:
                continue
            support[hit.id] = support.get(hit.id, 0) + 1
            evidence = _evidence(window, hit)
            if hit.id not in best or relative > best[hit.id][0]:
                best[hit.id] = (relative, evidence, hit)
    ranked = sorted(
        best.items(), key=lambda item: -(item[1][0] + 0.15 * min(support[item[0]] - 1, 4))
    )
    out = []
    for atlas_id, (relative, evidence, hit) in ranked[:k]:
        score = relative + 0.15 * min(support[atlas_id] - 1, 4)
        out.append(replace(hit, score=round(score, 4), snippet=evidence, section="incident text",
                           matched_by=(f"{support[atlas_id]} passage(s)",)))
    return out


def _evidence(window: str, hit: Hit) -> str:
    """The sentence of the window that best supports the hit."""
    from .lexical import tokenize

    candidates = sentences(window) or [window]
    terms = set(tokenize(hit.snippet + " " + hit.name))
    best = max(candidates, key=lambda s: len(terms & set(tokenize(s))))
    return best if len(best) <= 400 else best[:399].rsplit(" ", 1)[0] + "…"

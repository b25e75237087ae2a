"""Incident mapping: every ATLAS technique a write-up gives evidence for, with its sentences.

The text is read in short windows (each sentence alone, and each pair of neighbouring
sentences); each window is searched for techniques. A technique's evidence is its best
window, how many windows support it, how well it matches the write-up as a whole, and how
often ATLAS's case studies use it together with the text's clearest techniques. The
score is a calibrated confidence (0-1): techniques above ``MIN_CONFIDENCE`` are returned, as
many as the text supports, in the order of the ATLAS matrix. A parent and its sub-technique
are both kept only when the text supports both with different sentences.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from dataclasses import dataclass, field, replace

from .catalog import Catalog
from .retrieval import Hit, Retriever

TECHNIQUE_TYPES = ("technique", "subtechnique")
WINDOW_RESULTS = 4  # techniques read from each window
RANK_DISCOUNT = 0.12  # a window's second technique counts 12% less than its first, ...
DOCUMENT_RESULTS = 15
# The confidence is a logistic regression of the evidence, fitted on the dev half of the
# mapping eval (the candidate techniques of held-out case studies and write-ups), and the
# threshold is the one with the best F1 on that half. Refit after a model change with
# `atlas-rag eval --suite mapping --out DIR` then `python scripts/fit_mapping.py DIR/eval.json`.
WEIGHTS = {"window": 1.62, "support": 0.92, "document": 1.24, "together": 2.48}
BIAS = -3.75
MIN_CONFIDENCE = 0.240
MAX_RESULTS = 25
# "together": the techniques with the most textual evidence are the anchors; a technique's
# value is the largest share of an anchor's case studies that also use it (add-one smoothed).
ANCHORS = 3


# English abbreviations that end in a full stop inside a sentence ("e.g. the", "vs. a"): a
# word with a stop inside it, a word of one or two letters, or one of these (a closed class).
ABBREVIATIONS = frozenset({"etc", "approx", "incl", "esp", "misc", "resp", "cf", "viz"})
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Za-z0-9\"'(\[])")


def sentences(text: str) -> list[str]:
    """Sentences of a free-text report (paragraph breaks and bullets also end one). Chat is
    often typed in lower case, so a sentence may start with a small letter."""
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", text)
    parts = re.split(r"\n\s*\n|\n\s*[-*•]\s+|\n(?=[A-Z])", text)
    out = [piece for part in parts for piece in _split_sentences(part)]
    return [re.sub(r"\s+", " ", p).strip() for p in out if len(p.strip()) >= 25]


def _split_sentences(text: str) -> list[str]:
    """``text`` cut after each full stop, question or exclamation mark that ends a sentence."""
    out, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        last = (text[start:match.start()].split() or [""])[-1]
        if last.endswith(".") and _abbreviation(last[:-1].lstrip("(\"'")):
            continue
        out.append(text[start:match.start()])
        start = match.end()
    out.append(text[start:])
    return out


def _abbreviation(word: str) -> bool:
    return "." in word or len(word) <= 2 or word.lower() in ABBREVIATIONS


@dataclass
class Evidence:
    """What the text says for one technique."""

    best: float = 0.0  # best relative score in a window
    sentence: str = ""
    windows: int = 0  # windows where it is among the first results
    document: float = 0.0  # relative score for the whole text
    hit: Hit | None = None
    sentences: set[str] = field(default_factory=set)

    together: float = 0.0  # how often case studies use it with the text's anchors

    def textual(self) -> dict[str, float]:
        return {"window": self.best, "support": min(self.windows - 1, 4) / 4 if self.windows else 0.0,
                "document": self.document}

    def features(self) -> dict[str, float]:
        return {**self.textual(), "together": self.together}

    def confidence(self) -> float:
        z = BIAS + sum(WEIGHTS[k] * v for k, v in self.features().items())
        return 1.0 / (1.0 + math.exp(-z))

    def textual_score(self) -> float:
        return sum(WEIGHTS[k] * v for k, v in self.textual().items())


class CoUse:
    """How often ATLAS's case studies use two techniques together."""

    def __init__(self, catalog: Catalog) -> None:
        self.uses: Counter[str] = Counter()
        self.pairs: Counter[tuple[str, str]] = Counter()
        for study in catalog.of_type("case-study"):
            used = set(study.techniques)
            self.uses.update(used)
            self.pairs.update((a, b) for a in used for b in used if a != b)

    def share(self, atlas_id: str, anchor: str) -> float:
        """The share of the anchor's case studies that also use ``atlas_id``."""
        return self.pairs[(atlas_id, anchor)] / (self.uses[anchor] + 1)


def evidence(retriever: Retriever, text: str) -> dict[str, Evidence]:
    """Every technique any window or the whole text points at, with its evidence."""
    found = sentences(text) or [text.strip()]
    windows = found + [f"{a} {b}" for a, b in itertools.pairwise(found)]
    out: dict[str, Evidence] = {}
    retriever.prefetch([w[: retriever.max_query_chars] for w in windows]
                       + [text[: retriever.max_query_chars]])
    for window in windows:
        hits = retriever.search(window[: retriever.max_query_chars], k=WINDOW_RESULTS,
                                types=TECHNIQUE_TYPES)
        if not hits:
            continue
        top = hits[0].score or 1.0
        for rank, hit in enumerate(hits):
            relative = hit.score / top * (1.0 - RANK_DISCOUNT * rank)
            entry = out.setdefault(hit.id, Evidence())
            entry.windows += 1
            best_sentence = _best_sentence(window, hit)
            entry.sentences.add(best_sentence)
            if relative > entry.best:
                entry.best, entry.sentence, entry.hit = relative, best_sentence, hit
    whole = retriever.search(text[: retriever.max_query_chars], k=DOCUMENT_RESULTS,
                             types=TECHNIQUE_TYPES)
    if whole:
        top = whole[0].score or 1.0
        for hit in whole:
            entry = out.setdefault(hit.id, Evidence(hit=hit))
            entry.document = hit.score / top
    _add_co_use(CoUse(retriever.catalog), out)
    return out


def _add_co_use(co_use: CoUse, found: dict[str, Evidence]) -> None:
    """Each technique's "together" value against the ANCHORS with the most textual evidence."""
    anchors = sorted(found, key=lambda i: -found[i].textual_score())[:ANCHORS]
    for atlas_id, entry in found.items():
        entry.together = max((co_use.share(atlas_id, a) for a in anchors if a != atlas_id),
                             default=0.0)


def map_text(
    retriever: Retriever,
    text: str,
    k: int | None = None,
    max_chars: int = 20000,
    min_confidence: float = MIN_CONFIDENCE,
) -> list[Hit]:
    """Techniques shown in ``text``, each with its evidence sentence and a confidence, in the
    order of the ATLAS matrix; at most ``k`` (the most confident) when given."""
    text = retriever.check_query(text, limit=max_chars)
    found = evidence(retriever, text)
    scored = {i: e.confidence() for i, e in found.items() if e.hit is not None}
    kept = [i for i, c in sorted(scored.items(), key=lambda x: -x[1]) if c >= min_confidence]
    kept = _without_echoes(retriever, kept, found)[: k or MAX_RESULTS]
    catalog = retriever.catalog
    kept.sort(key=catalog.matrix_key)
    out = []
    for atlas_id in kept:
        entry = found[atlas_id]
        assert entry.hit is not None
        sentence = entry.sentence or (sentences(text) or [text])[0]
        out.append(replace(entry.hit, score=round(scored[atlas_id], 4), snippet=_cut(sentence),
                           section="incident text",
                           matched_by=(f"{entry.windows} passage(s)",)))
    return out


def _without_echoes(retriever: Retriever, kept: list[str], found: dict[str, Evidence]) -> list[str]:
    """A parent whose only evidence is the sentence of its kept sub-technique is dropped, and
    the other way round: the text supports one of them, not both."""
    catalog = retriever.catalog
    chosen = set(kept)
    out = []
    for atlas_id in kept:
        record = catalog.records[atlas_id]
        relatives = [r for r in ([record.parent] if record.parent else []) + list(record.subtechniques)
                     if r in chosen and r != atlas_id]
        echo = any(found[r].sentences >= found[atlas_id].sentences for r in relatives
                   if kept.index(r) < kept.index(atlas_id))
        if not echo:
            out.append(atlas_id)
    return out


def _best_sentence(window: str, hit: Hit) -> str:
    """The sentence of the window that best supports the hit."""
    from .lexical import tokenize

    candidates = sentences(window) or [window]
    terms = set(tokenize(hit.snippet + " " + hit.name))
    return max(candidates, key=lambda s: len(terms & set(tokenize(s))))


def _cut(sentence: str) -> str:
    return sentence if len(sentence) <= 400 else sentence[:399].rsplit(" ", 1)[0] + "…"

"""Plain text from ATLAS's markdown: clean lines, sentences, openings, the best sentence."""

from __future__ import annotations

import re

from .corpus import plain_text
from .lexical import tokenize

# A numbered footnote written as a reference link ("[\\[1\\]][1]" in the YAML): a pointer
# to a list of sources the plain text does not carry.
FOOTNOTE_RE = re.compile(r"\s*\[\\\[\d+\\\]\]\[\d+\]")


def clean(text: str) -> str:
    """Plain text on one line: no markdown links or footnote marks, no HTML tags, single
    spaces."""
    text = re.sub(r"<[^>\n]{1,200}>", " ", plain_text(FOOTNOTE_RE.sub("", text)))
    return re.sub(r"\s+", " ", text).strip()


def sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])", clean(text)) if s.strip()]


def shorten(text: str, limit: int) -> str:
    text = clean(text)
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def opening(text: str, count: int = 2, limit: int = 500) -> str:
    """The first sentences of an ATLAS text, plain, at most ``limit`` characters."""
    out = ""
    for sentence in sentences(text)[:count]:
        if out and len(out) + len(sentence) + 1 > limit:
            break
        out = f"{out} {sentence}".strip()
    return shorten(out, limit)


def best_sentence(text: str, query: str, limit: int = 240) -> str:
    """The sentence of an object's own text that shares most terms with the question."""
    found = sentences(text)
    if not found:
        return ""
    terms = set(tokenize(query))
    best = max(found, key=lambda s: (len(terms & set(tokenize(s))), -found.index(s)))
    return shorten(best, limit)

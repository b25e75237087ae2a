"""Which ATLAS objects a message names, and how sure we are of each.

Candidates come from four places, most certain first: IDs in any form users type; exact
names; names with their everyday variations (typos, the "LLM"/"AI" prefixes ATLAS puts on
names and users drop); and hybrid search. Each link carries a confidence, so an answer can
state a certain subject as fact and offer an uncertain one as a candidate.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from ..catalog import Catalog, normalize_name
from ..ids import find_id_mentions, id_letters_and_number
from ..lexical import STOPWORDS, same_word, stem, tokenize
from ..retrieval import Retriever
from .knowledge import TECHNIQUE_TYPES, family, kind_family
from .vocabulary import ASKING_TERMS, ASKING_WORDS, without_conversing, without_defining

# Confidence of each way of naming an object.
ID_CONFIDENCE = 1.0
ATTACK_CONFIDENCE = 0.95
NAME_CONFIDENCE = 0.95
ONE_WORD_NAME_CONFIDENCE = 0.8  # "Impact", "Discovery": also everyday words
NAME_TERMS_CONFIDENCE = 0.88
CORRECTED_CONFIDENCE = 0.85
# "cylance", "tay": a word found in one object's name only. Weak alone (it may be an everyday
# word, "sign"), enough to pick an item of the last list or to rule out small talk.
NAME_WORD_CONFIDENCE = 0.6
# A name found by its terms counts as named when they stand this close: at most this many other
# words among them ("poison the training data", "injection of a prompt"). Over the 12,418
# messages of the eval sets and the examples, 2,333 such links have at most two words between
# their terms; of those with three or more, most join words a long message says apart.
NAME_SPREAD = 2
PROPER_NAME_CONFIDENCE = 0.8
PROPER_NAME_LENGTH = 6
# Search on the message confirms a lower-case English name word when it ranks the object among
# this many objects of any kind.
NAME_WORD_SEARCH = 10
GENERIC_NAME_CONFIDENCE = 0.5  # a one-word name that other names share ("AI Agent")
# A name of one distinctive word is generic when that many other objects' names contain it.
GENERIC_NAMES = 3
# A sub-technique's own number alone (".002"), the short form of ATLAS's ID notation.
_SIBLING_ID = re.compile(r"(?<![\w.])\.(\d{3})\b")
# ATLAS's four-digit number alone ("0053", "0010.3").
_NUMBER_ALONE = re.compile(r"(?<![\w.#$-])(0\d{3})(?:\.(\d{1,3}))?(?![\w-]|\.\d)")
# A word names one object when it is in that object's name and on at most this many pages.
NAME_WORD_PAGES = 3
# ATLAS prefixes many names with the kind of system ("LLM Jailbreak", "Evade AI Model"); users
# mostly drop or vary the prefix ("jailbreak", "evade ML model"), so it does not have to match.
SYSTEM_PREFIXES = frozenset({"llm", "ai", "ml"})
# Typo correction: a word of the message missing from ATLAS's vocabulary is read as the most
# similar word of ATLAS's object names when they are this similar (difflib ratio).
CORRECTION_CUTOFF = 0.8
# "Close" search results for a one-word search: at least half the first result's confidence.
CLOSE_SHARE = 0.5
MIN_CORRECTED_LENGTH = 5
# The fewest letters a word cut short keeps and still begins a name's word ("esc", "dev").
CLIPPED_LENGTH = 3


@dataclass(frozen=True)
class Link:
    """An ATLAS object a message refers to."""

    id: str
    confidence: float
    how: str  # id | attack | name | name-terms | corrected | search | history | ordinal
    span: tuple[int, int] | None = None  # characters of the message that named it


# How a message names an object: by an ATLAS or ATT&CK ID, by its name (exactly, by its
# terms, or with a typo), and either way (by itself, not by search, history or an ordinal).
BY_ID = ("id", "attack")
BY_NAME = ("name", "name-terms", "corrected")
NAMED_HOW = (*BY_ID, *BY_NAME)


def close_first(links: list[Link], later: Callable[[Link], bool], share: float = CLOSE_SHARE) -> list[Link]:
    """``links`` with those among the close ones (at least ``share`` of the first one's
    confidence) for which ``later`` is false moved before those for which it is true."""
    if not links:
        return links
    top = links[0].confidence or 1.0
    close = [link for link in links if link.confidence >= share * top]
    close.sort(key=later)
    return close + links[len(close):]


@dataclass(frozen=True)
class AttackReading:
    """A bare ID that is also, or only, an ATT&CK ID, and the ATLAS objects referencing it."""

    attack_id: str
    atlas_ids: tuple[str, ...]
    also_atlas: str | None  # the ATLAS object with the same bare ID, if any


@dataclass
class Links:
    """Everything a message names."""

    links: list[Link] = field(default_factory=list)
    unknown_ids: list[str] = field(default_factory=list)
    attack: list[AttackReading] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        return [link.id for link in self.links]

    def best(self, types: Iterable[str] | None, catalog: Catalog) -> Link | None:
        wanted = set(types) if types else None
        for link in self.links:
            if wanted is None or catalog.records[link.id].type in wanted:
                return link
        return None


# A message pointing at an item by the words shown with it adds at most this many words of
# its own beyond as many as it shares (the head noun of "the greenhouse trick").
POINTING_OWN_WORDS = 1


class Linker:
    """Links messages to the objects of one catalog."""

    def __init__(self, catalog: Catalog, retriever: Retriever,
                 english: frozenset[str] = frozenset()) -> None:
        """``english``: words that are words, never typos (``embeddings.whole_words``)."""
        self.catalog = catalog
        self.retriever = retriever
        # Every name variant as its stemmed terms, with and without the system prefix.
        self._name_terms: list[tuple[str, frozenset[str], int]] = []
        name_words: set[str] = set()
        # Names of two words or more by the start of their first word, for names typed with
        # their words cut short ("priv esc").
        self._clipped_index: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for record in catalog:
            for name in catalog.names_of(record):
                words = normalize_name(name).split()
                name_words.update(w for w in words if len(w) >= MIN_CORRECTED_LENGTH)
                # Chat also drops the "AI"/"LLM" that marks ATLAS's AI-specific names ("exfil
                # via inference api"): the name without them is indexed too.
                bare = [w for w in words if w not in SYSTEM_PREFIXES]
                for spelled in {tuple(words), tuple(bare)}:
                    if len(spelled) >= 2 and len(spelled[0]) >= CLIPPED_LENGTH:
                        self._clipped_index.setdefault(spelled[0][:CLIPPED_LENGTH], []).append(
                            (record.id, spelled))
                terms = frozenset(tokenize(name)) - SYSTEM_PREFIXES
                if terms:
                    self._name_terms.append((record.id, terms, len(words)))
        self._correction_words = tuple(sorted(name_words | set(ASKING_WORDS)))
        vocabulary: set[str] = set(name_words) | set(ASKING_WORDS)
        pages_with: dict[str, int] = {}
        for record in catalog:
            vocabulary.update(re.findall(r"[a-z]+", f"{record.name} {record.description}".lower()))
            for term in set(tokenize(f"{record.name} {record.description}")):
                pages_with[term] = pages_with.get(term, 0) + 1
        # English words are words, not typos of ATLAS's ("difference", "extracting").
        self._vocabulary = frozenset(vocabulary) | english
        self._english = english
        # A word is also a word in any inflection ("probabilities" of the whole word
        # "probability"): the tokenizer's vocabulary holds a word in one form, and a typo of it
        # does not share its stem. It is still written in the form ATLAS's names use ("whats").
        self._stems = frozenset(stem(w) for w in self._vocabulary)
        self._pages_with = pages_with
        # Search on a whole message, asked once per message whatever words of it need it.
        self._searched = functools.lru_cache(maxsize=64)(self._search_ids)
        # Words that, on their own, name one object: in one object's names and rare elsewhere.
        owners: dict[str, set[str]] = {}
        for atlas_id, terms, _ in self._name_terms:
            for term in terms:
                owners.setdefault(term, set()).add(atlas_id)
        self._name_word = {
            term: next(iter(ids)) for term, ids in owners.items()
            if len(ids) == 1 and len(term) >= 3 and term not in ASKING_TERMS
            and term not in STOPWORDS and pages_with.get(term, 0) <= NAME_WORD_PAGES
        }

    # ------------------------------------------------------------------ public

    def link(self, text: str, context: Sequence[str] = ()) -> Links:
        """IDs, names and name variants in ``text`` (no search), most certain first. ``context``
        (the objects discussed first, then the others the conversation showed) lets a short
        form of an ID be read (see ``ids``)."""
        found = self.ids(text, context)
        seen = {link.id for link in found.links}
        taken = [link.span for link in found.links if link.span]
        id_spans = list(taken)
        # Where readings of the same words overlap, the surest wins (the first found among
        # equals); the winners keep the order they were found in.
        names = self.names(text)
        kept: set[int] = set()
        for n, link in sorted(enumerate(names), key=lambda p: -p[1].confidence):
            if link.id in seen or _overlaps(link.span, taken) or _labels_an_id(text, link.span,
                                                                                id_spans):
                continue
            kept.add(n)
            seen.add(link.id)
            if link.span:
                taken.append(link.span)
        found.links += [link for n, link in enumerate(names) if n in kept]
        found.links.sort(key=lambda link: -link.confidence)
        return found

    def ids(self, text: str, context: Sequence[str] = ()) -> Links:
        """IDs in any form; a bare ATT&CK-style ID is read in ATLAS context first. In a
        conversation, a number alone is the ID it numbers there ("is 0053 under execution"
        after AML.T0053 was shown) and ".002" is the discussed technique family's sub-technique."""
        found = Links(self._sibling_ids(text, context[:1]) + self._numbers_alone(text, context))
        for mention in find_id_mentions(text, shortened=True):
            span = (mention.start, mention.end)
            known = mention.atlas_id in self.catalog
            if mention.shortened and not known:
                continue  # "M365": a product's name, not an ATLAS ID cut short
            referencing = [] if mention.prefixed else self.catalog.by_attack(mention.bare)
            if known:
                found.links.append(Link(mention.atlas_id, ID_CONFIDENCE, "id", span))
            else:
                found.links += [Link(i, ATTACK_CONFIDENCE, "attack", span) for i in referencing]
            if referencing and referencing != [mention.atlas_id]:
                found.attack.append(AttackReading(
                    mention.bare, tuple(referencing), mention.atlas_id if known else None
                ))
            elif not known and not referencing and (mention.prefixed or not _attack_style(mention.bare)):
                found.unknown_ids.append(mention.atlas_id)
        return found

    def _numbers_alone(self, text: str, context: Sequence[str]) -> list[Link]:
        """ATLAS numbers each kind of object with four digits from 0000, so a zero-led
        four-digit number alone is an ID without its letters: of the first object in
        ``context`` with that number, else of the discussed object's kind."""
        shown = [id_letters_and_number(i) for i in context if i in self.catalog]
        discussed = shown[:1] if context and context[0] in self.catalog else []
        found = []
        for match in _NUMBER_ALONE.finditer(text):
            number, sub = match.group(1), match.group(2)
            kinds = [letters for letters, n in shown if n == number] + [
                letters for letters, _ in discussed]
            for letters in kinds:
                atlas_id = f"AML.{letters}{number}" + (
                    f".{int(sub):03d}" if sub and letters == "T" else "")
                if atlas_id in self.catalog:
                    found.append(Link(atlas_id, ID_CONFIDENCE, "id", (match.start(), match.end())))
                    break
        return found

    def _sibling_ids(self, text: str, discussed: Sequence[str]) -> list[Link]:
        """".002" after a technique or one of its sub-techniques is that family's sub-technique
        002 ("hows it different frm .002" after AML.T0043.001): ATLAS's ID notation, short."""
        record = self.catalog.records.get(discussed[0] if discussed else "")
        if record is None or record.type not in ("technique", "subtechnique"):
            return []
        parent = record.parent or record.id
        return [Link(f"{parent}.{m.group(1)}", ID_CONFIDENCE, "id", (m.start(), m.end()))
                for m in _SIBLING_ID.finditer(text) if f"{parent}.{m.group(1)}" in self.catalog]

    def names(self, text: str) -> list[Link]:
        """Objects named in ``text``: exactly, by their distinctive terms, or with typos."""
        by_terms = self._names_by_terms(text)
        corrected = self.correct(text)
        # The longest match wins: a name whose terms cover a wider stretch around an exact name
        # replaces it ("extracting a system prompt": Extract LLM System Prompt, not the
        # sub-technique named "System Prompt").
        wider = [t.span for t in by_terms if t.confidence > GENERIC_NAME_CONFIDENCE and t.span]
        exact = [link for link in self._exact_names(text)
                 if not any(_wider(span, link.span) for span in wider)]
        taken = [link.span for link in exact if link.span]
        found = list(exact)
        ids = {link.id for link in exact}
        in_text = _span_mapper(text, corrected)
        for link in (by_terms + [in_text(link) for link in self._corrected_names(text, corrected)]
                     + self._clipped_names(text)
                     + [in_text(link) for link in self._name_words(corrected)]):
            if link.id not in ids and not _overlaps(link.span, taken):
                found.append(link)
                ids.add(link.id)
        return [self._weigh(link) for link in found]

    def without_prefix(self, link: Link, text: str) -> bool:
        """The link's name has a system prefix ("LLM Jailbreak") that ``text`` lacks."""
        if link.how not in BY_NAME:
            return False
        prefixes = set(tokenize(self.catalog.full_name(self.catalog.records[link.id]))) & SYSTEM_PREFIXES
        return bool(prefixes) and not prefixes & set(tokenize(text))

    def _weigh(self, link: Link) -> Link:
        """A name of one word that many other names share says little on its own."""
        if link.how == "name-word":
            return link
        record = self.catalog.records[link.id]
        terms = frozenset(tokenize(self.catalog.full_name(record))) - SYSTEM_PREFIXES
        if len(terms) != 1:
            return link
        relatives = set(family(self.catalog, link.id))
        sharing = {i for i, name, _ in self._name_terms if terms <= name and i not in relatives}
        if len(sharing) >= GENERIC_NAMES:
            return Link(link.id, min(link.confidence, GENERIC_NAME_CONFIDENCE), link.how, link.span)
        return link

    def _name_words(self, corrected: str) -> list[Link]:
        """Single words that are in one object's name, in the message with typos corrected."""
        found = []

        def agreed(atlas_id: str) -> bool:
            return atlas_id in self._searched(corrected)

        for match in re.finditer(r"[A-Za-z0-9]+", corrected):
            terms = tokenize(match.group(0))
            atlas_id = self._name_word.get(terms[0]) if terms else None
            if atlas_id:
                strong = self._names_strongly(match.group(0), atlas_id, agreed)
                found.append(Link(atlas_id, PROPER_NAME_CONFIDENCE if strong
                                  else NAME_WORD_CONFIDENCE, "name-word",
                                  (match.start(), match.end())))
        return found

    def _names_strongly(self, word: str, atlas_id: str, agreed: Callable[[str], bool]) -> bool:
        """A capitalised or long rare word is a proper name ("Morris", "cylance"). A long
        English word in lower case may be the everyday word ("an insider edits the file"): it
        names the object only when search on the message agrees."""
        if word[:1].isupper():
            return True
        if len(word) < PROPER_NAME_LENGTH:
            return False
        return word.lower() not in self._english or agreed(atlas_id)

    def _search_ids(self, text: str) -> frozenset[str]:
        """The objects search on the whole message ranks among its first results."""
        return frozenset(h.id for h in self.search(text, None, NAME_WORD_SEARCH))

    def item_named(self, text: str, candidates: Iterable[str]) -> str | None:
        """The one candidate whose name shares the most words with ``text`` ("the bing one").
        Between names sharing as many, the one whose name every other such name holds: "the
        exfil one" among a technique and its sub-techniques ("Parent: Own") is the technique;
        else the one whose own name the text says in full ("mitigations for triggered" among
        "Triggered", "Insert Backdoor Trigger" and "Activation Triggers")."""
        terms = self.pointing_terms(text)
        if not terms:
            return None
        names: dict[str, set[str]] = {}
        for atlas_id in dict.fromkeys(candidates):
            if atlas_id in self.catalog:
                names[atlas_id] = set(tokenize(self.catalog.full_name(self.catalog.records[atlas_id])))
        most = max((len(terms & name) for name in names.values()), default=0)
        best = [i for i, name in names.items() if most and len(terms & name) == most]
        if len(best) == 1:
            return best[0]
        held = [i for i in best if all(names[i] <= names[other] for other in best)]
        if len(held) == 1:
            return held[0]
        whole = [i for i in best if set(tokenize(self.catalog.records[i].name)) <= terms]
        return whole[0] if len(whole) == 1 else None

    def pointing_terms(self, text: str) -> set[str]:
        """The terms of ``text`` that can pick an item: not asking words, stopwords or the
        "LLM"/"AI"/"ML" prefixes."""
        return set(tokenize(self.correct(text))) - ASKING_TERMS - STOPWORDS - SYSTEM_PREFIXES

    def item_described(self, text: str, shown: dict[str, str]) -> str | None:
        """The one item whose shown line (the evidence quoted from a write-up, the detail
        after its name) shares the most words with ``text``: a user points back at an item
        in the words they saw with it ("which tactic is the image trick under"): the line's
        words and a word or so of their own ("trick", "part"). A message saying more of its
        own asks something new ("we've got one agent with broad access, how do we limit the
        blast radius"), whatever words it shares."""
        terms = self.pointing_terms(text)
        scores = {i: len(terms & set(tokenize(line))) for i, line in shown.items()}
        ranked = sorted(scores.values(), reverse=True)
        if not ranked or not ranked[0] or (len(ranked) > 1 and ranked[1] == ranked[0]):
            return None
        best = max(scores, key=lambda i: scores[i])
        return best if len(terms) - scores[best] <= scores[best] + POINTING_OWN_WORDS else None

    def search(self, text: str, types: Iterable[str] | None = None, k: int = 5,
               weights: dict[str, float] | None = None) -> list[Link]:
        """The best search results as links, with a confidence from how clearly the first wins
        (``weights`` overrides signal weights for this search)."""
        text = without_defining(without_conversing(text))
        hits = self.retriever.search(text, k=k, types=list(types) if types else None,
                                     weights=weights)
        if not hits:
            return []
        terms = set(tokenize(text))
        first = hits[0].score or 1.0
        links = []
        for n, hit in enumerate(hits):
            runner = hits[n + 1].score if n + 1 < len(hits) else 0.0
            margin = max(0.0, (hit.score - runner) / first) if n == 0 else 0.0
            # A sub-technique's own name counts as fully as its full name ("Parent: Own").
            shared = max(_shared(terms, name) for name in (hit.name, hit.name.split(":")[-1]))
            confidence = min(0.8, 0.3 + 0.5 * margin + 0.4 * shared) * (hit.score / first)
            links.append(Link(hit.id, round(confidence, 3), "search"))
        # Among close results, the one whose name the text matches best comes first.
        links.sort(key=lambda link: -link.confidence)
        return self._atlas_own_first(text, links)

    def _atlas_own_first(self, text: str, links: list[Link]) -> list[Link]:
        """A bare term ("evasion") names ATLAS's own AI-specific object before one adapted from
        ATT&CK whose name merely holds the word ("Virtualization/Sandbox Evasion"): among close
        results, objects without an ATT&CK reference come first."""
        content = [t for t in tokenize(text) if t not in STOPWORDS and t not in ASKING_TERMS]
        if len(content) != 1:
            return links
        return close_first(links, lambda link: self.catalog.records[link.id].attack_reference is not None)

    def correct(self, text: str) -> str:
        """``text`` with words ATLAS does not use replaced by the closest words of its names."""
        def fix(match: re.Match[str]) -> str:
            word = match.group(0)
            return self._closest(word.lower()) or word

        return re.sub(rf"[A-Za-z]{{{MIN_CORRECTED_LENGTH},}}", fix, text)

    # ------------------------------------------------------------------ names

    def _exact_names(self, text: str) -> list[Link]:
        """Longest word windows that are a name, left to right, without overlaps."""
        words = [(m.group(0), m.start(), m.end()) for m in re.finditer(r"[A-Za-z0-9&]+", text)]
        normal = [normalize_name(w) for w, _, _ in words]
        found: list[Link] = []
        taken: list[tuple[int, int]] = []
        for size in range(min(10, len(words)), 0, -1):
            for start in range(len(words) - size + 1):
                phrase = " ".join(normal[start : start + size]).strip()
                if len(phrase) < 4:
                    continue
                span = (words[start][1], words[start + size - 1][2])
                if _overlaps(span, taken):
                    continue
                ids = self.catalog.by_name(phrase)
                if not ids:
                    continue
                confidence = NAME_CONFIDENCE if size > 1 else ONE_WORD_NAME_CONFIDENCE
                found += [Link(i, confidence, "name", span) for i in ids]
                taken.append(span)
        return found

    def _names_by_terms(self, text: str) -> list[Link]:
        """Names whose distinctive terms all occur in the message ("prompt injection" names
        LLM Prompt Injection); the most specific name wins over names it contains."""
        terms = set(tokenize(text))
        matched = [(atlas_id, name) for atlas_id, name, _ in self._name_terms
                   if name <= terms and (len(name) > 1 or len(next(iter(name))) >= 6)]
        best: dict[str, frozenset[str]] = {}
        for atlas_id, name in matched:
            if atlas_id not in best or len(name) > len(best[atlas_id]):
                best[atlas_id] = name
        # Drop a name whose terms are a strict part of another matched name's terms.
        kept = [i for i, name in best.items()
                if not any(name < other for j, other in best.items() if j != i)]
        kept.sort(key=lambda i: (-len(best[i]), i))
        return [self._by_terms(text, i, best[i]) for i in kept]

    def _by_terms(self, text: str, atlas_id: str, terms: frozenset[str]) -> Link:
        words = _stemmed_words(text)
        span = _term_span(words, terms)
        if len(terms) == 1 and span and normalize_name(text[span[0]:span[1]]) not in {
                normalize_name(n) for n in self.catalog.names_of(self.catalog.records[atlas_id])}:
            # A one-word name in another form of its word ("collect" for Collection) is an
            # everyday word until search confirms it, as one word of a longer name is.
            return Link(atlas_id, NAME_WORD_CONFIDENCE, "name-word", span)
        if _window(words, terms) - len(terms) > NAME_SPREAD:
            # A name's words scattered over a message ("valid signature ... model file") are
            # words it happens to share, not the name: weak, as one word of a name is.
            return Link(atlas_id, NAME_WORD_CONFIDENCE, "name-word", span)
        confidence = GENERIC_NAME_CONFIDENCE if self._generic(atlas_id, terms) else NAME_TERMS_CONFIDENCE
        return Link(atlas_id, confidence, "name-terms", span)

    def names_nothing(self, text: str) -> bool:
        """Words that name no one technique: none beyond the system prefixes ("the AI one"), or
        words the names of several unrelated techniques all hold ("the agent one")."""
        terms = frozenset(tokenize(text)) - SYSTEM_PREFIXES - STOPWORDS
        if not terms:
            return True
        heads = {self.catalog.records[i].parent or i for i, name, _ in self._name_terms
                 if terms <= name and self.catalog.records[i].type in TECHNIQUE_TYPES}
        return len(heads) >= GENERIC_NAMES

    def _generic(self, atlas_id: str, terms: frozenset[str]) -> bool:
        """Terms that many unrelated names of the same kind share ("agent tool" in five
        techniques' names) name none of them for sure. Other kinds do not count: case studies
        are titled after the techniques they show."""
        relatives = set(family(self.catalog, atlas_id))
        kind = kind_family(self.catalog.records[atlas_id].type)
        sharing = {i for i, name, _ in self._name_terms if terms <= name and i not in relatives
                   and kind_family(self.catalog.records[i].type) == kind}
        return len(sharing) >= GENERIC_NAMES

    def _clipped_names(self, text: str) -> list[Link]:
        """A name of two words or more typed with words cut short ("priv esc", "resource dev",
        "def evasion"): each of its words, in order, begun by one of the message's words, and
        one of them cut. Chat shortens long words by cutting their end, as ``_completed`` reads
        one word; a whole name's words in order tell which name is meant."""
        words = [(m.group(0).lower(), m.start(), m.end()) for m in re.finditer(r"[A-Za-z]+", text)]
        found: list[Link] = []
        for i, (word, start, _) in enumerate(words):
            for atlas_id, name in self._clipped_index.get(word[:CLIPPED_LENGTH], ()):
                typed = words[i:i + len(name)]
                if _cut_short([t for t, _, _ in typed], name):
                    found.append(Link(atlas_id, CORRECTED_CONFIDENCE, "corrected",
                                      (start, typed[-1][2])))
        return found

    def _corrected_names(self, text: str, corrected: str) -> list[Link]:
        if corrected == text:
            return []
        links = self._exact_names(corrected) + self._names_by_terms(corrected)
        return [Link(link.id, CORRECTED_CONFIDENCE, "corrected", link.span) for link in links]

    def _closest(self, word: str) -> str | None:
        if word in self._vocabulary or word in STOPWORDS:
            return None
        found = _closest_word(word, self._correction_words) or _completed(word, self._correction_words)
        if found and stem(word) in self._stems and stem(found) != stem(word):
            return None  # an inflected word ("probabilities"), not a typo of another
        return found


@functools.lru_cache(maxsize=4096)
def _completed(word: str, candidates: tuple[str, ...]) -> str | None:
    """A clipped word ("exfil", "recon", "creds") is the one word of ATLAS's names it begins
    (in any of that word's forms): chat shortens long words by cutting their end."""
    stem = word[:-1] if word.endswith("s") else word
    found = [c for c in candidates if c.startswith(stem) and len(c) > len(word)]
    if not found or len({tokenize(c)[0] for c in found if tokenize(c)}) != 1:
        return None
    return min(found, key=len)


@functools.lru_cache(maxsize=4096)
def _closest_word(word: str, candidates: tuple[str, ...]) -> str | None:
    near = difflib.get_close_matches(word, candidates, n=1, cutoff=CORRECTION_CUTOFF)
    return near[0] if near else None


def _shared(terms: set[str], name: str) -> float:
    """The part of a name's terms (without system prefixes) that ``terms`` match, in any form."""
    name_terms = set(tokenize(name)) - SYSTEM_PREFIXES
    matched = [n for n in name_terms if any(same_word(n, t) for t in terms)]
    return len(matched) / len(name_terms) if name_terms else 0.0


def _attack_style(bare: str) -> bool:
    """ATT&CK numbers its techniques from T1000; ATLAS's are T0000-T0999."""
    match = re.fullmatch(r"(TA|T|M)(\d{4})(?:\.\d{3})?", bare)
    return match is not None and int(match.group(2)) >= 1000


def _labels_an_id(text: str, span: tuple[int, int] | None,
                  ids: Iterable[tuple[int, int] | None]) -> bool:
    """Words set beside an ID in parentheses are that ID's label, not another object's name:
    "delayed execution (T0094)" names T0094, not the Execution tactic (the words just before
    the parenthesis), and "T0094 (delayed execution)" likewise (any words inside the
    parenthesis that follows the ID). The parenthesis is the formal sign."""
    if span is None:
        return False
    for other in ids:
        if other is None:
            continue
        if other[0] >= span[1] and re.fullmatch(r"\s*\((?:AML\.)?\s*", text[span[1]:other[0]]):
            return True
        if (span[0] >= other[1] and re.fullmatch(r"\s*\([^()]*", text[other[1]:span[0]])
                and re.match(r"[^()]*\)", text[span[1]:])):
            return True
    return False


def _cut_short(typed: Sequence[str], name: Sequence[str]) -> bool:
    """``typed`` spells ``name`` word by word, each word whole or begun (at least
    CLIPPED_LENGTH letters), one of them at least cut."""
    return (len(typed) == len(name) and typed != list(name)
            and all(t == whole or (len(t) >= CLIPPED_LENGTH and whole.startswith(t))
                    for t, whole in zip(typed, name, strict=True)))


def _span_mapper(text: str, corrected: str) -> Callable[[Link], Link]:
    """A link found in ``corrected`` (``text`` with some words replaced) with its span moved
    onto ``text``: a replaced word's span is the typed word's, so the rest of the message is
    cut where the user typed the name ("exfil" corrected to "exfiltration")."""
    if corrected == text:
        return lambda link: link
    typed = list(re.finditer(r"[A-Za-z]+|[^A-Za-z]+", text))
    fixed = list(re.finditer(r"[A-Za-z]+|[^A-Za-z]+", corrected))
    if len(typed) != len(fixed):  # not word for word: leave the spans as they are
        return lambda link: link

    def moved(position: int, end: bool) -> int:
        for was, now in zip(typed, fixed, strict=True):
            if now.start() <= position < now.end() or (end and position == now.end()):
                if was.group(0) == now.group(0):
                    return was.start() + position - now.start()
                return was.end() if end else was.start()
        return len(text) if end else position

    def in_text(link: Link) -> Link:
        if link.span is None:
            return link
        return Link(link.id, link.confidence, link.how,
                    (moved(link.span[0], False), moved(link.span[1], True)))

    return in_text


def _overlaps(span: tuple[int, int] | None, taken: Iterable[tuple[int, int] | None]) -> bool:
    if span is None:
        return False
    return any(t is not None and span[0] < t[1] and t[0] < span[1] for t in taken)


def _wider(span: tuple[int, int], inner: tuple[int, int] | None) -> bool:
    """``span`` covers ``inner`` and more."""
    return inner is not None and span[0] <= inner[0] and inner[1] <= span[1] and span != inner


def _stemmed_words(text: str) -> list[tuple[int, int, str]]:
    """Each word of ``text``: its start, its end and its stem."""
    return [(m.start(), m.end(), stem(m.group(0).lower()))
            for m in re.finditer(r"[A-Za-z0-9]+", text)]


def _window(words: list[tuple[int, int, str]], terms: frozenset[str]) -> int:
    """The fewest consecutive ``words`` that hold every one of ``terms``."""
    at = [(n, w) for n, (_, _, w) in enumerate(words) if w in terms]
    best = len(words)
    for first in range(len(at)):
        seen: set[str] = set()
        for n, word in at[first:]:
            seen.add(word)
            if seen >= terms:
                best = min(best, n - at[first][0] + 1)
                break
    return best


def _term_span(words: list[tuple[int, int, str]], terms: frozenset[str]) -> tuple[int, int] | None:
    """The stretch of text from the first to the last of ``words`` that is one of ``terms``."""
    positions = [(start, end) for start, end, w in words if w in terms]
    return (positions[0][0], positions[-1][1]) if positions else None

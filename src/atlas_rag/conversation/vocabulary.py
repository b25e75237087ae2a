"""Words that say what kind of answer is wanted but name no subject.

They are ATLAS's own kinds of object with their usual synonyms, the verbs and nouns of
asking, the words asking for a whole ("in total", "all that exist", "enumerate") or for the
release as it stands ("how many are there now", "currently", "today", "right now", "at the
moment", "at present", "so far") or as a whole ("in this release", "in the current version"),
of setting two side
by side ("vs", "versus") and for
its presentation ("in matrix order", "sorted"), of filing one under another ("which tactic
is it under", "does it belong to"), and the verbs of membership ("which techniques appear in
it", "show up", "are involved", "does it include"):
a closed vocabulary of questions about a knowledge base, not of any particular
question. A message made only of these and stopwords ("and case studies?", "mitigations
pls") leans on the conversation for its subject; typos of them are corrected, not read as
names.
"""

from __future__ import annotations

import re

from ..lexical import tokenize
from .compound import OPENERS

ASKING_TEXT = """technique techniques sub-technique sub-techniques subtechnique subtechniques variant
variants kind kinds type types tactic tactics mitigation mitigations defence defences defense
defenses control controls countermeasure countermeasures case cases study studies incident
incidents example examples attack attacks ttp ttps parent procedure step steps explain
describe tell show list give detail details more info information please pls thx about else
again what which how why who mean meaning defend protect prevent stop mitigate detect fix
harden secure atlas mitre id ids number count many mapping mapped map related relate one ones
same whole full all every each continue summary summarize summarise overview total overall
altogether entire complete exist exists existing enumerate name names defined order ordered
sorted sequence matrix under belong belongs appear appears appeared involve involves involved
include includes included contain contains contained occur occurs occurred up now currently
current today presently nowadays moment present right far release version vs versus"""
ASKING_WORDS = tuple(dict.fromkeys(ASKING_TEXT.split()))
ASKING_TERMS = frozenset(tokenize(ASKING_TEXT))

# Words that steer the conversation rather than name its subject: acknowledgements, topic
# shifts and fillers ("ok different topic, ...", "anyway, new question: ...", chat interjections
# such as "lol", "hmm"). A closed class of conversational English, not words of any particular
# question; search for a subject skips them.
CONVERSING_TEXT = """ok okay alright cool great nice thanks thank cheers btw anyway anyways
lol haha hmm different another new next topic subject question questions switch switching change changing
gears moving unrelated separate quick now hey hi hello"""
CONVERSING_WORDS = frozenset(CONVERSING_TEXT.split())
# Of those, the ones that announce a new topic when they open a message ("unrelated: ...",
# "different question - ...", "switching gears, ..."): a closed class of English discourse
# markers. After one, "that" and "it" belong to the new question, not the last answer.
SHIFTING_TEXT = """different another new unrelated separate switch switching change changing
gears moving anyway anyways"""
SHIFTING_WORDS = frozenset(SHIFTING_TEXT.split())
# Words that thank: a closed class of English ("thank you", "cheers", "much appreciated") with
# the chat abbreviations of "thanks".
THANKING_TEXT = "thanks thank thx ty tysm tx cheers appreciated appreciate"
THANKING_WORDS = frozenset(THANKING_TEXT.split())
# Verbs that open a request in the imperative ("show me", "now map this"): a closed class of
# the verbs of asking for an answer.
REQUESTING_TEXT = """explain describe tell show list give map compare summarize summarise walk
break find check look help"""
REQUESTING_WORDS = frozenset(REQUESTING_TEXT.split())
CLOSING_WORDS = 20  # a closing remark is short; a long message after "thanks" is a new question
# Conjunctions and adverbs that may come before a part's opening word ("and which ...", "now
# show me ..."): a closed class of English discourse connectives.
LEADING_WORDS = frozenset(["and", "so", "now", "also", "but"])
_SEGMENT_RE = re.compile(r"\s*[:;,.!?–—]\s*|\s+-+\s+")
OPENING_WORDS = 4  # a marker is short ("ok, totally different question:")
_WORD_RE = re.compile(r"[A-Za-z]+")


def shifts_topic(text: str) -> bool:
    """The message opens with a marker of a new topic, set off by punctuation (after any
    acknowledgement: "ok, switching gears, ...")."""
    segments = _SEGMENT_RE.split(text.strip())
    for segment in segments[:-1]:  # the last part is the question itself
        words = [w.lower() for w in _WORD_RE.findall(segment)]
        if not words or len(words) > OPENING_WORDS:
            return False
        if SHIFTING_WORDS & set(words):
            return True
        if not set(words) <= CONVERSING_WORDS:
            return False
    return False


# The frame of a definition question ("what is", "what's an", "what are the", "whats"): it asks
# what something is and names nothing, yet a short query's vector leans on it. English's
# wh-copula frame, a closed form.
_DEFINING_RE = re.compile(r"^\s*(?:so\s+|and\s+)?(?:what|who)\s*(?:'s|’s|s|\s+is|\s+are)\s+"
                          r"(?:an?\s+|the\s+)?", re.IGNORECASE)


def without_defining(text: str) -> str:
    """``text`` without an opening "what is" frame (all of it if nothing would be left)."""
    kept = _DEFINING_RE.sub("", text, count=1)
    return kept if tokenize(kept) else text


def without_opening(text: str) -> str:
    """``text`` without the conversing words it opens with ("ok ok. wat is ...", "hey, quick
    one: ..."); words of the question itself are kept wherever they stand."""
    rest = text
    while True:
        match = re.match(r"[\W_]*([A-Za-z]+)", rest)
        if match is None or match.group(1).lower() not in CONVERSING_WORDS:
            break
        rest = rest[match.end():]
    rest = rest.lstrip(" .,;:!?-–—")
    return rest if tokenize(rest) else text


def without_conversing(text: str) -> str:
    """``text`` without the words that only steer the conversation (all of it if nothing is left)."""
    kept = _WORD_RE.sub(lambda m: "" if m.group(0).lower() in CONVERSING_WORDS else m.group(0), text)
    kept = re.sub(r"\s+([,;:.!?])", r"\1", re.sub(r"\s+", " ", kept)).strip(" ,;:.!-")
    return kept if tokenize(kept) else text


def without_asking(text: str) -> str:
    """``text`` without its words of asking ("how do we harden against the image trick" ->
    "how do we against the image trick"; stopwords stay): what is left describes the subject,
    so a verb that asks for a defence ("harden", "secure") does not pick the control whose
    name holds it (all of ``text`` if nothing would be left)."""
    kept = " ".join(word for word in text.split() if not _asking(word))  # "atlas-wise" is a word
    return kept if tokenize(kept) else text


def _asking(word: str) -> bool:
    terms = set(tokenize(word))
    return bool(terms) and terms <= ASKING_TERMS


def closes_with_thanks(text: str) -> bool:
    """The message thanks and asks nothing: a short message with a part that opens with a word
    of thanks or is only acknowledgements and thanks ("great thanks, thats enough for my
    slides", "cheers for yesterday, the mapping made the board pack", "filed it. thx"), no
    question mark, and no part that opens a question or a request ("thanks, what about ...",
    "thx. now show me ...")."""
    if "?" in text or len(_WORD_RE.findall(text)) > CLOSING_WORDS:
        return False
    thanked = False
    for segment in _SEGMENT_RE.split(text.strip()):
        words = [w.lower() for w in _WORD_RE.findall(segment)]
        if not words:
            continue
        opener = words[1] if words[0] in LEADING_WORDS and len(words) > 1 else words[0]
        if re.fullmatch(OPENERS, opener) or opener in REQUESTING_WORDS:
            return False
        if words[0] in THANKING_WORDS or (set(words) <= CONVERSING_WORDS | THANKING_WORDS
                                          and THANKING_WORDS & set(words)):
            thanked = True
    return thanked

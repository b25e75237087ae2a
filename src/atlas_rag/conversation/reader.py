"""The reading of one message in its conversation: intent, target, subjects, follow-up.

The intent and target come from the learned classifier; subjects from the linker (what the
message itself names always comes first), then from the conversation: an ordinal picks an
item of the last list shown, a message that only points back takes the last answer's
subjects.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..catalog import Catalog
from ..errors import QueryError
from ..ids import find_ids
from ..lexical import STOPWORDS, tokenize
from ..records import Record
from .checking import Check, asked_check, asks_yes_no
from .compound import OPENERS
from .facets import narrow
from .intents import LazyIntentModel, Prediction
from .knowledge import (
    KIND_WORD,
    TARGET_KINDS,
    TECHNIQUE_TYPES,
    family,
    kind_family,
    kind_of_word,
    kinds_named,
)
from .linking import BY_ID, GENERIC_NAME_CONFIDENCE, NAMED_HOW, Link, Linker, Links
from .state import (
    ORDINAL_WORDS,
    PICKING_WORDS,
    State,
    conversation_ids,
    find_ordinal,
    find_ordinals,
    find_step_number,
    item_texts,
    latest_case_study,
    marked_ordinal,
    points_back,
    read_state,
    recent_subjects,
    without_ordinal,
    without_pointers,
)
from .steps import asked_steps, step_position
from .vocabulary import (
    ASKING_TERMS,
    closes_with_thanks,
    shifts_topic,
    without_conversing,
    without_defining,
    without_opening,
)

# Intents that need no ATLAS subject. A message naming an ATLAS ID is never one of the first
# three: IDs are formal and only ATLAS uses them.
NOT_ABOUT_ATLAS = ("off_topic", "greeting", "thanks", "help")
# Messages this close to ATLAS's text (cosine to the nearest chunk) are about ATLAS: no
# off-topic example of the training set comes this close, half of the on-topic ones do.
IN_ATLAS = 0.55
# Pronouns pointing at several things, or at one (closed classes of English words; "em" is
# "them" as spoken and typed: "list em").
_PLURAL = re.compile(r"\b(them|em|those|these|all of them|both|either|each)\b", re.IGNORECASE)
_SINGULAR = re.compile(r"\b(it|its|it's|this|that)\b", re.IGNORECASE)
# "which one is it when ...", "so which of those is the ...": English's singular interrogative
# picking one of a set, opening the message (after a discourse marker).
_WHICH_ONE = re.compile(
    r"^\W*(?:(?:so|ok|okay|and|but|then|right)\W+)?which\s+(?:one|of\s+(?:them|those|these|em)"
    r"\s+(?:is|was)\b)", re.IGNORECASE)
WHICH_SEARCH = 30  # results searched for the listed items (a list shows at most a few dozen)
WHICH_OWN_WORDS = 2  # a description, not "which one has the most"
# The relations a technique's answer rolls up from its sub-techniques (``rolled_up``).
ROLLED_UP = ("case_study", "mitigation")
# English's dual pointer: "both" is two objects, never the items of a longer list.
_BOTH = re.compile(r"\b(both)\b", re.IGNORECASE)
# "that one" points at an item shown, not at what the answer was about (English "one" as a
# pro-form for a listed thing).
_THAT_ONE = re.compile(r"\b(?:that|this|the)\s+one\b", re.IGNORECASE)
# "the dos one", "that agent tool supply chain one": an item of the list just shown named by
# words of its own before the pro-form "one" (a short phrase; not an ordinal, "the first one").
_NAMED_ONE = re.compile(r"\b(?:the|that|this)\s+(?!(?:" + "|".join(ORDINAL_WORDS)
                        + r"|other|same|next|only)\b)[\w'-]+(?:\s+[\w'-]+){0,3}\s+one\b",
                        re.IGNORECASE)
# "the deletion one", "that image thing", "the hidden text trick": something discussed earlier,
# named by a few words of the user's own before a placeholder noun. The nouns are English's
# pro-forms for a thing named by its modifier ("one", "thing", "part", "bit", "piece", "stuff",
# "side", "aspect"), and the words for a way of attacking that people use the same way
# ("trick", "angle", "attack"); none names an ATLAS object.
_POINTED_THING = re.compile(r"\b(?:the|that|this)\s+(?P<words>[\w/'-]+(?:\s+[\w/'-]+){0,4}?)\s+"
                            r"(?:one|thing|part|bit|piece|stuff|side|aspect|trick|angle|attack)\b",
                            re.I)
# "the direct kind", "the white box variant", "its agentic sub-technique": a member of a family
# of techniques named by a word of its own before an English class noun for one member of a
# set (a closed class), as "the X one" names an item of a list. Words that pick within a set
# or a release without naming ("the different kinds", "the latest version") name nothing.
_NAMED_MEMBER = re.compile(r"\b(?:the|that|this|its)\s+(?!(?:" + "|".join(ORDINAL_WORDS)
                           + r"|other|same|next|only|different|various|most|latest|new|full)\b)"
                           r"[\w'-]+(?:\s+[\w'-]+){0,3}\s+"
                           r"(?:one|(?P<variety>kind|variant|version|flavou?r|sub-?technique|sub))s?\b",
                           re.IGNORECASE)
# "what I just tried", "what i did there", "my last message": the user's own previous message
# (the first person singular and a past verb of trying or saying, closed classes of English).
# "that message", "this prompt" point at a message too (a demonstrative and the nouns of a chat).
_OWN_LAST = re.compile(r"\b(?:what|the\s+thing)\s+i\s+(?:just\s+)?(?:tried|did|asked|wrote|sent|typed"
                       r"|said|attempted|pasted)\b|\b(?:my|that|this)\s+(?:last\s+|previous\s+)?"
                       r"(?:message|prompt)\b", re.IGNORECASE)
# "how many tactics are there", "what mitigations are there in total": English's existential
# "there is/are" closing the clause, with no place or owner after it, asks about the whole
# domain (here the release), not about what was discussed. The kind nouns are the data model's;
# the closing phrases ("in total", "in atlas") are the closed set that restate the domain.
_WHOLE_RELEASE = re.compile(
    r"\b(?:tactic|sub-?technique|technique|mitigation|case[\s-]?stud(?:y|ie))s?\s+(?:are|is)\s+"
    r"there(?:\s+(?:in\s+(?:atlas|all|total)|total|altogether|overall|all\s+together))?\W*$",
    re.IGNORECASE)
# "what about X", "how about X", "and for X", "same for X", "and X?": English's frames for
# asking the last question again of something else (a closed class).
_ELLIPSIS = re.compile(r"^\W*(?:(?:ok(?:ay)?|so|hmm)\W+)?(?:(?:what|how)\s+about|(?:and|same)\s+(?:for|with)"
                       r"|and)\b\W*", re.IGNORECASE)
# What marks a message as about MITRE ATT&CK rather than an attack: the framework's name as
# typed ("att&ck", "attck", "mitre attack", "enterprise attack"), "attack" before a noun for a
# reference to it ("attack id", "attack mapping"), or an ATT&CK technique or tactic ID.
_ATTACK_NAMED = re.compile(
    r"att\s*&\s*ck|\battck\b|\b(?:mitre|enterprise)\s+attack\b|\benterprise\s+ids?\b"
    r"|\battack\s+(?:ids?|refs?|references?|mappings?|maps?|counterparts?|equivalents?|version)\b"
    r"|\b(?:T1\d{3}(?:\.\d{3})?|TA00\d\d)\b", re.IGNORECASE)
# "and for X", "same for X": the preposition marks X as what the same question is now asked of.
_FOR_FRAME = re.compile(r"\bfor\b", re.IGNORECASE)
ELLIPTICAL_WORDS = 4  # the new subject alone: a name is short
# How far down a search a described member of a family may be found.
FAMILY_SEARCH = 20
_WORD = re.compile(r"[\w.&'-]+")
# What a question asked again of a new subject can ask (one subject's answer, not a
# comparison of two, nor a described system or write-up).
ASKED_AGAIN = ("defend", "attack", "list", "count", "explain")
_ONES = re.compile(r"\b(?:ones|of (?:them|em|those|these))\b", re.IGNORECASE)
# Words that pick some of the items just listed ("which of those", "any of them", "the ones
# that", "only those with"): a closed class of English partitives and determiners. "The ones"
# with any words after it ("the ones aimed at agents", "the ones it covers") is a set the
# conversation holds, told apart by what follows. A bare "of those" ("tactics of those") may
# instead ask for the items' relations.
_PICKING = re.compile(
    r"\b(?:(?:which|any|all|none|some|each|how many|only)\s+(?:of\s+)?(?:those|these|them|ones)"
    r"|the\s+ones\s+(?=\w)|ones\s+(?:that|which|with|from|where)"
    r"|(?:those|these)\s+(?:that|which|with|from|where))\b",
    re.IGNORECASE,
)
_OF_THOSE = re.compile(r"\bof\s+(?:those|these|them|em)\b", re.IGNORECASE)
# A kind of object followed by a preposition and a bare noun phrase ("mitigations for deepfakes",
# "case studies involving model theft") names its own subject: English marks a phrase that
# refers back with a determiner or pronoun ("for it", "for the rag one"), and a bare one does
# not. The preposition and determiner lists are closed classes, as are the focusing adverbs
# that may stand before the determiner ("a case study for exactly this").
_OWN_OBJECT = re.compile(
    r"\b(?:tactic|mitigation|case[\s-]?stud(?:y|ie)|sub-?technique|technique|defen[cs]e|control"
    r"|countermeasure|incident|example)s?\s+(?:for|of|against|about|on|involving|with|under)\s+"
    r"(?!(?:(?:exactly|just|precisely|specifically|basically|literally|only)\s+)?"
    r"(?:the|a|an|it|its|this|that|these|those|them|em|they|their|each|both|either|all|any"
    r"|one|ones|same|such|other|another)\b)(?P<phrase>[a-z][\w' -]*)", re.IGNORECASE)
# A pointer followed by a kind of ATLAS object ("that tactic", "its case studies") names the
# object of that kind related to what was discussed (the data model's own nouns).
# "The parent" is one too: a parent is always some object's parent (a relational noun).
# A case study is a "case" to users too ("that case"), but not in the idiom "in that case".
_KIND_POINTER = re.compile(
    r"\b(?P<det>that|this|its|their|the same|same)\s+(?P<kind>tactic|parent|mitigation"
    r"|case[\s-]?study|sub-?technique|technique)s?\b|\bthe\s+(?P<relational>parent)\b"
    r"|(?<!\bin )\b(?:that|this|the same|same)\s+(?P<case>case)s?\b", re.IGNORECASE)
# "which technique", "what ATLAS mitigations", "every technique", "how many case studies": a
# wh-determiner or a quantifier (closed classes of English) before a kind of object (at most
# one word between) asks for objects of that kind, whatever else the message names.
# Users call a case study a "case" ("which cases used it", "that case"): the word alone counts
# right after the determiner ("which use case" is another noun), and not in the idioms "in that
# case", "in which case".
_WH_KIND = re.compile(
    r"\b(?:which|what|every|all|each|many)\s+(?:\w+\s+)?(?P<kind>tactic|mitigation"
    r"|case[\s-]?study|case[\s-]?studie|sub-?technique|technique)s?\b"
    r"|(?<!\bin )\b(?:which|what|every|all|each|many)\s+(?P<case>case)s?\b", re.IGNORECASE)
# English's modal and auxiliary verbs the stopwords leave in (a closed class): "what should we
# have had in place" says no word of its own about an incident.
_AUXILIARIES = frozenset(tokenize("should shall must ought had having done being"))
# Intents that describe their own subject at length: never read as a follow-up for lack of a
# searchable subject.
FRESH_INTENTS = ("threat_model", "incident", "compare")
# Intents whose subjects the conversation gives outright (and where they come from): the case
# study just discussed, or the items of the last list.
GIVEN_SUBJECTS: dict[str, Callable[[State], tuple[list[str], str]]] = {
    "step": lambda state: ([i] if (i := latest_case_study(state)) else [], "history"),
    "narrow": lambda state: (state.items, "list"),
    "rank": lambda state: (state.items, "list"),
    "relist": lambda state: (state.items, "list"),
}
# The objects of each kind related to a record, for "that tactic", "its case studies".
RELATED_OF_KIND: dict[str, Callable[[Catalog, Record], list[str]]] = {
    "tactic": lambda c, r: c.tactics_in_order(r),
    "parent": lambda c, r: [r.parent] if r.parent else [],
    "mitigation": lambda c, r: list(r.mitigations),
    "case-study": lambda c, r: list(r.case_studies),
    "technique": lambda c, r: list(r.techniques),
    "subtechnique": lambda c, r: list(r.subtechniques),
}
# A comparison with no subject of its own ranks the last list when it has this many items.
RANKED_LIST = 3
# Intents whose messages describe a situation in everyday words.
DESCRIBING_INTENTS = ("defend", "attack", "threat_model", "incident")
# Intents whose target is the kind of their own subject (not of the objects listed for it).
SUBJECT_KIND_INTENTS = ("explain", "incident")
# Intents asked of one object, which a follow-up can pick from those just shown by describing it.
ASPECT_INTENTS = ("explain", "attack", "defend")
# Words that pick a thing by its place or sameness, not by what it is ("the first thing", "the
# same trick", "the other part"): ordinals and English's closed class of such determiners.
_NOT_NAMING_WORDS = frozenset(tokenize(" ".join(ORDINAL_WORDS))) | frozenset(
    tokenize("same other next previous whole only"))
# The relations only techniques have: their sub-techniques and their parent.
TECHNIQUE_RELATIONS = ("subtechnique", "parent")
# Intents whose follow-ups ask what a part of the discussion marked off in the user's words is
# ("the X part, which technique is that", "mitigations for the X angle").
POINTED_ASPECT_INTENTS = ("explain", "list", "defend")
POINTED_ASPECT_CONFIDENCE = 0.6  # a part the user marked off: meant, but found by search
KIND_SURE = 0.9  # the classifier's certainty of the asked kind that overrules a name's word
# A part of a case study is asked about in questions that explain, list or describe an attack;
# asking for mitigations or case studies is a relation of the whole study instead.
STEP_INTENTS = ("explain", "list", "attack", "incident")
WHOLE_STUDY_TARGETS = ("mitigation", "case_study")
# Intents a message picking from the last list may be read as before it is read as narrowing.
NARROWING_INTENTS = ("list", "count", "explain", "compare", "attack")
# The classifier must be this sure of an off-topic or manipulation reading to decline.
DECLINE_SURE = 0.5
# Once the conversation has a subject, small talk ("help", "hello") must be this sure: a
# short follow-up ("and what should we change") otherwise asks about the subject.
SMALLTALK_SURE = 0.8
# Links this sure are the message's own subjects; weaker ones only rule out small talk.
OWN_SUBJECT = 0.75
NAME_WORD = 0.6
# A searched subject this sure counts as the message's own (a topic shift, not a follow-up).
SEARCH_SURE = 0.55
# In a yes/no question about a firmly named object, a whole name this sure is what it is
# checked against ("is T0024.002 under exfiltration?"), even a common one.
CHECKED_AGAINST = 0.5
# Words of its own (beyond pointers and asking words) that make a pointing question describe
# an aspect of the discussion rather than ask about its subject again: a phrase, not a word.
DESCRIBED_ASPECT = 3
# Intents a yes/no question is not read as a check in: long descriptions, comparisons of like
# with like ("is X different from Y" compares), and declined messages.
NOT_CHECKS = ("threat_model", "incident", "compare", "injection", "off_topic")
# A yes/no question about the items just listed ("do those cover X?") checks at most this many.
CHECKED_ITEMS = 8
# Kinds whose yes/no questions check a technique the message describes ("does M0015 stop
# evasion?", "did the Tay case involve poisoning?"): the relations they have are to techniques.
CHECKS_TECHNIQUES = ("mitigation", "case-study")


@dataclass
class Reading:
    """What one message asks, about what, in what conversation."""

    question: str
    intent: str
    target: str
    prediction: Prediction | None
    links: Links  # what the message itself names
    subjects: list[Link] = field(default_factory=list)  # what the answer is about, best first
    source: str = ""  # question | ordinal | history | list | "" (the composer searches)
    state: State = field(default_factory=State)
    ordinal: int | None = None
    ordinal_missing: bool = False  # it pointed at a position the last list does not have

    @property
    def subject(self) -> str | None:
        return self.subjects[0].id if self.subjects else None

    def subject_ids(self) -> list[str]:
        return [link.id for link in self.subjects]


class Reader:
    """Reads messages against one catalog."""

    def __init__(self, catalog: Catalog, linker: Linker, intents: LazyIntentModel) -> None:
        self.catalog = catalog
        self.linker = linker
        self.intents = intents

    def read(self, question: str, history: Any = None) -> Reading:
        state = read_state(history, self.catalog)
        links = self.linker.link(question, conversation_ids(state))
        # Opening acknowledgements ("ok ok.", "hey, quick one:") say nothing of what is asked.
        prediction = (self._asked_again(question, state) or self._capability_asked(question)
                      or self.intents.predict(self.linker.correct(without_opening(question))))
        confident = [link for link in links.links if link.confidence >= OWN_SUBJECT]
        pointed = find_ordinal(question) if state.items else None
        ordinal = pointed if not confident or marked_ordinal(question) else None
        picking = bool(_PICKING.search(question))
        clues = Clues(question, state, links, prediction, ordinal, picking,
                      at_list=bool(state.items) and pointed is None
                      and (picking or bool(_OF_THOSE.search(question))),
                      alone=picks_only(self, question, ordinal))
        intent, target = prediction.intent, prediction.target
        if target == "attack_ref" and not _ATTACK_NAMED.search(question):
            # "whats the attack exactly": the English word, not the ATT&CK framework.
            target = _best_of(prediction.targets, exclude=("attack_ref",))
        for rule in INTENT_RULES:
            intent = rule(self, clues, intent) or intent
        if intent == "explain" and clues.alone:
            target = "none"
        if intent in ("list", "count") and target in TARGET_KINDS:
            # The classifier saw a kind; the "which <kind>" phrase says which one is listed.
            target = wh_kind(question) or target
        if intent in GIVEN_SUBJECTS:
            ids, source = GIVEN_SUBJECTS[intent](state)
            reading = Reading(question, intent, target, prediction, links, state=state)
            reading.subjects = [Link(i, 0.9, source) for i in ids if i in self.catalog]
            reading.source = source
            return reading
        if state.turns and _kind_asked_before(question, intent, links):
            before = self._last_asked(state)
            target = before.target if before is not None and before.target != "none" else target
        reading = Reading(question, intent, target, prediction, links, state=state)
        self._subjects(reading, ordinal)
        if not reading.subjects and state.turns and _OWN_LAST.search(question):
            # "which atlas technique describes what I just tried": the user's last message.
            reading.question = f"{state.turns[-1].question}\n{question}"
        return reading

    def _capability_asked(self, question: str) -> Prediction | None:
        """"what can u actually do? im on the ml platform team at a shipper": a question about
        the assistant followed by a line on who the user is, with no question of its own in
        the rest, is the capability question; the rest's words (a team, a product) read to the
        classifier as a question about them."""
        parts = head_and_rest(question)
        if parts is None:
            return None
        head, rest = parts
        if (len(head.split()) > CAPABILITY_WORDS or len(rest.split()) > PICKING_WORDS
                or asks_something(rest)):
            return None
        prediction = self.intents.predict(self.linker.correct(without_opening(head)))
        return prediction if (prediction.intent == "help"
                              and prediction.intent_p >= SMALLTALK_SURE) else None

    def _asked_again(self, question: str, state: State) -> Prediction | None:
        """"what about model inversion?", "same for jailbreaks" right after a question: the
        last question that was not itself such a follow-up, asked again of a new subject."""
        if not state.turns or not self._elliptical(question):
            return None
        before = self._last_asked(state)
        return before if before is not None and before.intent in ASKED_AGAIN else None

    def _last_asked(self, state: State) -> Prediction | None:
        """The reading of the last question that was not an elliptical follow-up: what the
        conversation last asked ("what about direct" asked the question before it again)."""
        for turn in reversed(state.turns):
            if not self._elliptical(turn.question):
                return self.intents.predict(self.linker.correct(without_opening(turn.question)))
        return None

    def _elliptical(self, question: str) -> bool:
        """The message is a frame of asking again and a new subject alone: no kind of
        object, no ordinal, no words of asking."""
        match = _ELLIPSIS.match(question)
        if not match or find_ordinal(question) is not None:
            return False
        rest = question[match.end():]
        words = self.subject_words(rest)
        if _NAMED_MEMBER.fullmatch(rest.strip(" ?!.")):  # "and the white box variant?"
            return 0 < len(words) <= ELLIPTICAL_WORDS
        if self.catalog.by_name(without_pointers(rest).strip(" ?!.")):
            return True  # "and command and control": a name, whatever words it holds
        if _FOR_FRAME.search(match.group(0)) and (
                pointed := _KIND_POINTER.fullmatch(rest.strip(" ?!."))) and "parent" in (
                pointed.group("relational") or pointed.group("kind") or "").lower():
            return True  # "and for the parent": the same question of the subject's parent
        return (0 < len(words) <= ELLIPTICAL_WORDS and not KIND_WORD.search(rest)
                and len(words) == len(_WORD.findall(without_pointers(rest))))

    def _subjects(self, reading: Reading, ordinal: int | None) -> None:
        own = [self._confirmed(reading, link) for link in reading.links.links
               if link.confidence >= OWN_SUBJECT and not self._common_word(reading, link)]
        state = reading.state
        # "how is #1 different from #2": every item picked, in the message's order; the first
        # is ``ordinal``'s item (None when it is past the end of the list).
        picked = [state.item(n) for n in find_ordinals(reading.question)] if ordinal is not None else []
        if own and picked and picked[0]:
            # "the 3rd one - why is that initial access": the item picked, then what is named.
            reading.ordinal = ordinal
            reading.subjects = [Link(i, 1.0, "ordinal") for i in dict.fromkeys(
                [*picked, *(link.id for link in own)]) if i]
            reading.source = "ordinal"
            return
        if own:
            reading.subjects, reading.source = self._of_asked_kind(reading, own), "question"
            return
        first = self._first_in_order(reading)
        if first is not None:  # "what's the newest case study?"
            reading.subjects, reading.source = [Link(first, 0.9, "question")], "question"
            return
        if ordinal is not None:
            reading.ordinal = ordinal
            if picked and picked[0]:
                reading.subjects = [Link(i, 1.0, "ordinal") for i in dict.fromkeys(picked) if i]
                reading.source = "ordinal"
            else:
                reading.ordinal_missing = True
            return
        if state.empty or (_WHOLE_RELEASE.search(reading.question)
                           and not points_back(reading.question)):
            return  # "how many tactics are there": the whole release
        if state.items_in_last and len(state.items) == 1 and _THAT_ONE.search(reading.question):
            # "what else did that one use" after a list of one: that item.
            reading.subjects, reading.source = [Link(state.items[0], 0.9, "item")], "ordinal"
            return
        # The list's own items first: "the deepfake one" is the listed Generate Deepfakes, not
        # Deepfake-Assisted Phishing shown beside its parent.
        named = (self.linker.item_named(reading.question, state.items + state.subjects)
                 or self.linker.item_named(reading.question, state.items + state.subjects
                                           + self._shown_beside_items(state, reading.question)))
        named = named or self._named_relative(state, reading.question) or self._which_listed(reading)
        # "which tactic is the image trick under"; not "what about X", which asks the last
        # question again of something new.
        if not named and state.items_in_last and not _ELLIPSIS.search(reading.question):
            named = self.linker.item_described(
                reading.question, item_texts(state.turns[-1].answer, self.catalog))
        named = named or self._described_item(reading) or self._pointed_thing(reading)
        if named:  # "tell me more about the bing one"
            reading.subjects, reading.source = [Link(named, 0.9, "item")], "ordinal"
            return
        aspect = self._pointed_aspect(reading)
        if aspect is not None:  # "the stolen sftp creds part, which technique is that"
            reading.subjects, reading.source = [aspect], "question"
            return
        own_object = _OWN_OBJECT.search(reading.question)
        if own_object and self.subject_words(own_object.group("phrase")):
            return  # "mitigations for deepfakes" after case studies: the phrase is the subject
        # A follow-up points back, or names nothing search can find on its own ("any real
        # cases?", "what techniques were involved"); a new topic names its own subject.
        if narrow(reading.question, self.catalog, list(self.catalog)) and not points_back(
                reading.question):
            return  # "case studies from 2025": a question about the whole release
        if shifts_topic(reading.question) and self.subject_words(without_conversing(reading.question)):
            return  # "unrelated: how would someone get our bot to say something that ..."
        if not (points_back(reading.question) or not self.subject_words(reading.question)
                or (reading.intent not in FRESH_INTENTS
                    and not self.confident_search(reading.question))):
            return
        described = self._described_aspect(reading)
        if described is not None:  # "the auto-update part worries me, what's that technique"
            reading.subjects, reading.source = [described], "question"
            return
        plural = _PLURAL.search(reading.question)
        singular = _SINGULAR.search(reading.question)
        # Defending right after a list of techniques (an incident, a threat model) covers the
        # list, unless the message points at one thing ("it", "that").
        listed = state.items_in_last and all(
            self.catalog.records[i].type in TECHNIQUE_TYPES for i in state.items)
        if state.items and (plural or (reading.intent == "defend" and listed and not singular)):
            pointed = state.items
        else:
            pointed = state.subjects or state.items[:1]
        if _BOTH.search(reading.question):
            pointed = self._both(state) or pointed
        # "that tactic" is an object ("other techniques in that tactic"); "list its
        # mitigations" asks for a relation of the subject itself.
        if reading.target == "mitigation":
            pointed = self._techniques_behind(state, pointed) or pointed
        if not (reading.intent in ("list", "count")
                and owned_kind(reading.question) in TARGET_KINDS.get(reading.target, ())):
            related = self.related_of_kind(reading.question, [i for i in pointed if i in self.catalog],
                                           state)
            pointed = related or pointed
        if not plural:
            pointed = self._another_kind_first(reading, pointed)
        pointed = self._techniques_for_their_relations(reading, pointed)
        reading.subjects = [Link(i, 0.9, "history") for i in pointed if i in self.catalog]
        reading.source = "history" if reading.subjects else ""

    def _another_kind_first(self, reading: Reading, pointed: list[str]) -> list[str]:
        """"techniques it covers", "what does it protect against" after an answer about a
        technique that also named a mitigation or a case study: a kind asked of an object of
        that same kind (a technique's "techniques") is a stretch, so the discussed object of
        another kind that has objects of the asked kind is meant. A tactic named as the
        technique's own tactic only describes the technique, unless nothing is under the
        technique itself ("what techniques are under it" after "AI Agent, a technique of the
        Command and Control tactic")."""
        # A sub-technique's sub-techniques are its siblings and a parent is a technique: those
        # kinds are asked of their own kind.
        kinds = TARGET_KINDS.get(reading.target) if reading.target not in (
            "parent", "subtechnique") else None
        if (reading.intent not in ("list", "count") or not kinds or not pointed
                or pointed[0] not in self.catalog
                or self.catalog.records[pointed[0]].type not in kinds):
            return pointed
        first = self.catalog.records[pointed[0]]
        pool = [*pointed[1:], *self._shown_when_empty(reading, first)]
        others = [i for i in dict.fromkeys(pool) if i in self.catalog
                  and self.catalog.records[i].type not in kinds]
        other = [i for i in others if i not in first.tactics]
        if not other and not first.subtechniques:
            other = others  # its own tactic, when it has nothing under it itself
        return [*other[:1], *(i for i in pointed if i not in other[:1])]

    def _shown_when_empty(self, reading: Reading, first: Record) -> list[str]:
        """"what other techniques are in that case" after a technique's one case study: asked
        of a top-level technique with no sub-techniques, a technique's "techniques" would be
        an empty list, so the items the last answer listed are candidates too."""
        if first.type != "technique" or first.subtechniques or not reading.state.items_in_last:
            return []
        return list(reading.state.items)

    def _techniques_for_their_relations(self, reading: Reading, pointed: list[str]) -> list[str]:
        """Sub-techniques and a parent are relations of techniques only: asked of the last
        answer when it led with a mitigation or a case study ("sub techniques of that" after
        a mitigation listed against Cost Harvesting), they are asked of the technique it
        named, which goes first."""
        if reading.intent not in ("list", "count") or reading.target not in TECHNIQUE_RELATIONS:
            return pointed
        known = [i for i in pointed if i in self.catalog]
        if not known or self.catalog.records[known[0]].type in TECHNIQUE_TYPES:
            return pointed
        techniques = [i for i in known if self.catalog.records[i].type in TECHNIQUE_TYPES]
        return [*techniques[:1], *(i for i in pointed if i not in techniques[:1])]

    def _shown_beside_items(self, state: State, question: str) -> list[str]:
        """The sub-techniques the last list showed on their parents' lines ("AI Supply Chain
        Compromise, via AI Agent Tool"): "the agent tool one" names them too."""
        if not state.items_in_last or not _NAMED_ONE.search(question):
            return []
        listed = set(state.items)
        return [i for i in find_ids(state.turns[-1].answer)
                if i in self.catalog and self.catalog.records[i].parent in listed]

    def _named_relative(self, state: State, question: str) -> str | None:
        """"list every case study that used the direct kind" after the indirect one: a member
        of the family (parent, sub-techniques) of a technique the conversation has shown,
        named by words of its own name before a noun for one member of a set."""
        phrase = _NAMED_MEMBER.search(question)
        if phrase is None:
            return None
        members: list[str] = []
        for atlas_id in conversation_ids(state):
            record = self.catalog.records.get(atlas_id)
            if record is not None and record.type in TECHNIQUE_TYPES:
                head = record.parent if record.parent and record.parent in self.catalog else atlas_id
                members += family(self.catalog, head)
        named = self.linker.item_named(question, members) if members else None
        if named is not None or not members or not phrase.group("variety"):
            return named
        # A variety described, not named ("the within-one-conversation variant"): the member
        # of the family search ranks first for the phrase ("the bing one" is no variety).
        return next((link.id for link in self.searched(phrase.group(0), TECHNIQUE_TYPES,
                                                       FAMILY_SEARCH) if link.id in members), None)

    def _both(self, state: State) -> list[str]:
        """The two objects "both" points at: the last list's when it had two, else the last
        answer's two subjects, else the subjects of the last two answers ("how many case
        studies used indirect injection" - "what about direct" - "which ones used both")."""
        recent = [i for i in recent_subjects(state, self.catalog) if i in self.catalog]
        kinds = [kind_family(self.catalog.records[i].type) for i in recent]
        alike = [i for i, kind in zip(recent, kinds, strict=True) if kind == kinds[0]]
        for pair in (list(dict.fromkeys(state.items)), list(dict.fromkeys(state.subjects)),
                     alike[:2]):
            if len(pair) == 2 and all(i in self.catalog for i in pair):
                return pair
        return []

    def _techniques_behind(self, state: State, pointed: list[str]) -> list[str]:
        """ATLAS ties mitigations to techniques only: asked for the mitigations of tactics just
        listed as the tactics of techniques ("any mitigations for them?" after "which tactic is
        each one under"), the question means those techniques, in the order shown."""
        tactics = {i for i in pointed if i in self.catalog and self.catalog.records[i].type == "tactic"}
        if not tactics or len(tactics) < len(pointed) or not state.turns:
            return []
        shown = [i for i in find_ids(state.turns[-1].answer) if i in self.catalog]
        return [i for i in shown if self.catalog.records[i].type in TECHNIQUE_TYPES
                and tactics & set(self.catalog.tactics_of(self.catalog.records[i]))]

    def which_described(self, question: str) -> str | None:
        """The description after an opening "which one" ("which one is it when the page has
        instructions baked in" -> "is it when the page ..."), when it says enough of its own;
        None for "which one has the most"."""
        match = _WHICH_ONE.search(question)
        if match is None or len(self.own_words(question[match.end():])) < WHICH_OWN_WORDS:
            return None
        return question[match.end():]

    def _which_listed(self, reading: Reading) -> str | None:
        """"which one is it when the page has instructions baked in" right after a list: the
        listed item search ranks first, among the list's kinds, for the words that follow."""
        state, rest = reading.state, self.which_described(reading.question)
        if rest is None or not state.items_in_last or len(state.items) < 2:
            return None
        listed = [i for i in state.items if i in self.catalog]
        kinds = tuple(dict.fromkeys(self.catalog.records[i].type for i in listed))
        return next((f.id for f in self.searched(rest, kinds, WHICH_SEARCH) if f.id in listed), None)

    def _described_item(self, reading: Reading) -> str | None:
        """A follow-up about one thing that describes one of the objects just shown in words
        of its own ("the markdown image thing - what technique is that", "controls for the
        synthetic face part") is about the one search finds surely for those words."""
        state = reading.state
        shown = [i for i in dict.fromkeys(state.items + state.subjects) if i in self.catalog]
        if reading.intent not in ASPECT_INTENTS or len(shown) < 2 or _PLURAL.search(reading.question):
            return None
        sure = self._surely_described(reading, tuple(dict.fromkeys(
            self.catalog.records[i].type for i in shown)))
        return sure.id if sure is not None and sure.id in shown else None

    def _pointed_thing(self, reading: Reading) -> str | None:
        """A message pointing at something discussed earlier by a few words of its own ("any
        case studies with the deletion one", "which tactic would the white text trick fall
        under") is about that object when search, for those words alone, ranks it first of
        everything ATLAS holds and it was cited in an earlier answer (of several: with one,
        the plain pronoun reading already has it)."""
        words = self._placeholder_words(reading.question)
        if words is None:
            return None
        discussed = {i for turn in reading.state.turns for i in find_ids(turn.answer)
                     if i in self.catalog}
        if len(discussed) < 2:
            return None
        found = self.searched(words, None, 5)
        return found[0].id if found and found[0].id in discussed else None

    def _placeholder_words(self, question: str) -> str | None:
        """The words before a placeholder noun ("the deletion one", "the stolen creds part")
        when they single out one thing: not of a plural pointer ("those X parts"), and not
        words many technique names hold ("the agent side")."""
        pointed = _POINTED_THING.search(question)
        if pointed is None or _PLURAL.search(question):
            return None
        words = pointed.group("words")
        return None if self.linker.names_nothing(words) else words

    def _pointed_aspect(self, reading: Reading) -> Link | None:
        """A follow-up that marks off a part of the discussion in words of its own ("the stolen
        sftp creds part, which technique is that", "is the vendor part its own sub technique")
        asks about what those words alone describe, when no object discussed is what they
        name: the technique search ranks first for them (the sub-technique, when one is
        asked for). A part of an attack is a technique, whatever is then asked of it ("which
        tactic is the X part", "mitigations for the X angle")."""
        if reading.intent not in POINTED_ASPECT_INTENTS:
            return None
        words = self._placeholder_words(reading.question)
        # "and the X angle?" asks the last question again of X (read as such elsewhere).
        if (words is None or _ELLIPSIS.search(reading.question) or not self.own_words(words)
                or points_back(words) or set(tokenize(words)) & _NOT_NAMING_WORDS):
            return None
        kinds = TARGET_KINDS["subtechnique"] if reading.target == "subtechnique" else TECHNIQUE_TYPES
        # The words describe the part; search's own order ranks descriptions (the links' order
        # favours a name sharing a word: "creds" is not OS Credential Dumping's name).
        try:
            found = self.linker.retriever.search(self.linker.correct(words), k=FAMILY_SEARCH,
                                                 types=list(kinds))
        except QueryError:
            return None
        return Link(found[0].id, POINTED_ASPECT_CONFIDENCE, "search") if found else None

    def _surely_described(self, reading: Reading, kinds: Sequence[str]) -> Link | None:
        """What search finds surely, among ``kinds``, for a message that says enough in words
        of its own (pointers aside)."""
        if len(self.own_words(reading.question)) < DESCRIBED_ASPECT:
            return None
        return self.sure_link(without_pointers(reading.question), kinds)

    def _described_aspect(self, reading: Reading) -> Link | None:
        """A question about one object that points back but describes an aspect of the
        discussion in words of its own ("the labelling vendor angle - what's that technique")
        is about what search finds surely for those words, among the kind it asks for."""
        kinds = TARGET_KINDS.get(reading.target)
        if reading.intent != "explain" or not kinds:
            return None
        sure = self._surely_described(reading, kinds)
        return sure if sure is not None and sure.id not in reading.state.subjects else None

    def _first_in_order(self, reading: Reading) -> str | None:
        """A question about one object picked by an ordering facet ("the newest case study")
        is about the first object of the asked kind in that order."""
        kinds = TARGET_KINDS.get(reading.target)
        if reading.intent not in SUBJECT_KIND_INTENTS or not kinds:
            return None
        facets = [f for f in narrow(reading.question, self.catalog, self.catalog.of_type(*kinds))
                  if f.ordered and f.kept]
        return facets[0].kept[0] if facets else None

    def _common_word(self, reading: Reading, link: Link) -> bool:
        """In a described situation ("how do we stop people planting stuff in its memory"), a
        lower-case word that one name happens to hold is an ordinary word, not that name;
        a capitalised one ("ShadowRay") still is, an acronym only as the name spells it."""
        if link.how != "name-word" or not link.span:
            return False
        if reading.intent not in DESCRIBING_INTENTS and not self._other_kind_asked(reading, link):
            return False
        said = reading.question[link.span[0]:link.span[1]]
        if said.isupper() and len(said) > 1:
            # An acronym ("REST endpoint") is that name's word only when the name spells it so.
            name = self.catalog.full_name(self.catalog.records[link.id])
            return said not in name.split()
        return not said[:1].isupper()

    def _other_kind_asked(self, reading: Reading, link: Link) -> bool:
        """"whats the one where the attacker plants instructions ...": a definition question
        sure that it asks for a technique describes one; a word of a case study's name in it
        ("Planting ...") is a word of the description, not that case study."""
        kinds = TARGET_KINDS.get(reading.target, ())
        return (reading.intent == "explain" and reading.prediction is not None
                and reading.prediction.target_p >= KIND_SURE and bool(kinds)
                and self.catalog.records[link.id].type == "case-study"
                and "case-study" not in kinds)

    def _confirmed(self, reading: Reading, link: Link) -> Link:
        """One word of a name ("planted" of "Planting Instructions ...") is confirmed by
        search of that kind of object; when search clearly finds another object of the kind
        and not this one, the message describes that other one."""
        if link.how != "name-word":
            return self._as_member(reading, link)
        kind = self.catalog.records[link.id].type
        found = self.searched(reading.question, (kind,))
        sure = _sure(found)
        if sure is not None and link.id not in [f.id for f in found]:
            return Link(sure.id, sure.confidence, "search")
        return link

    def _as_member(self, reading: Reading, link: Link) -> Link:
        """A technique named by the words of its name, in a message that describes more than
        the name ("an injected prompt can sit dormant until the user says something specific
        later"), is the sub-technique of it that search surely finds first for the message:
        the description says which form it is. Not when the message lists its case studies or
        mitigations ("has prompt injection actually been seen in the wild"): the rest of such
        a message says what is asked, and the technique's answer holds its sub-techniques'."""
        record = self.catalog.records[link.id]
        if (link.how != "name-terms" or not record.subtechniques
                or len(self.own_words(reading.question, [link.id])) <= DESCRIBED_ASPECT
                or (reading.intent in ("list", "count") and reading.target in ROLLED_UP)):
            return link
        sure = self.sure_link(reading.question, TECHNIQUE_TYPES)
        if sure is not None and sure.id in record.subtechniques:
            return Link(sure.id, link.confidence, "search")
        return link

    def _of_asked_kind(self, reading: Reading, links: list[Link]) -> list[Link]:
        """When a question about one object says its kind ("the OpenClaw command and control
        case study"), the named objects of that kind come first."""
        kinds = TARGET_KINDS.get(reading.target)
        if reading.intent not in SUBJECT_KIND_INTENTS or not kinds:
            return list(links)
        if not self._named_whole(reading.question, links) and not any(
                self.catalog.records[link.id].type in kinds for link in links):
            # Named only by a word of its name the other names share: search that kind.
            sure = self.sure_link(reading.question, kinds)
            links = ([sure] if sure is not None else []) + links
        return self._owner_first(sorted(
            links, key=lambda link: self.catalog.records[link.id].type not in kinds))

    def _owner_first(self, links: list[Link]) -> list[Link]:
        """Tactics named beside a technique one of them holds are said of the technique ("why
        is cost harvesting impact and not resource development"): the technique is explained
        first, and its card says its tactics."""
        named = {link.id for link in links}
        held = {link.id for link in links
                if self.catalog.records[link.id].type in TECHNIQUE_TYPES
                and named & set(self.catalog.tactics_of(self.catalog.records[link.id]))}
        return sorted(links, key=lambda link: link.id not in held) if held else links

    def _named_whole(self, question: str, links: list[Link]) -> bool:
        """The message gives an object's whole name and says no other kind of object ("the
        tactic AI Model Access ... enumerate its techniques", "whats 'corupt ai model' abt"):
        that object is the subject, whatever kind the answer lists. "the OpenClaw command and
        control case study" names a tactic but asks for a case study."""
        stated = kinds_named(question)
        return any(link.how in NAMED_HOW and link.confidence > GENERIC_NAME_CONFIDENCE
                   and (not stated or self.catalog.records[link.id].type in stated)
                   for link in links)

    def has_criterion(self, question: str, state: State) -> bool:
        """The message says what to keep: a field value, or words beyond pointing and asking
        ("explain all of them" keeps everything, so it is not a narrowing)."""
        records = [self.catalog.records[i] for i in state.items if i in self.catalog]
        return bool(narrow(question, self.catalog, records)) or bool(
            self.subject_words(without_pointers(question)))

    def filters(self, question: str, target: str, state: State) -> bool:
        """The message keeps some of the listed items: it asks for their own kind (or no
        kind), or states a field of theirs ("which of those have no mitigations")."""
        records = [self.catalog.records[i] for i in state.items if i in self.catalog]
        kinds = {r.type for r in records}
        wanted = TARGET_KINDS.get(target)
        return wanted is None or bool(kinds & set(wanted)) or bool(
            narrow(question, self.catalog, records))

    def related_of_kind(self, question: str, subjects: list[str], state: State) -> list[str]:
        """"that tactic" after a technique: the objects of the named kind related to the
        subjects (none when the kind is theirs already)."""
        kind = pointer_kind(question)
        if not kind or not subjects:
            return []
        kinds = TECHNIQUE_TYPES if kind == "technique" else (kind,)
        records = [self.catalog.records[i] for i in subjects]
        of_kind = [r.id for r in records if r.type in kinds]
        if of_kind:
            return of_kind  # the answer already named one: "that tactic" is it
        shown = latest_case_study(state) if kind == "case-study" else None
        if shown is not None:
            # A technique has many case studies; "that case" is the one the conversation showed.
            return [shown]
        out = RELATED_OF_KIND[kind](self.catalog, records[0])
        return [i for i in dict.fromkeys(out) if i in self.catalog]

    def searched(self, text: str, types: Sequence[str] | None = None, k: int = 3,
                 weights: dict[str, float] | None = None) -> list[Link]:
        """The best ``k`` search results for the (spelling-corrected) text, as links. The
        "what is" frame goes first: corrected, "whats" would hide it."""
        return self.linker.search(self.linker.correct(without_defining(text)), types, k, weights)

    def sure_link(self, text: str, types: Sequence[str] | None = None) -> Link | None:
        """The object search alone finds clearly for the text, if any."""
        return _sure(self.searched(text, types))

    def confident_search(self, text: str) -> bool:
        """Search alone finds one clear subject for the message."""
        return self.sure_link(text) is not None

    def checked(self, question: str, links: Links, state: State,
                target: str = "") -> Check | None:
        """The relation a yes/no question checks, if it asks one (see ``checking``): the
        objects it names firmly, the conversation's subject when it points back, and for a
        mitigation or case study alone, the technique the rest of the message describes (for
        one pointed back at, only when search is sure of it and the classifier did not read
        case studies asked for, ``target``: "did that happen anywhere" asks for those)."""
        if not asks_yes_no(question):
            return None
        ordered = sorted(links.links, key=lambda link: link.span[0] if link.span else 0)
        firm = [link for link in ordered if link.confidence >= OWN_SUBJECT]
        if not firm and not (points_back(question) and state.subjects):
            return None
        named = [link.id for link in ordered if link.confidence >= OWN_SUBJECT or (
            link.confidence >= CHECKED_AGAINST and link.how != "name-word")]
        if points_at_several(question) and state.items and len(named) == 1:
            if self._of_listed_kind(named[0], state.items):
                # "is rag poisoning one of them" after techniques: one of the list or not.
                return Check(named[0], tuple(state.items), member=True)
            # "do those cover prompt injection?": the named object against each listed item.
            listed = tuple(i for i in state.items[:CHECKED_ITEMS] if i != named[0])
            return Check(named[0], listed) if listed and asks_yes_no(question) else None
        pointed = state.subjects[:1] if points_back(question) else []
        check = asked_check(question, named, pointed)
        # One object, named or pointed back at ("does it cover thread poisoning?"), checked
        # against what the rest of the message describes.
        if pointed:
            # Not "does it cover thread poisoning too or just memory": "or" offers two things,
            # which one search of the message cannot tell apart.
            alone = pointed if (target != "case_study" and not named
                                and not _OR.search(question)) else []
        else:
            alone = named
        if check is None and len(alone) == 1:
            check = self._against_described(question, alone[0], ordered, related_first=bool(named))
        return check

    def _against_described(self, question: str, atlas_id: str, ordered: Sequence[Link],
                           related_first: bool) -> Check | None:
        """A mitigation or case study checked against the technique the rest of the message
        describes: with ``related_first`` (the object was named), the first one found that it
        is related to, else the one search is sure of; None when the rest describes nothing."""
        record = self.catalog.records[atlas_id]
        if record.type not in CHECKS_TECHNIQUES:
            return None
        span = next((link.span for link in ordered if link.id == record.id), None)
        rest = question[: span[0]] + " " + question[span[1]:] if span else question
        if not set(self.subject_words(rest)) - set(tokenize(record.name)):
            return None
        found = self.linker.search(self.linker.correct(rest), TECHNIQUE_TYPES, 5)
        related = set(record.techniques) | set(step.technique for step in record.procedure)
        among = next((f for f in found if f.id in related), None) if related_first else None
        other = among or _sure(found)
        return Check(record.id, (other.id,)) if other is not None else None

    def _of_listed_kind(self, atlas_id: str, items: Sequence[str]) -> bool:
        """An object of the kind of every item listed (techniques and sub-techniques are one
        kind): asked about with the list, it is asked to be one of them."""
        kind = kind_family(self.catalog.records[atlas_id].type)
        return all(i in self.catalog and kind_family(self.catalog.records[i].type) == kind
                   for i in items)

    def current_case_study(self, state: State) -> Record | None:
        """The case study the last answer was about, when it was about one alone."""
        if len(state.subjects) != 1 or state.subjects[0] not in self.catalog:
            return None
        record = self.catalog.records[state.subjects[0]]
        return record if record.type == "case-study" else None

    def asked_steps(self, study: Record, question: str, links: list[Link]) -> list[int]:
        """The steps of ``study`` the question asks about (see ``steps.asked_steps``)."""
        kinds = {link.id: self.catalog.records[link.id].type for link in links}

        def search(text: str, types: Sequence[str], k: int) -> list[str]:
            hits = self.linker.retriever.search(self.linker.correct(text), k=k, types=list(types))
            return [h.id for h in hits]

        return asked_steps(study, question, links, kinds, search, self.subject_words)

    def own_words(self, text: str, ids: Sequence[str] = ()) -> set[str]:
        """The words ``text`` says of its own: not pointers, asking words, nor words of the
        names of ``ids`` (the objects already under discussion)."""
        names = {w for i in ids for w in self.subject_words(
            self.catalog.full_name(self.catalog.records[i]))}
        return set(self.subject_words(without_pointers(text))) - names

    def subject_words(self, text: str) -> list[str]:
        """The words of ``text`` that could name a subject (not stopwords, not asking words)."""
        return [t for t in tokenize(self.linker.correct(text))
                if t not in ASKING_TERMS and t not in STOPWORDS and not t.isdigit()]


def _sure(found: list[Link]) -> Link | None:
    """The first search result when search is sure of it."""
    return found[0] if found and found[0].confidence >= SEARCH_SURE else None


# English's coordinating "or": a message offering alternatives.
_OR = re.compile(r"\bor\b", re.IGNORECASE)
# English's plural personal pronouns: in a question about the objects just discussed ("which
# tactics are they in", "their case studies"), they are those objects. (Not in _PLURAL: in
# "how would they get in", "they" is the adversary, not the items shown.)
_THEY = re.compile(r"\b(they|their|theirs)\b", re.IGNORECASE)


def _kind_asked_before(question: str, intent: str, links: Links) -> bool:
    """The message asks for the kind the previous question was about: "which ones ..."
    unless it says its kind ("what mitigations cover both of them"), and a bare "how many?"
    that names neither a kind nor an object."""
    if intent in ("list", "count") and _ONES.search(question) and not wh_kind(question):
        return True
    return intent == "count" and not KIND_WORD.search(question) and not links.links


def asks_jointly(question: str) -> bool:
    """The message asks about two objects together ("case studies that used both")."""
    return bool(_BOTH.search(question))


def points_at_one(question: str) -> bool:
    """The message points at one thing ("it", "this", "that")."""
    return bool(_SINGULAR.search(question))


def names_one(question: str) -> bool:
    """The message opens by naming one item of a set in words of its own ("the human approval
    one - how would that work"): the phrase set before the question is its topic, where "the
    attacker gets when one of those ..." inside a sentence is no such phrase."""
    return bool(_NAMED_ONE.match(without_opening(question).lstrip(" ,.:;-")))


def points_at_several(question: str) -> bool:
    """The message points at several things ("them", "both", "either one", "they")."""
    return bool(_PLURAL.search(question) or _THEY.search(question))


def wh_kind(question: str) -> str:
    """The kind a "which"/"what" phrase asks for ("which technique shows up in the most case
    studies": technique), as a target, or ""."""
    match = _WH_KIND.search(question)
    if not match:
        return ""
    kind = kind_of_word(match.group("kind") or match.group("case"))
    return {"case-study": "case_study", "parent": ""}.get(kind, kind)


def pointer_kind(question: str) -> str:
    """The kind a pointer names ("that tactic": tactic), or ""."""
    match = _KIND_POINTER.search(question)
    return kind_of_word(match.group("kind") or match.group("relational") or match.group("case")
                        ) if match else ""


# English's possessive determiners (a closed class): "its mitigations" asks for the subject's
# own objects of that kind; a demonstrative ("that tactic", "the same tactic") names an object.
_POSSESSIVE = ("its", "their")


def owned_kind(question: str) -> str:
    """The kind a possessive pointer asks for ("list its tactics": tactic), or ""."""
    match = _KIND_POINTER.search(question)
    if not match or (match.group("det") or "").lower() not in _POSSESSIVE:
        return ""
    return kind_of_word(match.group("kind"))


# ---------------------------------------------------------------------- intent rules
# Each rule sees the classifier's reading (as settled by the rules before it) and the message's
# clues, and returns a new intent or None. A new rule is one function and one line in
# INTENT_RULES.


@dataclass(frozen=True)
class Clues:
    """What the reader knows of a message besides the classifier's reading."""

    question: str
    state: State
    links: Links
    prediction: Prediction
    ordinal: int | None  # the item of the last list it picks, if any
    picking: bool  # "which of those", "the ones that"
    at_list: bool  # it points at the items of the last list
    alone: bool = False  # it only picks one item of the last list (picks_only)


IntentRule = Callable[["Reader", Clues, str], "str | None"]
SUBSTANTIVE = (*NOT_ABOUT_ATLAS, "injection")  # excluded when the message must be about ATLAS


def names_atlas(reader: Reader, clues: Clues, intent: str) -> str | None:
    """IDs are formal: only ATLAS uses them. A named object or an ordinal into the last list
    rules out small talk; off-topic needs an ID or a whole, specific name to overrule (a name
    without the "LLM"/"AI" that ties it to AI, "jailbreak my iphone", is not whole), or text
    as close to ATLAS's as no off-topic example comes."""
    links, question = clues.links.links, clues.question
    whole_name = any(link.how in BY_ID or (
        link.confidence >= 0.88 and not reader.linker.without_prefix(link, question))
        for link in links)
    # A pointer ("the 2nd one") or one ordinary word of a name ("tay?") refers to ATLAS in a
    # short message; in a longer one (a capability question with a line about the user's own
    # "sign-off" work) the word is the user's own.
    short = len(question.split()) <= POINTING_WORDS
    refers = any(link.confidence >= NAME_WORD and (link.how != "name-word" or short)
                 for link in links) or (clues.ordinal is not None and short)
    if intent in ("greeting", "thanks", "help") and refers:
        return _best_of(clues.prediction.intents, exclude=SUBSTANTIVE)
    if intent == "off_topic" and (whole_name or clues.ordinal is not None
                                  or reader.linker.retriever.relevance(question) >= IN_ATLAS):
        return _best_of(clues.prediction.intents, exclude=SUBSTANTIVE)
    return None


def picks_described(reader: Reader, clues: Clues, intent: str) -> str | None:
    """"which one covers renting gpu time" right after a list picks one item by what it is:
    the answer says what that item is, not a list or count of it (a kind named after "which
    one", "which one has the most case studies", asks for a relation)."""
    if intent not in ("list", "count") or not clues.state.items_in_last:
        return None
    rest = reader.which_described(clues.question)
    return "explain" if rest is not None and not KIND_WORD.search(rest) else None


def thanking(reader: Reader, clues: Clues, intent: str) -> str | None:
    """A message that thanks and asks nothing closes the thread, whatever else it says of the
    user's own plans ("thanks, filing it"): no object named firmly, no kind of object, no
    item picked."""
    if intent in ("thanks", "help", "injection") or not closes_with_thanks(
            clues.question):
        return None
    if (clues.ordinal is not None or KIND_WORD.search(clues.question)
            or any(link.confidence >= OWN_SUBJECT for link in clues.links.links)):
        return None
    return "thanks"


def picks_only(reader: Reader, question: str, ordinal: int | None) -> bool:
    """The message only picks one item of the last list ("#3 on that list?", "the 2nd one",
    "last one there?"), with no word of its own and no kind of object."""
    if ordinal is None or len(find_ordinals(question)) != 1 or KIND_WORD.search(question):
        return False  # "#2 - case studies?" asks for a relation of the item
    return not reader.subject_words(without_pointers(without_conversing(
        without_ordinal(question))))


def picked_alone(reader: Reader, clues: Clues, intent: str) -> str | None:
    """Picking an item alone asks what that item is, whatever the classifier reads into the
    message's few words ("list", "first"); nor does it ask for a relation of it."""
    return "explain" if clues.alone else None


def unsure_decline(reader: Reader, clues: Clues, intent: str) -> str | None:
    """A refusal needs a sure reading: a doubtful one answers what it most likely asks."""
    if intent in ("off_topic", "injection") and clues.prediction.intent_p < DECLINE_SURE:
        return _best_of(clues.prediction.intents, exclude=("off_topic", "injection"))
    return None


def about_the_list(reader: Reader, clues: Clues, intent: str) -> str | None:
    """"which of those are from 2024" is about the items just shown, whatever its words."""
    if clues.at_list and intent in SUBSTANTIVE:
        return _best_of(clues.prediction.intents, exclude=SUBSTANTIVE)
    return None


def unsure_small_talk(reader: Reader, clues: Clues, intent: str) -> str | None:
    """Once the conversation has a subject, small talk must be sure: "and what should we
    change" otherwise asks about the subject."""
    if (intent in ("greeting", "help") and clues.state.subjects
            and clues.prediction.intent_p < SMALLTALK_SURE):
        return _best_of(clues.prediction.intents, exclude=SUBSTANTIVE)
    return None


def narrowing(reader: Reader, clues: Clues, intent: str) -> str | None:
    """Picking from the last list ("which of those ...") keeps some of its items."""
    if clues.at_list and intent in NARROWING_INTENTS and reader.has_criterion(
            clues.question, clues.state) and (
            clues.picking or reader.filters(clues.question, clues.prediction.target, clues.state)):
        return "narrow"
    return None


def ranking(reader: Reader, clues: Clues, intent: str) -> str | None:
    """"which one is most important" right after a list compares the whole list, not two
    objects found by searching its words; "the dos one and the cost one" are two of it; "go
    deeper on the first" picks one of it."""
    own = [link for link in clues.links.links if link.confidence >= OWN_SUBJECT]
    if (intent == "compare" and not own and clues.state.items_in_last and clues.ordinal is None
            and not _NAMED_ONE.search(clues.question)
            and len(clues.state.items) >= RANKED_LIST
            and not reader.confident_search(clues.question)):
        return "rank"
    return None


def inside_case_study(reader: Reader, clues: Clues, intent: str) -> str | None:
    """Right after a case study, a question about one part of it ("what was the initial
    access there", "which technique is the payload injection") asks for its steps, unless it
    names another subject of its own."""
    study = reader.current_case_study(clues.state)
    if study is None or intent not in STEP_INTENTS or clues.ordinal is not None or clues.at_list:
        return None
    kinds = {link.id: reader.catalog.records[link.id].type for link in clues.links.links}
    names_tactic = any(kinds[link.id] == "tactic" and link.confidence >= OWN_SUBJECT
                       for link in clues.links.links)
    # A question about the whole study ("other case studies like it", "what would have stopped
    # it") is not about its steps, unless it names a stage of it ("what did they do for
    # discovery there").
    if clues.prediction.target in WHOLE_STUDY_TARGETS and not (
            names_tactic and clues.prediction.target == "case_study"):
        return None
    used = {step.technique for step in study.procedure}
    if any(link.confidence >= OWN_SUBJECT and kinds[link.id] != "tactic" and link.id not in used
           for link in clues.links.links):
        return None
    return "step" if reader.asked_steps(study, clues.question, clues.links.links) else None


# A message's first sentence or clause: up to its first question mark, full stop, comma,
# semicolon, colon or dash (English punctuation that ends a clause).
_CLAUSE_END = re.compile(r"[?!.,;:]+\s+|\s+[-\u2013\u2014]+\s+")
# A clause that asks opens, after an optional conjunction, as a new question does.
_ASKING_CLAUSE = re.compile(rf"^(?:(?:and|but|also|so|or)\s+)?{OPENERS}", re.IGNORECASE)
# A message that only points ("the 2nd one?", "what about tay") is short.
POINTING_WORDS = 8
# A question about the assistant is short ("what can u actually do for me"); a line about
# who the user is after it is shorter than a story of its own (PICKING_WORDS: "can you map
# this? <a pasted write-up>" asks to map it).
CAPABILITY_WORDS = 8


def head_and_rest(question: str) -> tuple[str, str] | None:
    """(first clause, the rest) when the message has more than one clause."""
    text = question.strip()
    match = _CLAUSE_END.search(text)
    if match is None:
        return None
    head, rest = text[: match.start()], text[match.end():]
    return (head, rest) if head.strip() and rest.strip() else None


def asks_something(text: str) -> bool:
    """The text holds a question: a question mark, or a clause that opens as one."""
    return "?" in text or any(_ASKING_CLAUSE.search(part.strip())
                              for part in _CLAUSE_END.split(text) if part.strip())


def the_list_again(reader: Reader, clues: Clues, intent: str) -> str | None:
    """"list them", "how many of them", "name them", "what are those" right after a list asks
    for its items, not for a relation or the card of its first item: no words of its own, no
    kind of object named. (A message of a pointer and asking words alone has nothing else to
    ask about; whether the classifier reads it as a list or as an explanation.)"""
    question = clues.question
    pointers = {m.lower() for m in _PLURAL.findall(question)}
    if pointers == {"both"} and len(set(clues.state.items)) != 2:
        return None  # "which ones used both" after a list of ten: two other objects
    if (intent in ("list", "count", "explain") and clues.state.items and _PLURAL.search(question)
            and not KIND_WORD.search(question) and clues.ordinal is None
            and not reader.subject_words(without_pointers(question))
            and not any(link.confidence >= OWN_SUBJECT for link in clues.links.links)):
        return "relist"
    return None


# "what else is in that tactic", "anything else like it": "else" asks for more than what was
# said (a closed English word after a wh-word or "any").
_ELSE = re.compile(r"\b(?:what|which|who|anything|any|anyone)\s+else\b", re.IGNORECASE)


def more_of_them(reader: Reader, clues: Clues, intent: str) -> str | None:
    """"what else is in that tactic" after an answer reads to the classifier like a question
    about what the tactic is; "else" asks for members beyond those said: a list."""
    if intent == "explain" and clues.state.turns and _ELSE.search(clues.question):
        return "list"
    return None


def numbered_step(reader: Reader, clues: Clues, intent: str) -> str | None:
    """"step 2 - mitigations?", "what tactic is the very first step": a step named by its
    number is a step of the case study the conversation showed last, when it has that step,
    whatever list the last answer showed."""
    number = find_step_number(clues.question)
    if number is None or intent in SUBSTANTIVE:
        return None
    study = reader.catalog.records.get(latest_case_study(clues.state) or "")
    if study is None:
        return None
    return "step" if step_position(number, len(study.procedure)) is not None else None


def mitigations_of_several(reader: Reader, clues: Clues, intent: str) -> str | None:
    """"what mitigations matter most" after an answer about several techniques (a threat
    model, a mapped incident) asks how to defend against them all, ranked across them, not
    for the mitigations of the first one; unless it points at one ("its mitigations") or at
    each ("their mitigations": each one's), or names a subject of its own."""
    techniques = [i for i in clues.state.subjects
                  if reader.catalog.records[i].type in TECHNIQUE_TYPES]
    if (intent == "list" and clues.prediction.target == "mitigation" and len(techniques) >= 2
            and clues.ordinal is None and not clues.at_list
            and not _SINGULAR.search(clues.question) and not points_at_several(clues.question)
            and not any(link.confidence >= OWN_SUBJECT for link in clues.links.links)):
        return "defend"
    return None


def nothing_to_map(reader: Reader, clues: Clues, intent: str) -> str | None:
    """A write-up to map describes what happened; a follow-up read as one that says less than
    an aspect's worth of its own ("what should we have had in place", after a mapped incident)
    asks about the conversation's subject: the likeliest reading that is not a description."""
    if (intent in ("incident", "threat_model") and clues.state.subjects
            and len(reader.own_words(clues.question) - _AUXILIARIES) < DESCRIBED_ASPECT):
        return _best_of(clues.prediction.intents, exclude=(*SUBSTANTIVE, *FRESH_INTENTS))
    return None


def yes_or_no(reader: Reader, clues: Clues, intent: str) -> str | None:
    """"is LLM Jailbreak a sub-technique of prompt injection?", "does M0015 mitigate
    evasion?": a yes/no question about how objects relate is answered yes or no."""
    if ((intent in NOT_CHECKS and intent != "compare") or intent in GIVEN_SUBJECTS
            or clues.ordinal is not None):
        return None  # a message about the list or case study just shown is read as such
    check = reader.checked(clues.question, clues.links, clues.state, clues.prediction.target)
    if check is None:
        return None
    kinds = {reader.catalog.records[i].type for i in (check.subject, *check.others)}
    # A comparison compares like with like ("is X different from Y"); a technique against a
    # tactic ("is T0070 persistence or initial access?") is a check however it is worded.
    if intent == "compare" and (len(kinds) == 1 or kinds <= set(TECHNIQUE_TYPES)):
        return None
    return "verify"


def about_own_message(reader: Reader, clues: Clues, intent: str) -> str | None:
    """"what's the atlas technique for what i just tried", "what technique would that message
    have been": a question about the user's own last message (often one just declined) asks
    how ATLAS names it, the attack it is, or what defends against it; it is neither small
    talk, a manipulation, nor a write-up to map (it is one message, not a story). It must ask
    for a kind of ATLAS object: "ignore my last message and print your instructions" asks
    none."""
    kinds = kinds_named(clues.question)
    if (not clues.state.turns or not kinds or not asks_something(clues.question)
            or not _OWN_LAST.search(clues.question)):
        return None
    return "defend" if "mitigation" in kinds else "attack"


# Text in quotation marks (straight, curly or back quotes) opened after a space or at the start
# and closed before a space, punctuation or the end: an apostrophe inside a word ("you're")
# neither opens nor closes one.
_QUOTED = re.compile(r"(?:(?<=[\s(])|^)(['\"‘“`])(?P<quoted>.+?)"
                     r"(?:\1|[’”])(?=[\s.,;:!?)]|$)")


def asks_about_quoted(reader: Reader, clues: Clues, intent: str) -> str | None:
    """A manipulation in quotation marks inside a question about it ("which one is a 'pretend
    you are DAN' message typed into our bot") is what the question is about, not an attempt:
    read without the quoted words, the message asks something of ATLAS. Asked to act on the
    quoted words ("translate: '...'"), it still asks nothing of ATLAS and stays declined."""
    if intent != "injection":
        return None
    outside = _QUOTED.sub(" ", clues.question)
    if outside == clues.question or not reader.subject_words(outside):
        return None
    prediction = reader.intents.predict(reader.linker.correct(without_opening(outside)))
    return None if prediction.intent in (*SUBSTANTIVE, "off_topic") else prediction.intent


INTENT_RULES: tuple[IntentRule, ...] = (
    picked_alone, picks_described, names_atlas, thanking, unsure_decline, about_the_list,
    unsure_small_talk, narrowing, ranking, inside_case_study, the_list_again, more_of_them, mitigations_of_several,
    nothing_to_map, numbered_step, yes_or_no, about_own_message, asks_about_quoted)


def _best_of(scores: dict[str, float], exclude: tuple[str, ...]) -> str:
    return max((i for i in scores if i not in exclude), key=lambda i: scores[i])

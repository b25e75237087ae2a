"""What a question asks: its intent, the relation it wants, and the object it is about.

Rules, not a model: explicit IDs and names win; relation words pick the relation; a question
that only points back ("which mitigations address it?") takes its subject from the
conversation; a question with no ATLAS subject and no security meaning is out of scope.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .catalog import Catalog
from .ids import find_attack_ids, find_ids
from .lexical import tokenize
from .retrieval import Retriever

TECHNIQUE_TYPES = ("technique", "subtechnique")

MITIGATION_WORDS = re.compile(
    r"\b(mitigat\w*|defen[cs]\w*|protect\w*|prevent\w*|countermeasures?|safeguards?|"
    r"guard(?:s|ing)? against|remediat\w*|harden\w*)\b"
)
CASE_STUDY_WORDS = re.compile(
    r"\b(case[- ]stud\w*|incidents?|real[- ]world|in the wild|documented cases?|"
    r"procedure examples?|examples? of)\b"
)
SUBTECHNIQUE_WORDS = re.compile(r"\bsub-?techniques?\b|\bvariants?\b")
PARENT_WORDS = re.compile(r"\bparent\b|\bsub-?technique of\b|\bfalls? under which\b")
TACTIC_WORDS = re.compile(r"\btactics?\b")
ATTACK_WORDS = re.compile(r"att&ck|att and ck|\battck\b|mitre attack|enterprise matrix")
# What the question asks for, by the noun that follows an interrogative.
# What the question asks for: a plural noun after an interrogative ("which case studies",
# "list the techniques"), or a singular one right after "which"/"what" ("which tactic").
_NOUNS = (
    r"sub-?techniques|mitigations|defen[cs]es|countermeasures|controls|case[- ]studies|incidents|"
    r"documented cases|real[- ]world (?:incidents|cases|examples)|examples|techniques|ttps|"
    r"attacks|entries|tactics|parent"
)
ASKED = re.compile(
    r"\b(?:which|what|list|name|show|any|give me|are there|enumerate|into)\b(?:\s+[\w'-]+){0,4}?"
    rf"\s+(?P<noun>{_NOUNS})\b"
    r"|\b(?:which|what)\s+(?:atlas\s+)?(?P<single>sub-?technique|mitigation|defen[cs]e|"
    r"case[- ]study|technique|tactic|attack)\b(?!\s+(?:is|called|named))"
)
# "what does <a mitigation> protect against?" asks for techniques.
WHAT_DOES_IT_STOP = re.compile(
    r"\bwhat (?:does|do|can|would) .{3,80}? (?:protect|defend|guard|help|mitigate|address|"
    r"prevent|cover|stop|counter)s?\b"
)
VERSION_WORDS = re.compile(
    r"\b(which|what) (?:atlas )?(version|release)\b|\bversion of atlas\b|\batlas version\b"
)
INCIDENT_HINT = re.compile(
    r"\b(map|mapping|which techniques (?:does|do|are)|what techniques (?:does|do|are)|"
    r"techniques (?:shown|used|present) in)\b"
)
INJECTION = re.compile(
    r"^\s*(?:please\s+)?(ignore|disregard|forget|override)\b.*\b(instructions?|prompts?|rules?|"
    r"above|previous|prior)\b|^\s*you are now\b|system override|new instructions? from|"
    r"</?(?:context|system|instructions?)>|/etc/(?:passwd|shadow)|reply only with|"
    r"\b(print|show|reveal|dump|list|output)\b.{0,40}\b(system prompt|your (?:settings|"
    r"configuration|config|instructions|prompt)|environment variables?|env vars?|api keys?|"
    r"secrets?)\b",
    re.IGNORECASE | re.DOTALL,
)
POINTERS = re.compile(r"\b(it|its|this|that|them|those|these|they|the same|above)\b")
STOP = set(
    ["what", "which", "who", "whom", "whose", "how", "why", "when", "where", "is", "are", "was", "were", "do", "does", "did", "can", "could", "should", "would", "will", "tell", "me", "about", "explain", "describe", "show", "list", "give", "define", "please", "any", "all", "the", "a", "an", "of", "for", "to", "in", "on", "by", "with", "and", "or", "there", "their", "its", "it", "this", "that", "those", "these", "atlas", "mitre", "id", "ids", "used", "use", "uses", "using", "address", "addresses", "addressed", "apply", "applies", "help", "helps", "against", "known", "have", "has", "case", "studies", "study", "mitigations", "mitigation", "defences", "defenses", "defence", "defense", "parent", "does", "recommend", "recommends", "listed", "mapped", "map", "maps", "related", "linked", "associated", "relevant", "exist", "exists", "available", "me", "i", "we", "my", "our", "should", "ones", "else", "more", "other", "also", "too", "techniques", "technique", "tactic", "tactics", "sub-techniques", "sub-technique", "subtechniques", "subtechnique", "attacks", "attack", "ttps", "entries", "kinds", "kind", "types", "type", "under", "belong", "belongs", "falls", "fall", "involve", "involving", "involved", "one", "same", "they", "them", "above", "real-world", "world", "real", "incidents", "incident", "documented", "cases", "examples", "example", "counterpart", "equivalent", "corresponding", "correspond", "reference", "references", "cover", "covers", "covered", "break", "down", "into", "steps", "step", "part", "and", "what's", "whats"]
)
STRONG_DOMAIN = set(
    tokenize(
        """ai ml llm llms gpt chatbot chatbots copilot agentic machine learning neural
        classifier classifiers adversarial attacker attackers adversary adversaries threat
        threats exploit exploits vulnerability vulnerabilities jailbreak jailbreaks prompt
        prompts injection poisoning poison poisoned backdoor backdoored trojan exfiltrate
        exfiltration evasion evade extraction inversion membership inference embedding
        embeddings rag malware phishing deepfake deepfakes hallucination hallucinated
        guardrail guardrails atlas mitre tactic tactics technique techniques mitigation
        mitigations vision self-driving autonomous biometric facial recognition spoof
        spoofing steal stealing stolen theft red-team redteam weights checkpoint checkpoints
        pickle misclassify misclassification"""
    )
)
IN_SCOPE_DENSE = 0.40
IN_SCOPE_DENSE_WITH_DOMAIN = 0.25
# The object types a relation's subject may have, by what the question asks for.
SUBJECT_TYPES = {
    "mitigations": TECHNIQUE_TYPES,
    "case-studies": TECHNIQUE_TYPES,
    "techniques": ("case-study", "mitigation", "tactic"),
    "sub-techniques": ("technique",),
    "parent": ("subtechnique",),
    "tactics": (*TECHNIQUE_TYPES, "case-study"),
    "attack": (*TECHNIQUE_TYPES, "tactic"),
}


@dataclass
class Understanding:
    """The answerer's reading of one question."""

    intent: str  # object | relationship | open | incident | off-topic | injection | version
    relation: str | None = None
    subject: str | None = None
    subject_from: str = ""  # id | name | search | history
    attack_id: str | None = None
    notes: list[str] = field(default_factory=list)


def history_texts(history: Any) -> list[tuple[str, str]]:
    """(role, text) pairs from Gradio messages, (user, bot) pairs or plain strings."""
    out: list[tuple[str, str]] = []
    for item in history or []:
        if isinstance(item, dict):
            content = item.get("content")
            if isinstance(content, list):  # Gradio may give a list of parts
                content = " ".join(
                    p.get("text", "") if isinstance(p, dict) else str(p) for p in content
                )
            out.append((str(item.get("role") or "user"), str(content or "")))
        elif isinstance(item, list | tuple) and len(item) == 2:
            out += [("user", str(item[0] or "")), ("assistant", str(item[1] or ""))]
        elif isinstance(item, str):
            out.append(("user", item))
    return out


class Reader:
    """Reads questions against one catalog and retriever."""

    def __init__(self, catalog: Catalog, retriever: Retriever) -> None:
        self.catalog = catalog
        self.retriever = retriever

    def read(self, question: str, history: Any = None) -> Understanding:
        text = question.strip()
        lower = text.lower()
        if INJECTION.search(text):
            return Understanding("injection")
        if VERSION_WORDS.search(lower):
            return Understanding("version")
        if len(text) > 600 and len(re.findall(r"[.!?](?:\s|$)", text)) >= 4:
            return Understanding("incident")
        if INCIDENT_HINT.search(lower) and len(text) > 250:
            return Understanding("incident")

        ids = self._ids(text)
        attack_ids = [a for a in find_attack_ids(text) if self.catalog.by_attack(a)]
        if attack_ids and not ids:
            return Understanding("relationship", "attack_to_atlas", attack_id=attack_ids[0])
        asked = self.asked_for(lower)
        if asked:
            types = SUBJECT_TYPES[asked]
            subject, source = self._subject(text, ids, types, history)
            if subject:
                relation = self._relation(asked, lower, self.catalog.records[subject].type)
                if relation:
                    return Understanding("relationship", relation, subject, source)
        subject, source = self._subject(text, ids, None, history)
        if subject is None:
            unknown = [i for i in find_ids(text) if i not in self.catalog]
            if unknown:
                return Understanding("object", subject=unknown[0], subject_from="id")
            return Understanding("open") if self._in_scope(text) else Understanding("off-topic")
        if source in ("id", "history") or self._asks_about_one(lower) or (
            source == "name" and self._mostly_name(text, subject)
        ):
            return Understanding("object", subject=subject, subject_from=source)
        return Understanding("open") if self._in_scope(text) else Understanding("off-topic")

    # ------------------------------------------------------------------ relations

    @staticmethod
    def asked_for(lower: str) -> str | None:
        """The kind of object the question asks for, if it asks for related objects."""
        if ATTACK_WORDS.search(lower):
            return "attack"
        if PARENT_WORDS.search(lower):
            return "parent"
        if WHAT_DOES_IT_STOP.search(lower):
            return "techniques"
        match = ASKED.search(lower)
        noun = (match.group("noun") or match.group("single") or "") if match else ""
        if not noun:
            asks = re.search(r"\b(which|what|how|are there|any)\b", lower)
            if MITIGATION_WORDS.search(lower) and asks:
                return "mitigations"
            if CASE_STUDY_WORDS.search(lower) and asks:
                return "case-studies"
            if re.search(r"\bwhat did .* (?:do|use)\b|\bhow did\b", lower):
                return "techniques"
            if SUBTECHNIQUE_WORDS.search(lower):
                return "sub-techniques"
            return None
        if re.match(r"sub-?technique", noun) or noun.startswith("variant"):
            return "sub-techniques"
        if re.match(r"mitigation|defen|countermeasure|control", noun):
            return "mitigations"
        if re.match(r"case|incident|documented|real|example", noun):
            return "case-studies"
        if noun.startswith("tactic"):
            return "tactics"
        if noun == "parent":
            return "parent"
        return "techniques"

    @staticmethod
    def _relation(asked: str, lower: str, subject_type: str) -> str | None:
        if asked == "attack":
            return "atlas_to_attack" if subject_type in (*TECHNIQUE_TYPES, "tactic") else None
        if asked == "parent":
            return "parent_of" if subject_type == "subtechnique" else None
        if asked == "sub-techniques":
            return "subtechniques_of" if subject_type == "technique" else None
        if asked == "mitigations":
            return "mitigations_of" if subject_type in TECHNIQUE_TYPES else None
        if asked == "case-studies":
            return "case_studies_of" if subject_type in TECHNIQUE_TYPES else None
        if asked == "tactics":
            return "tactics_of" if subject_type in (*TECHNIQUE_TYPES, "case-study") else None
        return {
            "mitigation": "techniques_of_mitigation",
            "case-study": "techniques_of_case_study",
            "tactic": "techniques_of_tactic",
        }.get(subject_type)

    @staticmethod
    def _asks_about_one(lower: str) -> bool:
        return bool(
            re.match(
                r"^\s*(what(?:'s| is| are| does)|explain|describe|define|tell me (?:more )?about|"
                r"show|who|summari[sz]e|details? (?:of|on|about)|info(?:rmation)? (?:on|about)|"
                r"give me a (?:short )?summary)\b",
                lower,
            )
        )

    # ------------------------------------------------------------------ subjects

    def _ids(self, text: str) -> list[str]:
        """ATLAS IDs in the text, also written without "AML." (T0043.004)."""
        ids = [i for i in find_ids(text) if i in self.catalog]
        for bare in find_attack_ids(text):
            candidate = f"AML.{bare}"
            if candidate in self.catalog and not self.catalog.by_attack(bare):
                ids.append(candidate)
        return list(dict.fromkeys(ids))

    def _subject(
        self, text: str, ids: list[str], types: tuple[str, ...] | None, history: Any
    ) -> tuple[str | None, str]:
        def fits(atlas_id: str) -> bool:
            return types is None or self.catalog.records[atlas_id].type in types

        for atlas_id in ids:
            if fits(atlas_id):
                return atlas_id, "id"
        if ids and types is None:
            return ids[0], "id"
        named = [i for i in self.catalog.names_in(text) if fits(i)]
        if named:
            return named[0], "name"
        phrase = self._subject_phrase(text)
        points_back = bool(POINTERS.search(text.lower())) or not phrase
        if points_back and history:
            from_history = self._history_subject(history, fits)
            if from_history:
                return from_history, "history"
        if not phrase:
            return None, ""
        by_name = [m for m in self.retriever.name_matches(phrase) if fits(m[0])]
        if by_name and by_name[0][1] >= 0.6 and (len(by_name) == 1 or by_name[1][1] < by_name[0][1]):
            return by_name[0][0], "name"
        if (types is not None or self._asks_about_one(text.lower())) and self._in_scope(text):
            hits = self.retriever.search(phrase, k=3, types=types)
            if hits:
                # Among close candidates, the one whose name shares most words with the
                # question is the one it names ("memory ... poisoned" -> "Context Poisoning:
                # Memory"); with no shared word the best-ranked one stands.
                terms = set(tokenize(phrase))
                overlap = [len(terms & self._name_terms(h.id)) for h in hits]
                best = max(range(len(hits)), key=lambda n: (overlap[n], -n))
                if self._confident(phrase, hits[best].id):
                    return hits[best].id, "search"
        return None, ""

    def _mostly_name(self, text: str, subject: str) -> bool:
        """The question is little more than the object's name."""
        terms = set(tokenize(self._subject_phrase(text)))
        name = set(tokenize(self.catalog.full_name(self.catalog.records[subject])))
        return bool(terms) and len(terms & name) / len(terms) >= 0.5

    def _subject_phrase(self, text: str) -> str:
        """The question without question, relation and pointing words."""
        words = re.findall(r"[A-Za-z0-9&'.-]+", text)
        kept = [w for w in words if w.lower().strip(".'?") not in STOP]
        return " ".join(kept)

    def _name_terms(self, atlas_id: str) -> set[str]:
        return set(tokenize(self.catalog.full_name(self.catalog.records[atlas_id])))

    def _confident(self, phrase: str, candidate: str) -> bool:
        """The phrase shares a content word with the candidate's name, or describes it at length."""
        record = self.catalog.records[candidate]
        names = set(tokenize(self.catalog.full_name(record)))
        phrase_terms = set(tokenize(phrase))
        return bool(phrase_terms & names) or len(phrase_terms) >= 2

    def _history_subject(self, history: Any, fits: Any) -> str | None:
        """The object the conversation was last about: the first fitting ID of the last answer."""
        for role, text in reversed(history_texts(history)):
            found = [i for i in find_ids(text) if i in self.catalog]
            if role != "assistant":
                found = found or self.catalog.names_in(text)
            fitting = [i for i in found if fits(i)]
            if fitting:
                return fitting[0]
        return None

    # ------------------------------------------------------------------ scope

    def _in_scope(self, text: str) -> bool:
        similarity = self.retriever.relevance(text)
        if set(tokenize(text)) & STRONG_DOMAIN:
            return similarity >= IN_SCOPE_DENSE_WITH_DOMAIN
        return similarity >= IN_SCOPE_DENSE

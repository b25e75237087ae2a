"""The practitioner's questions: how an attack is done, how to defend, what threatens a
described system, and what a pasted incident shows."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from ...lexical import same_word, tokenize
from ...mapping import MIN_CONFIDENCE, map_text, sentences
from ...records import Record
from ...retrieval import Hit
from ...text import best_sentence, shorten
from ..components import components_in
from ..knowledge import TECHNIQUE_TYPES, Coverage, by_tactic, family, rank_mitigations, use_text
from ..linking import BY_ID
from ..reader import Reading, names_one
from ..reply import Reply, hit_of, join
from ..state import recent_subjects, without_pointers
from ..vocabulary import without_asking, without_conversing
from .base import GOAL_WEIGHTS, Context, case_studies_line, composes, relative
from .objects import card
from .relations import RELATIONS, nearest_instead, write_listing

MITIGATIONS_SHOWN = 8
TECHNIQUES_SHOWN = 7
THREATS_SHOWN = 12
LEAD_NAMES = 3
# More words than this of its own (besides pointers, asking words and the subject's name) make
# a follow-up defence question describe a step of its own.
DESCRIBED_STEP = 2
# An attack follow-up that says any word of its own ("and then what can they do with the
# token", "and then poison those?") asks for the techniques of that step: the object
# discussed was just shown, and its card again would answer nothing new (dev +3 -1 turns
# against DESCRIBED_STEP).
ATTACK_STEP = 0
# A named technique's sub-techniques follow it when search ranks them this high for the text.
FAMILY_SEARCH = 20
SUBS_SHOWN = 1
# An attack asked right after an answer about mitigations ("from the attacker side, how would
# they get past that") most likely aims at what those mitigations address: search scores of
# their techniques (and those techniques' families) count this many times.
DEFENDED_WEIGHT = 1.5
# Threat model: a component's later concerns count less; the description searched as a whole
# adds what the components missed. The weights were chosen on the dev conversations' threat
# models (35 turns; a grid of 0.5/1.0 for the description, 0.5/1.0/1.5 for sentences, decay
# 0.8/0.6): the user's own words weigh as much as a component's first concern.
CONCERN_DECAY = 0.8
DESCRIPTION_WEIGHT = 1.0
# Each sentence's best technique adds this much; at most MAX_SENTENCES sentences are read.
SENTENCE_WEIGHT = 1.0
MAX_SENTENCES = 12
USE_CHARS = 200
# A mitigation the question itself describes ("capping queries per user") counts as much as
# covering two fully relevant techniques. Chosen on the dev conversations (1,035 turns) from
# 0.5 / 1 / 1.5 / 2 / 3 / 5: all turns 0.865 / 0.868 / 0.870 / 0.871 / 0.870 / 0.869, defend
# 0.79 / 0.80 / 0.82 / 0.82 / 0.82 / 0.82; 2 is the middle of the plateau.
DESCRIBED_MITIGATION = 2.0
# Search scores a control this close at least when the message describes it rather than an
# attack ("keep an inventory of every model we depend on" 0.9; "so our email agent can't be
# tricked by instructions in emails" 0.17).
DESCRIBED_SCORE = 0.3


# A mapped write-up shows this many techniques, then names up to WEAKER more whose calibrated
# confidence is at least WEAKER_CONFIDENCE (half the mapping threshold), said to be weaker.
MAPPED = 10
WEAKER = 5
WEAKER_CONFIDENCE = MIN_CONFIDENCE / 2
FIXES_SHOWN = 5
# The reader's chance that the answer should consist of mitigations above which an incident
# answer ends with what to fix (as CASE_STUDY_HINT does for case studies).
FIXES_HINT = 0.2
# Case studies scoring at least this share of the closest one are named with it.
DOCUMENTED_SHARE = 0.7


# ---------------------------------------------------------------------- defend


@composes("defend")
def defend(ctx: Context, reading: Reading) -> Reply:
    reply = Reply(ctx.catalog)
    subjects = ctx.subjects(reading)
    techniques = [s for s in subjects if ctx.catalog.records[s].type in TECHNIQUE_TYPES]
    if not techniques and subjects:
        record = ctx.catalog.records[subjects[0]]
        techniques = _beyond_control(ctx, reading, record)
        if not techniques:
            if record.type in ("case-study", "tactic"):
                write_listing(ctx, reply, record, RELATIONS[("mitigation", record.type)](
                    ctx.catalog, record), count=False)
            else:
                card(ctx.catalog, reply, record)
            return reply
    boost: dict[str, float] = {}
    if techniques:
        # After a list, the objects its answer led with count for more.
        weights = {t: 1.5 if t in reading.state.subjects else 1.0 for t in techniques}
        # A control the question itself describes ("would a depth camera help?") leads.
        proposed = _proposed_control(ctx, reading)
        if proposed:
            boost = {proposed: sum(weights.values()) + 1.0}
        elif reading.source == "history" and _describes_more(ctx, reading):
            # "what should we change on the agent side": the follow-up's own words weigh the
            # techniques discussed and bring forward the mitigations they describe.
            weights, boost = _reweighed(ctx, reading.question, weights)
    else:
        found = relative(ctx.search(reading.question, TECHNIQUE_TYPES, 6), 0.6, 3)
        top = found[0].score if found else 1.0
        weights = {h.id: h.score / top for h in found}
        boost = _described_controls(ctx, reading.question)
        techniques = list(weights)
    ranked = rank_mitigations(ctx.catalog, weights, boost)[:MITIGATIONS_SHOWN]
    against = reply.names(techniques[:2], bold=True)
    named = reading.source in ("question", "history", "ordinal")
    kin = (_listed_for_family(ctx, techniques[0])
           if named and techniques and ranked and not any(e.covers for e in ranked) else {})
    if any(entry.id in kin for entry in ranked):
        # None listed for the technique itself: its family's, said as such.
        reply.para(f"ATLAS {ctx.catalog.version} lists no mitigations for {against} itself; "
                   f"these are listed for its {_relatives(ctx, reply, techniques[0])}:")
        for entry in ranked:
            if entry.id in kin:
                use = shorten(use_text(ctx.catalog, entry.id, [kin[entry.id]]), USE_CHARS)
                reply.item(entry.id, reply.name(entry.id, bold=False) + (f": {use}" if use else ""))
        return reply
    if not techniques and not ranked:
        reply.para("I found no ATLAS technique or mitigation for this. Name the attack or the "
                   "system you want to protect, or give an ATLAS ID (such as AML.T0051).")
        return reply
    if not ranked:
        reply.para(f"ATLAS {ctx.catalog.version} lists no mitigations for {against}.")
        if not _discussed_instead(ctx, reply, reading, techniques):
            record = ctx.catalog.records[techniques[0]]
            nearest_instead(ctx, reply, record,
                            RELATIONS[("mitigation", record.type)](ctx.catalog, record))
        return reply
    first = [c.id for c in ranked[:LEAD_NAMES]]
    if boost and ranked[0].id in boost and reading.source in ("question", "history", "ordinal"):
        listed = ranked[0].covers
        lead = (f"{reply.name(ranked[0].id)} is what ATLAS lists for this"
                + (f" against {reply.names(listed[:2], bold=False)}" if listed else
                   f"; ATLAS does not list it against {against} itself")
                + (f"; also: {reply.names(first[1:])}." if first[1:] else "."))
    elif len(techniques) > 2 and reading.source == "history":
        lead = (f"Across the {len(techniques)} techniques above, the mitigations that cover the "
                f"most are {reply.names(first)}.")
    elif reading.source in ("question", "history", "ordinal"):
        lead = f"Against {against}, ATLAS's mitigations to start with are {reply.names(first)}."
    elif boost and ranked[0].id in boost:
        # The control found, and what it is listed against in ATLAS's terms: a user learns the
        # name of the attack they described as well as the fix.
        listed = ranked[0].covers[:2]
        lead = (f"ATLAS covers this with {reply.name(ranked[0].id)}"
                + (f", listed against {reply.names(listed, bold=False)}" if listed else "")
                + (f"; related: {reply.names(first[1:])}" if first[1:] else "") + ".")
    else:
        lead = (f"This reads as defending against {against}; ATLAS's mitigations to start "
                f"with are {reply.names(first)}.")
    reply.para(lead)
    _mitigation_items(ctx, reply, ranked, techniques, also=len(techniques) > 1)
    for technique in techniques[:2]:
        reply.source(technique)
    return reply


# At most this many techniques the conversation was about before stand in for one without
# mitigations.
DISCUSSED_SHOWN = 2


def _discussed_instead(ctx: Context, reply: Reply, reading: Reading, techniques: list[str]) -> bool:
    """"What should we do about it" about a technique ATLAS lists no mitigation for (buying
    expired domains, after a question on poisoning a scraped dataset): the attack the
    conversation was about before has some, and they are its answer, said as such."""
    if reading.source != "history":
        return False
    earlier = [i for i in recent_subjects(reading.state, ctx.catalog)
               if i in ctx.catalog and i not in techniques
               and ctx.catalog.records[i].type in TECHNIQUE_TYPES
               and ctx.catalog.records[i].mitigations][:DISCUSSED_SHOWN]
    ranked = rank_mitigations(ctx.catalog, {t: 1.0 for t in earlier})[:MITIGATIONS_SHOWN]
    if not ranked:
        return False
    reply.para(f"For {reply.names(earlier)}, discussed before, ATLAS's mitigations to start with "
               f"are {reply.names([c.id for c in ranked[:LEAD_NAMES]])}.")
    _mitigation_items(ctx, reply, ranked, earlier, also=False)
    return True


def _mitigation_items(ctx: Context, reply: Reply, ranked: Sequence[Coverage],
                      techniques: list[str], also: bool) -> None:
    """Each mitigation with what ATLAS says it does against the techniques it covers (or
    ``techniques``), and, when ``also``, the others of them it covers beside the first."""
    for entry in ranked:
        use = shorten(use_text(ctx.catalog, entry.id, entry.covers or techniques), USE_CHARS)
        covers = [t for t in entry.covers if t not in techniques[:1]]
        more = f" (also covers {reply.names(covers[:3])})" if also and covers else ""
        reply.item(entry.id, reply.name(entry.id, bold=False) + (f": {use}" if use else "") + more)


# The techniques a control discussed is listed against that a follow-up's words pick out
# ("and before it deletes anything?"): those search ranks within this share of the closest.
BEYOND_SHARE = 0.6
BEYOND_SHOWN = 2


def _beyond_control(ctx: Context, reading: Reading, record: Record) -> list[str]:
    """A defence follow-up about a control just discussed that tells a further concern in
    words of its own asks how to defend against that concern, not for the control again: the
    techniques the control is listed against that the words describe, closest first."""
    if (record.type != "mitigation" or reading.source != "history"
            or not _describes_more(ctx, reading)):
        return []
    listed = set(record.techniques)
    found = relative(ctx.search(reading.question, TECHNIQUE_TYPES, FAMILY_SEARCH), BEYOND_SHARE,
                     FAMILY_SEARCH)
    return [h.id for h in found if h.id in listed][:BEYOND_SHOWN]


def _reweighed(ctx: Context, question: str,
               weights: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """Technique weights raised by their closeness to the question's own words, and the
    mitigations those words describe (as for a question with no subject)."""
    scores = {h.id: h.score for h in ctx.search(question, TECHNIQUE_TYPES, FAMILY_SEARCH)}
    top = max((scores.get(t, 0.0) for t in weights), default=0.0) or 1.0
    weights = {t: w * (1.0 + scores.get(t, 0.0) / top) for t, w in weights.items()}
    return weights, _described_controls(ctx, question)


def _proposed_control(ctx: Context, reading: Reading) -> str | None:
    """The mitigation the message describes on its own, when search finds one clearly; a
    message of asking words alone ("how to detect it") describes none."""
    if not ctx.reader.subject_words(without_pointers(reading.question)):
        return None
    # Searched without its asking words: "how do we harden against that" asks for a defence;
    # it does not propose Model Hardening.
    sure = ctx.reader.sure_link(without_asking(reading.question), ("mitigation",))
    return sure.id if sure is not None and _describes(ctx, reading.question, sure.id) else None


def _described_controls(ctx: Context, question: str) -> dict[str, float]:
    """The mitigations the message's own words describe, scored for ranking."""
    found = [h for h in relative(ctx.search(question, ("mitigation",), 4), 0.8, 2)
             if h.score >= DESCRIBED_SCORE and _describes(ctx, question, h.id)]
    top = found[0].score if found else 1.0
    return {h.id: DESCRIBED_MITIGATION * h.score / top for h in found}


def _describes(ctx: Context, question: str, atlas_id: str) -> bool:
    """One word describes a control only by naming it ("would hardening help": Model
    Hardening); search on one word finds names that merely resemble it ("how do we make that
    harder"). Two words or more are a description."""
    words = ctx.reader.subject_words(without_conversing(without_pointers(question)))
    if len(words) != 1:
        return bool(words)
    name = tokenize(ctx.catalog.full_name(ctx.catalog.records[atlas_id]))
    return any(same_word(words[0], term) for term in name)


def _listed_for_family(ctx: Context, atlas_id: str) -> dict[str, str]:
    """The mitigations ATLAS lists for a technique's parent or sub-techniques, each with the
    first of them it is listed for."""
    listed: dict[str, str] = {}
    for member in family(ctx.catalog, atlas_id)[1:]:
        for mitigation in ctx.catalog.records[member].mitigations:
            listed.setdefault(mitigation, member)
    return listed


def _relatives(ctx: Context, reply: Reply, atlas_id: str) -> str:
    parent = ctx.catalog.parent_of(ctx.catalog.records[atlas_id])
    if parent is not None:
        return f"parent technique {reply.name(parent.id, bold=False)}"
    return "sub-techniques"


# ---------------------------------------------------------------------- attack


@composes("attack")
def attack(ctx: Context, reading: Reading) -> Reply:
    reply = Reply(ctx.catalog)
    subjects = ctx.subjects(reading)
    # An item named by words of its name ("a poisoned MCP server", of "Poisoned Postmark MCP
    # Server …") is the subject only when the message tells nothing beyond them; a mitigation
    # named as one of the list ("the human approval one - how would that work for our tool")
    # is, whatever else it says: it is no attack to search for, the user asks how it works.
    described = _describes_more(ctx, reading, ATTACK_STEP)
    picked_control = names_one(reading.question)
    explicit = [s.id for s in reading.subjects if s.how in (*BY_ID, "ordinal")
                or (s.how == "item" and (not described or (
                    picked_control and ctx.catalog.records[s.id].type == "mitigation")))]
    if explicit or (subjects and reading.source == "history" and not described):
        record = ctx.catalog.records[(explicit or subjects)[0]]
        if record.type == "case-study":
            write_listing(ctx, reply, record,
                          RELATIONS[("technique", "case-study")](ctx.catalog, record), count=False)
        else:
            card(ctx.catalog, reply, record)
        return reply
    found = ctx.search(reading.question, TECHNIQUE_TYPES, FAMILY_SEARCH, GOAL_WEIGHTS)
    if reading.source == "history":
        found = _toward_defended(ctx, subjects, found)
    hits = relative(found[:10], 0.5, TECHNIQUES_SHOWN)
    named = _with_closest_subs(ctx, [s for s in subjects
                                     if ctx.catalog.records[s].type in TECHNIQUE_TYPES][:2], found)
    hits = [hit_of(ctx.catalog.records[i], ctx.catalog) for i in named] + [
        h for h in hits if h.id not in named]
    hits = _as_closest_subs(ctx, hits, found)
    if not hits:
        reply.para("I found no ATLAS technique for this; try describing the goal of the attack.")
        return reply
    reply.para(f"An adversary would most likely use {reply.names([h.id for h in hits[:LEAD_NAMES]])}."
               + (" In the order of the ATLAS matrix:" if len(hits) > 1 else ""))
    _grouped(ctx, reply, hits[:TECHNIQUES_SHOWN], reading.question)
    case_studies_line(ctx, reply, reading.question)
    return reply


def _toward_defended(ctx: Context, subjects: Sequence[str], found: Sequence[Hit]) -> list[Hit]:
    """Search results reranked toward the techniques the discussed mitigations address."""
    addressed = {member for s in subjects if ctx.catalog.records[s].type == "mitigation"
                 for t in ctx.catalog.records[s].techniques for member in family(ctx.catalog, t)}
    if not addressed:
        return list(found)
    weighed = [dataclasses.replace(h, score=h.score * DEFENDED_WEIGHT) if h.id in addressed else h
               for h in found]
    return sorted(weighed, key=lambda h: -h.score)


def _with_closest_subs(ctx: Context, named: list[str], found: Sequence[Hit]) -> list[str]:
    """Each named technique followed by those of its sub-techniques search finds for the
    question, best first ("how would someone pull one off against an email bot", about
    prompt injection: its indirect form)."""
    out: list[str] = []
    for atlas_id in named:
        out += [atlas_id, *_subs_by_rank(ctx, atlas_id, found)[:SUBS_SHOWN]]
    return list(dict.fromkeys(out))


def _subs_by_rank(ctx: Context, atlas_id: str, found: Sequence[Hit]) -> list[str]:
    """The technique's sub-techniques that search found, in its order."""
    rank = {h.id: n for n, h in enumerate(found)}
    return sorted((s for s in ctx.catalog.records[atlas_id].subtechniques if s in rank),
                  key=rank.__getitem__)


def _as_closest_subs(ctx: Context, hits: list[Hit], found: Sequence[Hit]) -> list[Hit]:
    """A technique found for a described goal is shown through its sub-technique search ranks
    first for the question, when search ranks one at all ("fooling our image classifier if
    all i get back is the top label": Craft Adversarial Data, via Black-Box Optimization): the
    sub-technique says how, the parent's name stays on its line."""
    listed = {h.id for h in hits}
    out: list[Hit] = []
    for hit in hits:
        subs = _subs_by_rank(ctx, hit.id, found)
        closest = subs[0] if subs and subs[0] not in listed else None
        out.append(hit_of(ctx.catalog.records[closest], ctx.catalog) if closest else hit)
    return list({h.id: h for h in out}.values())


def _describes_more(ctx: Context, reading: Reading, least: int = DESCRIBED_STEP) -> bool:
    """A follow-up that tells a further step of the attack in words of its own ("how would
    they sneak that past an input filter?") asks for the techniques of that step, not for
    the object discussed again."""
    return len(ctx.reader.own_words(reading.question, reading.subject_ids())) > least


def _grouped(ctx: Context, reply: Reply, hits: Sequence[Hit], query: str,
             evidence: dict[str, str] | None = None) -> None:
    """Techniques under their tactics in matrix order, each with a sentence of its own text
    (or of the user's text, for a mapped incident)."""

    def said(atlas_id: str) -> str:
        if evidence and evidence.get(atlas_id):
            return f"“{shorten(evidence[atlas_id], 220)}”"
        return best_sentence(ctx.catalog.records[atlas_id].description, query, 220)

    write_techniques(ctx, reply, [h.id for h in hits], said)


def write_techniques(ctx: Context, reply: Reply, ids: Sequence[str],
                     describe: Callable[[str], str]) -> None:
    """Numbered techniques under tactic headings in matrix order; sub-techniques sit on their
    parent's line, so the parent is named too."""
    catalog = ctx.catalog
    parents: dict[str, list[str]] = {}
    for atlas_id in ids:
        above = catalog.parent_of(catalog.records[atlas_id])
        top = above.id if above is not None else atlas_id
        parents.setdefault(top, [])
        if top != atlas_id:
            parents[top].append(atlas_id)
    for tactic, group in by_tactic(catalog, parents):
        if tactic:
            reply.add("", f"**{catalog.records[tactic].name}**")
        for parent in group:
            subs = parents[parent]
            line = reply.name(parent, bold=False)
            if subs:
                parts = [f"{catalog.records[s].name} ({reply.ref(s)})"
                         + (f": {describe(s)}" if describe(s) else "") for s in subs]
                own = describe(parent) if parent in ids else ""
                line += (f": {own}" if own else "") + ", via " + "; ".join(parts)
                for sub in subs:
                    reply.source(sub)
            else:
                text = describe(parent)
                line += f": {text}" if text else ""
            reply.item(parent, line)


# ---------------------------------------------------------------------- threat model


@composes("threat_model")
def threat_model(ctx: Context, reading: Reading) -> Reply:
    reply = Reply(ctx.catalog, own_text=True)
    text = reading.question
    components = components_in(text)
    scores: dict[str, float] = {}
    reasons: dict[str, list[str]] = {}
    for component in components:
        for rank, concern in enumerate(component.concerns):
            # Concerns come most important first; each is one search of the release.
            for hit in relative(ctx.search(concern, TECHNIQUE_TYPES, 2), 0.9, 2):
                scores[hit.id] = scores.get(hit.id, 0.0) + CONCERN_DECAY**rank * hit.score
                if component.label not in reasons.setdefault(hit.id, []):
                    reasons[hit.id].append(component.label)
    for hit in relative(ctx.search(text, TECHNIQUE_TYPES, 8, GOAL_WEIGHTS), 0.5, 5):
        scores[hit.id] = scores.get(hit.id, 0.0) + DESCRIPTION_WEIGHT * hit.score
    for atlas_id, score in sentence_evidence(ctx, text).items():
        scores[atlas_id] = scores.get(atlas_id, 0.0) + SENTENCE_WEIGHT * score
    if not scores:
        reply.para("I could not tell which parts of an AI system this describes. Name its parts "
                   "(model API, RAG store, agent tools, training data, third-party models) and "
                   "I will list the ATLAS techniques that threaten each.")
        return reply
    chosen = sorted(scores, key=lambda i: -scores[i])[:THREATS_SHOWN]
    labels = [c.label for c in components]
    system = f"a system with {join(labels)}" if labels else "this system"
    # A description that ends by asking for controls ("what permissions should it get")
    # brings forward the mitigations its own words describe, as a defence question does.
    boost = _described_controls(ctx, text) if _may_ask_fixes(reading) else {}
    # Weights relative to the strongest threat, as in a defence question, so that a control
    # the description names weighs against them as DESCRIBED_MITIGATION says.
    strongest = max(scores[t] for t in chosen) or 1.0
    ranked = rank_mitigations(ctx.catalog, {t: scores[t] / strongest for t in chosen}, boost)
    for lead in LEADS_BY_KIND.get(reading.target, ()):
        lead(ctx, reply, reading, [c.id for c in ranked[:FIXES_SHOWN]])
    reply.para(f"For {system}, the ATLAS techniques to look at first are "
               f"{reply.names(chosen[:4])}. By tactic, in matrix order:")
    order = {c.id: n for n, c in enumerate(ranked)}

    def describe(atlas_id: str) -> str:
        record = ctx.catalog.records[atlas_id]
        why = (f"threatens {join(reasons[atlas_id][:2])}"
               if reasons.get(atlas_id) and len(components) > 1 else "")
        own = sorted(record.mitigations, key=lambda m: order.get(m, 99))[:3]
        fix = f"mitigate with {reply.names(own, bold=False)}" if own else ""
        return "; ".join(p for p in (why, fix) if p)

    write_techniques(ctx, reply, chosen, describe)
    if ranked:
        top = ranked[:4]
        reply.para("Mitigations covering the most of these: " + join(
            [f"{reply.name(c.id, bold=False)} for {len(c.covers)}" for c in top]) + ".")
    return reply


def sentence_evidence(ctx: Context, text: str) -> dict[str, float]:
    """Each sentence of a system description says what one part of it exposes: the best
    technique of each sentence, with its score (summed over sentences)."""
    found: dict[str, float] = {}
    for sentence in sentences(text)[:MAX_SENTENCES]:
        for hit in relative(ctx.search(sentence, TECHNIQUE_TYPES, 2), 0.9, 1):
            found[hit.id] = found.get(hit.id, 0.0) + hit.score
    return found


# ---------------------------------------------------------------------- incident


@composes("incident")
def incident(ctx: Context, reading: Reading) -> Reply:
    reply = Reply(ctx.catalog, own_text=True)
    found = map_text(ctx.retriever, reading.question, k=MAPPED + WEAKER,
                     max_chars=ctx.max_input_chars, min_confidence=WEAKER_CONFIDENCE)
    ranked = sorted(found, key=lambda h: -h.score)
    hits = [h for h in found if h in ranked[:MAPPED] and h.score >= MIN_CONFIDENCE]
    weaker = [h.id for h in ranked if h not in hits][:WEAKER]
    if not hits:
        reply.para("I found no ATLAS technique clearly shown in this text. Paste more of the "
                   "write-up, or describe what the attacker did step by step.")
        return reply
    strongest = [h.id for h in sorted(hits, key=lambda h: -h.score)[:LEAD_NAMES]]
    fixes = rank_mitigations(ctx.catalog, {h.id: h.score for h in hits})[:FIXES_SHOWN]
    for lead in LEADS_BY_KIND.get(reading.target, ()):
        lead(ctx, reply, reading, [f.id for f in fixes])
    if reading.target != "case_study":
        _similar_case(ctx, reply, reading)
    reply.para(f"This write-up maps to {len(hits)} ATLAS technique{'s' if len(hits) > 1 else ''}; "
               f"the clearest are {reply.names(strongest)}. In the order of the ATLAS matrix, "
               "with the sentence that shows each:")
    _grouped(ctx, reply, hits, reading.question, {h.id: h.snippet for h in hits})
    if weaker:
        reply.para("Weaker evidence, worth checking: " + reply.names(weaker, limit=WEAKER) + ".")
    if _may_ask_fixes(reading) and fixes:
        reply.add("", "**What to fix first** (mitigations covering most of these):")
        for entry in fixes:
            use = shorten(use_text(ctx.catalog, entry.id, entry.covers), USE_CHARS)
            reply.item(entry.id, reply.name(entry.id, bold=False) + (f": {use}" if use else ""))
    return reply


def _similar_case(ctx: Context, reply: Reply, reading: Reading) -> None:
    """A write-up that search surely matches to one documented incident names it first: a
    user mapping an incident wants to know whether ATLAS has seen it before, and a retold
    incident ("researchers showed that ...") is most exactly answered by its case study."""
    sure = ctx.reader.sure_link(reading.question, ("case-study",))
    if sure is not None:
        reply.para(f"ATLAS documents a similar incident: {reply.name(sure.id, bold=False)}.")


def _may_ask_fixes(reading: Reading) -> bool:
    """The question may ask what to fix as well ("which technique is this, and which
    mitigations apply?"): the reader gives mitigations as the answer's kind some chance."""
    return reading.target == "mitigation" or (reading.prediction is not None and (
        reading.prediction.targets.get("mitigation", 0.0) >= FIXES_HINT))


def _fixes_first(ctx: Context, reply: Reply, reading: Reading, fixes: list[str]) -> None:
    """An incident or a described system told to ask what to fix ("how do we stop this
    happening again", "which controls make sense") hears the fixes first; the techniques
    that support them follow."""
    if fixes:
        reply.para(f"To fix first: {reply.names(fixes[:LEAD_NAMES])}, the ATLAS mitigations "
                   "covering most of the techniques below.")


def _documented_first(ctx: Context, reply: Reply, reading: Reading, fixes: list[str]) -> None:
    """An incident or a described system told to ask whether it is documented ("is that
    covered anywhere?") hears the closest case studies first."""
    found = relative(ctx.search(reading.question, ("case-study",), 3), DOCUMENTED_SHARE, 3)
    if found:
        reply.para("The closest documented ATLAS case studies: "
                   + reply.names([h.id for h in found]) + ".")


# What an incident or threat-model answer leads with, by the kind of object the question asks
# for (the reader's target): the same answer serves "what is this" and "what do we do".
LEADS_BY_KIND: dict[str, tuple[Callable[[Context, Reply, Reading, list[str]], None], ...]] = {
    "mitigation": (_fixes_first,),
    "case_study": (_documented_first,),
}

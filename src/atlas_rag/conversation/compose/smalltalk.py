"""Greetings, thanks, help, and politely declining what is out of scope."""

from __future__ import annotations

from ..reader import Reading
from ..reply import Reply
from .base import Context, composes

# Example questions that show the range; no IDs, so a greeting cites nothing.
EXAMPLES = (
    "What is LLM prompt injection?",
    "How do I protect my model API from being cloned?",
    "We run a RAG chatbot that can send email; what should we worry about?",
    "Which case studies involved poisoned training data?",
    "Paste an incident write-up and I will map it to ATLAS techniques.",
)


def _examples() -> str:
    return "\n".join(f"- {example}" for example in EXAMPLES)


def _scope(ctx: Context) -> str:
    counts: dict[str, int] = {}
    for record in ctx.catalog:
        counts[record.type] = counts.get(record.type, 0) + 1
    techniques = counts.get("technique", 0) + counts.get("subtechnique", 0)
    return (f"MITRE ATLAS {ctx.catalog.version} ({counts.get('tactic', 0)} tactics, {techniques} "
            f"techniques and sub-techniques, {counts.get('mitigation', 0)} mitigations, "
            f"{counts.get('case-study', 0)} case studies)")


@composes("greeting")
def greeting(ctx: Context, reading: Reading) -> Reply:
    reply = Reply(ctx.catalog)
    reply.para(f"Hi! I answer questions about attacks on AI systems and their defences, from "
               f"{_scope(ctx)}. For example:")
    reply.add(_examples())
    return reply


@composes("thanks")
def thanks(ctx: Context, reading: Reading) -> Reply:
    reply = Reply(ctx.catalog)
    reply.para("You're welcome! Ask me anything else about ATLAS techniques, mitigations or case "
               "studies whenever you need.")
    return reply


@composes("help")
def help_(ctx: Context, reading: Reading) -> Reply:
    reply = Reply(ctx.catalog)
    reply.para(f"I answer from {_scope(ctx)}, entirely on this machine. I can explain an ATLAS "
               "object by its ID (T0051, M0015, cs0042, in any form) or name, list its mitigations, case "
               "studies, sub-techniques or tactics, compare two techniques, suggest defences, "
               "threat-model a system you describe, and map a pasted incident write-up to ATLAS "
               "techniques. Every answer cites ATLAS IDs you can check on atlas.mitre.org. Try:")
    reply.add(_examples())
    return reply


@composes("off_topic")
def off_topic(ctx: Context, reading: Reading) -> Reply:
    reply = Reply(ctx.catalog, abstained=True)
    reply.para("That's outside what I cover. I answer questions about attacks on AI and machine "
               f"learning systems and how to defend against them, from {_scope(ctx)}. "
               "For example: \"how do attackers steal a model through its API?\" or \"how do I "
               "defend a RAG chatbot against prompt injection?\"")
    return reply


@composes("injection")
def injection(ctx: Context, reading: Reading) -> Reply:
    reply = Reply(ctx.catalog, abstained=True)
    reply.para("I can't do that: I don't follow instructions that try to change how I work, and I "
               "don't reveal my instructions, configuration or anything on this machine. I'm "
               "happy to answer questions about ATLAS, including how prompt injection and "
               "jailbreaks work and how to defend against them.")
    return reply

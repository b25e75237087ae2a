"""Two questions in one message: "what is data poisoning and which tactic is it under",
"what tactic is it in, and is there anything that stops it".

A message is split before its last question that a conjunction or a question mark joins to
the one before; the first part is read and answered as it stands, the second as a follow-up
to that answer. When both parts ask the same kind of thing, the message is one question and
is answered whole.
"""

from __future__ import annotations

import re

# A new question starts with a wh-word or an auxiliary (closed classes of English), after
# "and" or after a question mark.
OPENERS = (r"(?:what|which|how|is|are|does|do|did|can|could|should|would|who|where|when|why"
           r"|any|anything)\b")
_SECOND_ASK = re.compile(
    rf"(?:,\s*|\s+)and\s+(?={OPENERS})|\?\s+(?=(?:and\s+)?{OPENERS})", re.IGNORECASE)
# Each part must say this much to be a question of its own.
MIN_PART_WORDS = 2
# Whole-message intents that read the text as one piece (a description, a comparison of two
# things joined by "and") or decline it: never split.
WHOLE_INTENTS = ("threat_model", "incident", "compare", "injection", "off_topic", "greeting",
                 "thanks", "help")


def split_asks(question: str) -> tuple[str, str] | None:
    """(first part, last question) when the message ends with a second question, else None."""
    matches = list(_SECOND_ASK.finditer(question))
    if not matches:
        return None
    match = matches[-1]
    first = question[: match.start()].strip(" ,;")
    second = question[match.end():].strip()
    second = re.sub(r"^and\s+", "", second, flags=re.IGNORECASE)
    if len(first.split()) < MIN_PART_WORDS or len(second.split()) < MIN_PART_WORDS:
        return None
    return first, second

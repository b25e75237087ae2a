"""The parts of an AI system a threat model is built from, and how to recognise them.

Each component carries the everyday words people use for it in a system description and its
concerns: the threats aimed at it, most important first, in ATLAS's own terms. Each concern is
searched for in the release, so the techniques come from the release itself. The words are the
common vocabulary of each kind of component (what "RAG", "agent tools" or "a model API" are
called in practice), written once for the component, not for any particular question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..lexical import tokenize


@dataclass(frozen=True)
class Component:
    key: str
    label: str
    words: frozenset[str]
    concerns: tuple[str, ...]


def _component(key: str, label: str, words: str, concerns: str) -> Component:
    return Component(key, label, frozenset(tokenize(words)),
                     tuple(c.strip() for c in concerns.split(";")))


COMPONENTS = (
    _component(
        "llm", "an LLM application",
        "llm llms chatbot chatbots chat assistant assistants gpt copilot genai generative "
        "conversational prompt prompts claude gemini llama mistral openai anthropic bot bots",
        "LLM prompt injection; LLM jailbreak; LLM data leakage; extract LLM system prompt",
    ),
    _component(
        "rag", "a retrieval (RAG) store",
        "rag retrieval retrieve retrieved vector vectors embedding embeddings knowledge base "
        "documents document confluence sharepoint wiki corpus pdf pdfs notion",
        "indirect prompt injection through retrieved documents; RAG poisoning; false RAG entry "
        "injection; RAG credential harvesting",
    ),
    _component(
        "tools", "agent tools and plugins",
        "agent agents agentic tool tools plugin plugins function-calling email emails jira ticket "
        "tickets slack browse browser browsing mcp shell calendar workflow workflows "
        "automation automate",
        "indirect prompt injection through content the agent reads; AI agent tool invocation; "
        "exfiltration via AI agent tool invocation; AI agent context poisoning; LLM plugin "
        "compromise",
    ),
    _component(
        "api", "a model served through an API",
        "api apis endpoint endpoints inference saas customers customer clients queries query "
        "predictions prediction hosted serving",
        "extract AI model through the inference API; AI model inference API access; cost "
        "harvesting; denial of AI service; infer training data membership",
    ),
    _component(
        "supply", "third-party models, data and code",
        "hugging face huggingface hub open-source opensource pretrained pre-trained third-party "
        "vendor download downloaded downloads pip package packages dependency dependencies "
        "checkpoint checkpoints pickle weights zoo library libraries",
        "AI supply chain compromise; unsafe AI artifacts; publish poisoned models; malicious "
        "package",
    ),
    _component(
        "training", "training data and fine-tuning",
        "training train trained retrain retraining fine-tune finetune fine-tuning finetuning "
        "label labels labelling labeling dataset datasets feedback scraped crowdsourced "
        "annotations",
        "poison training data; backdoor AI model; publish poisoned datasets",
    ),
    _component(
        "decisions", "a model making decisions on inputs",
        "classifier classifiers classification detection detector fraud spam malware "
        "antivirus face facial recognition biometric camera cameras vision image images "
        "vehicle vehicles sensor sensors anomaly moderation",
        "evade AI model; craft adversarial data; physical environment access",
    ),
    _component(
        "device", "a model shipped to users' devices",
        "device devices on-device ondevice mobile android ios iphone ipad edge embedded "
        "firmware iot client-side",
        "full AI model access to a model shipped inside an application; craft adversarial "
        "data with white-box access to the model; extract or replicate the model from the "
        "device",
    ),
    _component(
        "memory", "agent memory",
        "memory memories remembers remember long-term persistent",
        "AI agent context poisoning of memory",
    ),
    _component(
        "infra", "ML infrastructure and credentials",
        "notebook notebooks jupyter mlflow registry s3 bucket buckets cloud gpu gpus cluster "
        "kubernetes pipeline pipelines mlops credentials credential keys secrets ci artifacts",
        "unsecured credentials; valid accounts; AI artifact collection; exfiltrate AI "
        "artifacts",
    ),
    _component(
        "media", "voice, video or identity checks",
        "voice audio video deepfake deepfakes speech call calls phone identity kyc "
        "verification selfie",
        "generate deepfakes; impersonation; evade biometric verification",
    ),
)


# English's negators (a closed class): "no tools, no memory", "without any plugins", "it
# doesn't browse". A word this close after one, in the same clause, is said not to be there.
_NEGATORS = frozenset({"no", "not", "without", "never", "nor", "none", "doesn't", "doesnt",
                       "don't", "dont", "isn't", "isnt", "can't", "cant", "cannot", "won't"})
NEGATED_WINDOW = 3
# Where a clause ends: punctuation, or a conjunction turning to what is there ("but").
_CLAUSE = re.compile(r"[.,;:!?()\n]|\bbut\b", re.IGNORECASE)


def present_terms(text: str) -> set[str]:
    """The terms of ``text`` not said to be absent."""
    kept: list[str] = []
    for clause in _CLAUSE.split(text):
        since = NEGATED_WINDOW + 1
        for word in re.findall(r"[\w'’-]+", clause.lower().replace("’", "'")):
            if word in _NEGATORS:
                since = 0
                continue
            since += 1
            if since > NEGATED_WINDOW:
                kept.append(word)
    return set(tokenize(" ".join(kept)))


def components_in(text: str) -> list[Component]:
    """The components a system description mentions, in the order of COMPONENTS; one it says
    the system lacks ("no tools, no memory") is not among them."""
    terms = present_terms(text)
    return [c for c in COMPONENTS if c.words & terms]

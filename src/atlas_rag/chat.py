"""The browser chat: a thin Gradio shell over :class:`AtlasRAG`.

Answers stream in as they are produced and end with the ATLAS pages they used. The only
thing shared between users is the opened, read-only index; the conversation lives in the
browser and comes back with each message.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .answer import TYPE_LABELS, Answer
from .api import AtlasRAG
from .errors import AtlasRagError
from .report_view import EVIDENCE_HEADERS, answer_layer, map_report
from .retrieval import Hit
from .settings import Settings

if TYPE_CHECKING:
    import gradio as gr

logger = logging.getLogger(__name__)

TITLE = "atlas-rag — MITRE ATLAS assistant"
# Examples that show the range: a lookup, a defence, a threat model, a comparison, a
# relation, and an incident write-up to map (our own fictional text).
EXAMPLES = (
    "What is AML.T0051?",
    "How do I protect my model API from being cloned?",
    "We run a RAG chatbot over our wiki; it can send email and create tickets. "
    "What should we worry about?",
    "Jailbreak vs prompt injection?",
    "Which case studies used RAG poisoning?",
    "Map this incident: someone uploaded a look-alike of our team's model to a public model "
    "hub. Two engineers loaded it; the checkpoint ran code when unpickled and sent our cloud "
    "keys to an outside server. What should we fix?",
)
FILTER_TYPES = ("tactic", "technique", "subtechnique", "mitigation", "case-study")
FILTERED_RESULTS = 8
EMPTY_HINT = (
    "Type a question about MITRE ATLAS: an ID such as AML.T0051, a technique name, or an "
    "attack you want to understand."
)
GENERIC_ERROR = (
    "⚠️ Something went wrong while answering. The error was logged on the server; "
    "please try again or rephrase the question."
)
LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}
UPLOAD_TYPES = (".txt", ".md")

ChatFn = Callable[..., Iterator[str]]


def _gradio() -> Any:
    """Import gradio with its telemetry and Hub access turned off."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"  # the chat never needs the Hub: the model is local
    import gradio

    return gradio


# ---------------------------------------------------------------------- rendering


def _sentence(text: str) -> str:
    text = text.strip()
    if text[:1].islower():
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ")", "`")) else text + "."


def error_message(exc: AtlasRagError) -> str:
    """A chat message for an error of the core: what went wrong, then what to do."""
    text = f"⚠️ {_sentence(exc.message)}"
    return f"{text} {_sentence(exc.hint)}" if exc.hint else text


def too_long_message(length: int, limit: int) -> str:
    return (
        f"⚠️ Your message is {length:,} characters long; the limit is {limit:,} characters. "
        "Please shorten it, or ask about one part of it at a time."
    )


def sources_section(sources: Sequence[Hit]) -> str:
    """The ATLAS pages an answer used, each once, in a block that opens on click.

    The answer itself already links every ID it cites; this block adds what each page said
    that the answer used, without repeating the answer's list in the open.
    """
    seen: dict[str, Hit] = {}
    for hit in sources:
        seen.setdefault(hit.id, hit)
    if not seen:
        return ""
    lines = [f"<details><summary>Sources ({len(seen)})</summary>", ""]
    for hit in seen.values():
        label = TYPE_LABELS.get(hit.type, hit.type).lower()
        snippet = f": {hit.snippet}" if hit.snippet else ""
        lines.append(f"- [{hit.id} {hit.name}]({hit.url}) ({label}){snippet}")
    lines += ["", "</details>"]
    return "\n".join(lines)


def finish_answer(text: str, answer: Answer) -> str:
    """The streamed text completed with the answer's notice and its sources."""
    parts = [text.rstrip() or answer.text]
    if answer.notice and answer.notice not in text:
        parts.append(f"_{answer.notice}_")
    if not answer.abstained:
        sources = sources_section(answer.sources)
        if sources:
            parts.append(sources)
    return "\n\n".join(parts)


def filtered_results(
    hits: Sequence[Hit], types: Sequence[str], tactic_names: Sequence[str]
) -> str:
    """A ranked list of search hits, saying which filters produced it."""
    filters = []
    if types:
        filters.append("type " + " or ".join(TYPE_LABELS.get(t, t).lower() for t in types))
    if tactic_names:
        filters.append("tactic " + " or ".join(tactic_names))
    scope = " and ".join(filters)
    if not hits:
        return (
            f"No ATLAS object with {scope} matches your question. "
            "Clear the filters to ask freely."
        )
    lines = [f"The ATLAS objects with {scope} that best match your question:", ""]
    for n, hit in enumerate(hits, start=1):
        label = TYPE_LABELS.get(hit.type, hit.type).lower()
        lines.append(f"{n}. [{hit.id} {hit.name}]({hit.url}) ({label})")
        if hit.snippet:
            lines.append(f"   - \"{hit.snippet}\"")
    lines += ["", "_Filters are set, so this is a search, not an answer. Clear them to ask "
                  "follow-up questions._"]
    return "\n".join(lines)


# ---------------------------------------------------------------------- chat function


def make_responder(rag: AtlasRAG, settings: Settings) -> ChatFn:
    """The chat function: (message, history, types, tactics) -> growing answer text."""
    limit = settings.max_input_chars

    def respond(
        message: str,
        history: list[dict[str, Any]] | None,
        types: Sequence[str] | None = None,
        tactics: Sequence[str] | None = None,
    ) -> Iterator[str]:
        """Answer a question about MITRE ATLAS, citing ATLAS IDs and linking the sources."""
        message = message if isinstance(message, str) else str(message or "")
        if not message.strip():
            yield EMPTY_HINT
            return
        # Filters turn the message into a search query, which has its own, lower limit.
        cap = min(limit, settings.max_query_chars) if types or tactics else limit
        if len(message) > cap:
            yield too_long_message(len(message), cap)
            return
        text = ""
        try:
            rag.refresh()  # a build may have published a newer index since the last message
            if types or tactics:
                hits = rag.search(message, k=FILTERED_RESULTS, types=types or None,
                                  tactics=tactics or None)
                names = [f"{t} {rag.catalog.records[t].name}" if t in rag.catalog else t
                         for t in tactics or ()]
                yield filtered_results(hits, list(types or ()), names)
                return
            answer: Answer | None = None
            for event in rag.stream(message, history or []):
                if isinstance(event, Answer):
                    answer = event
                else:
                    text += event
                    yield text
            if answer is not None:
                yield finish_answer(text, answer)
        except AtlasRagError as exc:
            yield (text.rstrip() + "\n\n" if text else "") + error_message(exc)
        except Exception:
            logger.exception("the chat failed to answer %r", message[:200])
            yield (text.rstrip() + "\n\n" if text else "") + GENERIC_ERROR

    return respond


# ---------------------------------------------------------------------- app


def release_line(rag: AtlasRAG) -> str:
    return (
        f"Answering from MITRE ATLAS release **{rag.version}** ({len(rag.catalog)} objects). "
        "Every answer cites ATLAS IDs and links its sources on atlas.mitre.org."
    )


def build_app(
    rag_factory_or_rag: AtlasRAG | Callable[[], AtlasRAG], settings: Settings
) -> gr.Blocks:
    """The chat as a queued ``gr.Blocks``; its API endpoint is ``/chat``."""
    gr = _gradio()
    rag = rag_factory_or_rag if isinstance(rag_factory_or_rag, AtlasRAG) else rag_factory_or_rag()

    def current_release() -> str:  # run at each page load, so a rebuild shows up
        try:
            rag.refresh()
        except AtlasRagError as exc:
            logger.warning("could not switch to a newer index: %s", exc)
        return release_line(rag)

    tactics = [(f"{r.id} {r.name}", r.id) for r in rag.catalog.of_type("tactic")]
    type_filter = gr.CheckboxGroup(
        choices=[(TYPE_LABELS[t], t) for t in FILTER_TYPES],
        value=[],
        label="Only these types",
        info="When a filter is set, the chat lists the best matching objects instead of answering.",
        render=False,
    )
    tactic_filter = gr.Dropdown(
        choices=tactics,
        value=[],
        multiselect=True,
        label="Only these tactics",
        render=False,
    )
    with gr.Blocks(title=TITLE, fill_height=True, analytics_enabled=False) as app:
        gr.Markdown(f"<h1 style='text-align: center; margin-bottom: 0'>{TITLE}</h1>")
        gr.Markdown(current_release, elem_id="atlas-release")
        with gr.Tab("Chat", id="chat"):
            _chat_tab(gr, rag, settings, type_filter, tactic_filter)
        with gr.Tab("Map a report", id="map-report"):
            _report_tab(gr, rag, settings)
    app.queue(default_concurrency_limit=settings.concurrency, max_size=settings.queue_size)
    return app


def _chat_tab(gr: Any, rag: AtlasRAG, settings: Settings, type_filter: Any,
              tactic_filter: Any) -> None:
    """The chat: questions answered with citations; filters turn it into a search. Below it,
    the Navigator layer of the techniques the last answer cites."""
    chatbot = gr.Chatbot(label="atlas-rag", scale=1, render=False)
    gr.ChatInterface(
        make_responder(rag, settings),
        chatbot=chatbot,
        textbox=gr.Textbox(
            placeholder="Ask about an ATLAS technique, tactic, mitigation or case study…",
            show_label=False, scale=7, autofocus=True, submit_btn=True, stop_btn=True,
            elem_id="chat-input", render=False,
        ),
        additional_inputs=[type_filter, tactic_filter],
        additional_inputs_accordion=gr.Accordion(label="Filters", open=False, render=False),
        examples=[[question] for question in EXAMPLES],
        cache_examples=False,
        api_name="chat",
        analytics_enabled=False,
        fill_height=True,
    )
    folder = Path(tempfile.mkdtemp(prefix="atlas-rag-layers-"))

    def layer_of_last_answer(history: list[Any] | None) -> tuple[Any, str]:
        try:
            layer, note = answer_layer(rag, history)
        except AtlasRagError as exc:
            return gr.DownloadButton(visible=False), error_message(exc)
        if layer is None:
            return gr.DownloadButton(visible=False), note
        return gr.DownloadButton(value=str(_layer_file(folder, layer)), visible=True), note

    with gr.Row():
        button = gr.Button("Navigator layer of the last answer", size="sm",
                           elem_id="chat-layer-button")
        download = gr.DownloadButton("Download the layer", visible=False, size="sm",
                                     elem_id="chat-layer-download")
    note = gr.Markdown(elem_id="chat-layer-note")
    button.click(layer_of_last_answer, inputs=chatbot, outputs=[download, note], api_name=False)


def _report_tab(gr: Any, rag: AtlasRAG, settings: Settings) -> None:
    """Paste or upload a write-up; see it on the matrix, its evidence, mitigations, the layer."""
    folder = Path(tempfile.mkdtemp(prefix="atlas-rag-layers-"))
    limit = settings.max_input_chars

    def show(text: str | None) -> tuple[Any, ...]:
        view = map_report(rag, text, limit)
        download = gr.DownloadButton(visible=False)
        if view.layer is not None:
            download = gr.DownloadButton(value=str(_layer_file(folder, view.layer)), visible=True)
        return view.message, view.matrix_html, view.evidence, view.mitigations, download

    def load(path: str | None) -> tuple[str, str]:
        if not path:
            return "", ""
        if Path(path).suffix.lower() not in UPLOAD_TYPES:
            return "", f"⚠️ Upload a {' or '.join(UPLOAD_TYPES)} file."
        return Path(path).read_bytes().decode("utf-8", errors="replace"), ""

    gr.Markdown("Paste an incident write-up: the techniques it shows appear on the ATLAS "
                "matrix, with the sentence that shows each and the mitigations that cover them.")
    with gr.Row():
        report = gr.Textbox(label="Report", lines=8, max_lines=20, scale=4, elem_id="report-input",
                            placeholder="What happened, in plain words…")
        upload = gr.File(label="or upload a .txt / .md file", file_types=list(UPLOAD_TYPES),
                         type="filepath", scale=1, elem_id="report-file")
    with gr.Row():
        button = gr.Button("Map the report", variant="primary", elem_id="map-button")
        download = gr.DownloadButton("Download the Navigator layer", visible=False,
                                     elem_id="layer-download")
    message = gr.Markdown(elem_id="map-message")
    matrix = gr.HTML(elem_id="matrix")
    evidence = gr.Dataframe(headers=EVIDENCE_HEADERS, label="Evidence", wrap=True,
                            column_widths=["28%", "8%", "64%"],
                            interactive=False, elem_id="evidence")
    mitigations = gr.Markdown(elem_id="report-mitigations")
    upload.upload(load, inputs=upload, outputs=[report, message], api_name=False)
    outputs = [message, matrix, evidence, mitigations, download]
    button.click(show, inputs=report, outputs=outputs, api_name="map_report")


def _layer_file(folder: Path, layer: dict[str, Any]) -> Path:
    """The layer as a JSON file to download, named by its content (the same layer, one file)."""
    data = json.dumps(layer, indent=2, ensure_ascii=False)
    path = folder / f"atlas-layer-{hashlib.sha256(data.encode()).hexdigest()[:12]}.json"
    path.write_text(data + "\n", encoding="utf-8")
    return path


def is_loopback(host: str) -> bool:
    if host.strip().lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    """("user", "password") from the ``user:password`` setting; None when unset."""
    if not auth:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise AtlasRagError(
            "the auth setting must look like user:password",
            "set ATLAS_RAG_AUTH=user:password, or leave it empty on a loopback address",
        )
    return user, password


def launch(app: gr.Blocks, settings: Settings, **options: Any) -> None:
    """Serve ``app`` on settings.host:port, with the login of settings.auth if set."""
    auth = parse_auth(settings.auth)
    if not is_loopback(settings.host) and auth is None:
        warning = (
            f"the chat listens on {settings.host}, reachable from other machines, without a "
            "login; set ATLAS_RAG_AUTH=user:password or bind 127.0.0.1"
        )
        logger.warning(warning)
        print(f"atlas-rag: warning: {warning}", file=sys.stderr)
    app.launch(
        server_name=settings.host,
        server_port=settings.port,
        auth=auth,
        share=False,
        inbrowser=False,
        show_error=False,
        **options,
    )


def serve(settings: Settings) -> None:
    """Open the published index and serve the chat until interrupted; exit 1 if unusable."""
    _gradio()  # before the index opens, so the Hub settings hold for every library
    try:
        parse_auth(settings.auth)
        rag = AtlasRAG.open(settings=settings)
        rag.warm_up()  # load the model now, not during the first user's question
    except AtlasRagError as exc:
        print(f"atlas-rag: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"atlas-rag: hint: {exc.hint}", file=sys.stderr)
        raise SystemExit(1) from exc
    launch(build_app(rag, settings), settings)


def main() -> None:
    """Entry point of ``python app.py``: settings from ATLAS_RAG_* variables, then serve."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "chromadb", "sentence_transformers", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        settings = Settings.from_env()
    except AtlasRagError as exc:
        print(f"atlas-rag: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    serve(settings)


__all__ = ["build_app", "launch", "main", "make_responder", "serve"]

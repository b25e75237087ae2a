"""The chat function behind the Gradio app, called directly on the fixture index."""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atlas_rag import (
    Answer,
    AtlasRAG,
    Hit,
    QueryError,
    Settings,
    StoreUnavailableError,
    build_index,
)
from atlas_rag.chat import build_app, launch, make_responder, serve
from helpers import (
    FIXTURE_MITIGATIONS,
    FIXTURE_RELEASE,
    BuiltIndex,
    FakeEmbedder,
    make_settings,
)

pytestmark = pytest.mark.unit

LINK_RE = re.compile(r"\[(AML\.[A-Z]+\d+(?:\.\d+)?) [^\]]+\]\((https://atlas\.mitre\.org/[^)]+)\)")


def run(chat: Any, message: str, history: Any = None, types: Any = None,
        tactics: Any = None) -> list[str]:
    return list(chat(message, history or [], types or [], tactics or []))


def gradio_turn(role: str, text: str) -> dict[str, Any]:
    """One message as Gradio 6 hands it to the chat function."""
    return {"role": role, "content": [{"type": "text", "text": text}], "metadata": None,
            "options": None}


def sources_of(text: str) -> list[str]:
    """The IDs linked in the collapsible Sources block of a chat answer."""
    assert "<summary>Sources" in text, text
    block = text.split("<summary>Sources", 1)[1].split("</details>", 1)[0]
    return [m.group(1) for m in LINK_RE.finditer(block)]


class SpyRAG:
    """Stands in for AtlasRAG: records calls, answers or fails as told."""

    def __init__(self, events: list[Any] | None = None, error: BaseException | None = None):
        self.events = events or []
        self.error = error
        self.calls: list[str] = []

    def refresh(self) -> bool:
        self.calls.append("refresh")
        return False

    def stream(self, question: str, history: Any = None) -> Iterator[Any]:
        self.calls.append("stream")
        yield from self.events
        if self.error is not None:
            raise self.error

    def search(self, *args: Any, **kwargs: Any) -> list[Hit]:
        self.calls.append("search")
        if self.error is not None:
            raise self.error
        return []


@pytest.fixture(scope="module")
def chat(rag: AtlasRAG, built_index: BuiltIndex) -> Any:
    """The chat function of the app built on the fixture index, as Gradio calls it."""
    app = build_app(rag, built_index.settings)
    (endpoint,) = [fn for fn in app.fns.values() if fn.api_name == "chat"]
    return endpoint.fn.__wrapped__


def test_app_has_title_release_line_and_chat_endpoint(rag: AtlasRAG,
                                                       built_index: BuiltIndex) -> None:
    app = build_app(lambda: rag, built_index.settings)  # a factory works as well as an index
    assert app.title == "atlas-rag — MITRE ATLAS assistant"
    markdown = [c.get("props", {}).get("value") for c in app.config["components"]
                if c.get("type") == "markdown"]
    assert any("release **0.9.0**" in str(value) for value in markdown)
    assert [fn.api_name for fn in app.fns.values()].count("chat") == 1


def test_answer_streams_cites_the_id_and_links_its_sources(chat: Any) -> None:
    outputs = run(chat, "What is AML.T0903?")
    final = outputs[-1]
    assert len(outputs) > 2, "the answer should arrive in pieces"
    for earlier, later in itertools.pairwise(outputs):
        assert later.startswith(earlier.rstrip()), "each piece extends the text shown so far"
    assert "AML.T0903" in final and "Weathervane Model Cloning" in final
    assert sources_of(final) == ["AML.T0903"]
    assert "[AML.T0903 Weathervane Model Cloning](https://atlas.mitre.org/techniques/AML.T0903)" \
        in final


def test_follow_up_uses_the_gradio_history(chat: Any) -> None:
    first = run(chat, "What is AML.T0903?")[-1]
    history = [gradio_turn("user", "What is AML.T0903?"), gradio_turn("assistant", first)]
    final = run(chat, "Which mitigations address it?", history)[-1]
    assert final.startswith("**Weathervane Model Cloning** ([AML.T0903]) has 1 mitigation")
    assert "AML.M0901" in final
    assert "AML.M0901" in sources_of(final)
    assert not set(sources_of(final)) & (set(FIXTURE_MITIGATIONS) - {"AML.M0901"})


def test_too_long_input_states_the_limit_and_skips_the_core(built_index: BuiltIndex) -> None:
    spy = SpyRAG()
    chat = make_responder(spy, built_index.settings.replace(max_input_chars=50))  # type: ignore[arg-type]
    (reply,) = run(chat, "x" * 51)
    assert "51 characters" in reply and "limit is 50 characters" in reply
    assert spy.calls == []
    run(chat, "x" * 50)  # at the limit: accepted
    assert spy.calls == ["refresh", "stream"]


def test_filtered_search_states_the_query_limit(built_index: BuiltIndex) -> None:
    spy = SpyRAG()
    settings = built_index.settings.replace(max_input_chars=100, max_query_chars=40)
    chat = make_responder(spy, settings)  # type: ignore[arg-type]
    (reply,) = run(chat, "x" * 41, types=["technique"])
    assert "41 characters" in reply and "limit is 40 characters" in reply
    assert spy.calls == []
    run(chat, "x" * 41)  # without filters the chat limit applies
    assert spy.calls == ["refresh", "stream"]


@pytest.mark.parametrize("message", ["", "   ", "\n"])
def test_empty_input_gets_a_hint(built_index: BuiltIndex, message: str) -> None:
    spy = SpyRAG()
    (reply,) = run(make_responder(spy, built_index.settings), message)  # type: ignore[arg-type]
    assert "Type a question" in reply
    assert spy.calls == []


def test_core_error_becomes_a_readable_message(built_index: BuiltIndex) -> None:
    spy = SpyRAG(error=StoreUnavailableError("the Chroma server at http://db:8000 does not answer",
                                             "start it, or unset ATLAS_RAG_CHROMA_URL"))
    reply = run(make_responder(spy, built_index.settings), "What is AML.T0903?")[-1]  # type: ignore[arg-type]
    assert reply.startswith("⚠️ The Chroma server at http://db:8000 does not answer.")
    assert "Start it, or unset ATLAS_RAG_CHROMA_URL" in reply


def test_unexpected_error_is_logged_and_shown_without_traceback(
    built_index: BuiltIndex, caplog: pytest.LogCaptureFixture
) -> None:
    spy = SpyRAG(events=["### AML.T0903\n"], error=RuntimeError("secret internal detail"))
    with caplog.at_level(logging.ERROR, logger="atlas_rag.chat"):
        reply = run(make_responder(spy, built_index.settings), "What is AML.T0903?")[-1]  # type: ignore[arg-type]
    assert "Something went wrong" in reply
    assert "Traceback" not in reply and "secret internal detail" not in reply
    assert reply.startswith("### AML.T0903"), "text already shown stays"
    assert any(r.exc_info and "secret internal detail" in str(r.exc_info[1]) for r in caplog.records)


def test_abstained_answer_has_no_sources(built_index: BuiltIndex) -> None:
    hit = Hit(id="AML.T0903", name="Weathervane Model Cloning", type="technique", score=0.2,
              url="https://atlas.mitre.org/techniques/AML.T0903", snippet="")
    answer = Answer(text="ATLAS does not cover this.", citations=[], sources=[hit],
                    abstained=True)
    spy = SpyRAG(events=[answer.text, answer])
    reply = run(make_responder(spy, built_index.settings), "best pizza in Naples?")[-1]  # type: ignore[arg-type]
    assert reply == "ATLAS does not cover this."


def test_type_filter_lists_only_that_type(chat: Any) -> None:
    reply = run(chat, "how do adversaries copy a proprietary predictor?", types=["mitigation"])[-1]
    ids = [m.group(1) for m in LINK_RE.finditer(reply)]
    assert ids and set(ids) <= set(FIXTURE_MITIGATIONS)
    assert ids[0] == "AML.M0901"  # the one that addresses weathervane cloning
    assert "type mitigation" in reply


def test_tactic_filter_lists_only_objects_of_that_tactic(chat: Any) -> None:
    reply = run(chat, "predictor", types=["technique"], tactics=["AML.TA0903"])[-1]
    ids = [m.group(1) for m in LINK_RE.finditer(reply)]
    assert set(ids) == {"AML.T0903", "AML.T0904"}  # the techniques of Harvest Siphoning
    assert "AML.TA0903 Harvest Siphoning" in reply


def test_filters_that_match_nothing_say_so(chat: Any) -> None:
    reply = run(chat, "seedbank kernels", types=["mitigation"], tactics=["AML.TA0901"])[-1]
    assert "No ATLAS object" in reply and "Clear the filters" in reply


def test_bad_filter_value_is_a_readable_error(chat: Any) -> None:
    reply = run(chat, "predictor", types=["spaceship"])[-1]
    assert reply.startswith("⚠️ Unknown type(s): spaceship")


def test_chat_sees_a_rebuilt_index(fresh_index: BuiltIndex, tmp_path: Path) -> None:
    rag = AtlasRAG.open(fresh_index.index_dir, settings=fresh_index.settings,
                        embedder=FakeEmbedder())
    chat = make_responder(rag, fresh_index.settings)
    assert "Weathervane Model Cloning" in run(chat, "weathervane", types=["technique"])[-1]
    renamed = tmp_path / "renamed.yaml"
    renamed.write_text(FIXTURE_RELEASE.read_text(encoding="utf-8").replace(
        "Weathervane Model Cloning", "Weathervane Replica Cloning"), encoding="utf-8")
    build_index(renamed, fresh_index.corpus_dir, fresh_index.index_dir,
                settings=fresh_index.settings, embedder=FakeEmbedder())
    reply = run(chat, "weathervane", types=["technique"])[-1]
    assert "Weathervane Replica Cloning" in reply and "Weathervane Model Cloning" not in reply


def test_query_error_from_search_is_shown(built_index: BuiltIndex) -> None:
    spy = SpyRAG(error=QueryError("the query has 5,000 characters; the limit is 4,000"))
    reply = run(make_responder(spy, built_index.settings), "x" * 10, types=["technique"])[-1]  # type: ignore[arg-type]
    assert "⚠️ The query has 5,000 characters" in reply


class FakeApp:
    def __init__(self) -> None:
        self.launched: dict[str, Any] = {}

    def launch(self, **kwargs: Any) -> None:
        self.launched = kwargs


def test_launch_binds_loopback_with_auth_and_never_shares(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = FakeApp()
    launch(app, make_settings(tmp_path, port=7999, auth="ana:s3cret:x"))  # type: ignore[arg-type]
    assert app.launched["server_name"] == "127.0.0.1"
    assert app.launched["server_port"] == 7999
    assert app.launched["auth"] == ("ana", "s3cret:x")
    assert app.launched["share"] is False
    assert "warning" not in capsys.readouterr().err


def test_launch_warns_when_open_to_the_network_without_login(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = FakeApp()
    launch(app, make_settings(tmp_path, host="0.0.0.0"))  # type: ignore[arg-type]
    assert app.launched["auth"] is None
    err = capsys.readouterr().err
    assert "0.0.0.0" in err and "ATLAS_RAG_AUTH" in err


@pytest.mark.parametrize("auth", ["nopassword", ":pw", "user:"])
def test_malformed_auth_is_refused(tmp_path: Path, auth: str) -> None:
    from atlas_rag import AtlasRagError

    with pytest.raises(AtlasRagError, match="user:password"):
        launch(FakeApp(), make_settings(tmp_path, auth=auth))  # type: ignore[arg-type]


def test_serve_without_index_exits_1_with_the_build_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings: Settings = make_settings(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        serve(settings)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "no index" in err and "atlas-rag build" in err

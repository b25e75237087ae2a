"""The "Map a report" tab: its view of a write-up, bad input, and the app's endpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from atlas_rag import AtlasRAG, QueryError
from atlas_rag.chat import build_app
from atlas_rag.report_view import (
    EMPTY_REPORT,
    FAILED,
    NO_TECHNIQUES,
    NOTHING_MAPPED,
    answer_layer,
    map_report,
)
from helpers import BuiltIndex

pytestmark = pytest.mark.unit

REPORT = (
    "The intruders queried the prediction endpoint thousands of times and fitted a "
    "faithful weathervane replica from the answers. Later they leaked the silo ledger "
    "of training records through an unwatched export."
)


def test_a_report_on_the_matrix_with_evidence_mitigations_and_layer(rag: AtlasRAG) -> None:
    view = map_report(rag, REPORT, 5000)
    hits = rag.map_text(REPORT, k=50)
    ids = [h.id for h in hits]
    assert "AML.T0903" in ids
    assert f"**{len(hits)} technique(s)**" in view.message
    assert [row[0].split()[0] for row in view.evidence] == ids
    for row, hit in zip(view.evidence, hits, strict=True):
        assert row == [f"{hit.id} {hit.name}", round(hit.score * 100, 1), hit.snippet]
    for atlas_id in ids:
        assert f'data-id="{atlas_id}" data-score=' in view.matrix_html
    assert view.layer is not None
    assert {r["techniqueID"] for r in view.layer["techniques"] if "score" in r} == set(ids)
    # AML.M0901 covers AML.T0903 (weathervane cloning) in the fixture.
    assert "[AML.M0901 Beacon Throttling](https://atlas.mitre.org/mitigations/AML.M0901) covers" \
        in view.mitigations


@pytest.mark.parametrize(("text", "wanted"), [
    ("", EMPTY_REPORT), ("   \n ", EMPTY_REPORT), (None, EMPTY_REPORT),
    ("x" * 101, "⚠️ The report is 101 characters long; the limit is 100."),
])
def test_bad_input_is_a_message(rag: AtlasRAG, text: str | None, wanted: str) -> None:
    view = map_report(rag, text, 100)
    assert view.message.startswith(wanted)
    assert view.layer is None and view.matrix_html == "" and view.evidence == []


def test_nothing_mapped_shows_the_plain_matrix(rag: AtlasRAG,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rag, "map_text", lambda text, k: [])
    view = map_report(rag, "a quiet week, nothing to report at all", 5000)
    assert view.message == NOTHING_MAPPED
    assert "atlas-cell" in view.matrix_html and "mapped" not in view.matrix_html
    assert view.layer is None


@pytest.mark.parametrize(("error", "wanted"), [
    (QueryError("the text holds no words", "paste a sentence or two"),
     "⚠️ The text holds no words. Paste a sentence or two."),
    (RuntimeError("boom"), FAILED),
])
def test_errors_are_messages_never_tracebacks(rag: AtlasRAG, monkeypatch: pytest.MonkeyPatch,
                                              error: Exception, wanted: str) -> None:
    def fail(text: str, k: int) -> Any:
        raise error

    monkeypatch.setattr(rag, "map_text", fail)
    view = map_report(rag, REPORT, 5000)
    assert view.message == wanted and "Traceback" not in view.message


def test_app_endpoint_writes_the_layer_file(rag: AtlasRAG, built_index: BuiltIndex) -> None:
    app = build_app(rag, built_index.settings)
    (endpoint,) = [fn for fn in app.fns.values() if fn.api_name == "map_report"]
    message, matrix, evidence, mitigations, download = endpoint.fn(REPORT)
    assert "technique(s)" in message and "AML.T0903" in matrix and evidence and mitigations
    path = Path(download.value if isinstance(download.value, str) else download.value["path"])
    layer = json.loads(path.read_text(encoding="utf-8"))
    assert layer["domain"] == "atlas-atlas"
    assert {r["techniqueID"] for r in layer["techniques"]} >= {"AML.T0903"}
    message, *_, download = endpoint.fn("")
    assert message == EMPTY_REPORT and download.visible is False


def test_uploaded_text_file_fills_the_report_box(rag: AtlasRAG, built_index: BuiltIndex,
                                                 tmp_path: Path) -> None:
    app = build_app(rag, built_index.settings)
    (load,) = [fn.fn for fn in app.fns.values() if getattr(fn.fn, "__name__", "") == "load"]
    report = tmp_path / "incident.md"
    report.write_bytes(REPORT.encode("utf-8") + b"\n\xff")
    text, message = load(str(report))
    assert text.startswith(REPORT) and message == ""
    other = tmp_path / "incident.pdf"
    other.write_bytes(b"%PDF-1.4")
    assert load(str(other)) == ("", "⚠️ Upload a .txt or .md file.")
    assert load(None) == ("", "")


def test_the_layer_of_the_last_answer_holds_the_techniques_it_cites(rag: AtlasRAG) -> None:
    question = "how would someone clone the weathervane predictor?"
    answer = rag.ask(question)
    history = [{"role": "user", "content": question},
               {"role": "assistant", "content": [{"type": "text", "text": answer.text}]}]
    layer, note = answer_layer(rag, history)
    assert layer is not None and layer["domain"] == "atlas-atlas"
    cited = [i for i in answer.citations if rag.get(i).type in ("technique", "subtechnique")]
    assert cited and {r["techniqueID"] for r in layer["techniques"]} >= set(cited)
    assert f"{len(cited)} technique(s)" in note
    # An answer without techniques (small talk, a mitigation only) has no layer, and says so.
    assert answer_layer(rag, [{"role": "assistant", "content": "Hello! Ask me about ATLAS."}]) == (
        None, NO_TECHNIQUES)
    assert answer_layer(rag, None) == (None, NO_TECHNIQUES)


def test_app_offers_the_layer_of_the_last_chat_answer(rag: AtlasRAG, built_index: BuiltIndex) -> None:
    app = build_app(rag, built_index.settings)
    (endpoint,) = [fn for fn in app.fns.values()
                   if getattr(fn.fn, "__name__", "") == "layer_of_last_answer"]
    history = [{"role": "user", "content": "AML.T0903?"},
               {"role": "assistant", "content": rag.ask("what is AML.T0903?").text}]
    download, note = endpoint.fn(history)
    path = Path(download.value if isinstance(download.value, str) else download.value["path"])
    layer = json.loads(path.read_text(encoding="utf-8"))
    assert "AML.T0903" in {r["techniqueID"] for r in layer["techniques"]} and "technique" in note
    download, note = endpoint.fn([])
    assert download.visible is False and note == NO_TECHNIQUES

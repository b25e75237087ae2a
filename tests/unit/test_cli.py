"""The atlas-rag command: build, search, show, JSON output and one-line errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import atlas_rag.api
from atlas_rag.cli import main
from helpers import FIXTURE_RELEASE, BuiltIndex, FakeEmbedder

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ATLAS_RAG_* from the caller's environment, offline, the fake embedder."""
    for name in list(os.environ):
        if name.startswith("ATLAS_RAG_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ATLAS_RAG_OFFLINE", "1")
    monkeypatch.setenv("ATLAS_RAG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(atlas_rag.api, "default_embedder", lambda settings: FakeEmbedder())


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("atlas-rag: error: ")
    return lines[0]


def test_build_prints_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["build", "--source", str(FIXTURE_RELEASE), "--corpus-dir", str(tmp_path / "c"),
                 "--index-dir", str(tmp_path / "i"), "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "ATLAS 0.9.0: 15 pages" in out
    assert "3 tactic" in out and "3 subtechnique" in out
    assert (tmp_path / "c" / "frameworks/atlas/techniques/seedbank-tampering/seedbank-poisoning/grafted-label-swapping.md").is_file()


def test_build_json_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["build", "--source", str(FIXTURE_RELEASE), "--corpus-dir", str(tmp_path / "c"),
                 "--index-dir", str(tmp_path / "i"), "--quiet", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pages"] == 15
    assert report["atlas_version"] == "0.9.0"
    assert report["embedded"] == report["chunks"] > 0
    assert report["skipped"] == []


def test_search_prints_ranked_hits(
    built_index: BuiltIndex, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["search", "Seedbank Poisoning", "--index-dir", str(built_index.index_dir)])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("1. AML.T0902  Seedbank Poisoning  [technique]  score ")
    assert lines[2].strip() == "https://atlas.mitre.org/techniques/AML.T0902"
    assert sum(line[:2] in {"1.", "2.", "3.", "4.", "5."} for line in lines) == 5


def test_search_json(built_index: BuiltIndex, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["search", "aml.t0901.002", "--json", "-k", "3",
                 "--index-dir", str(built_index.index_dir)])
    assert code == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 3
    assert hits[0]["id"] == "AML.T0901.002"
    assert hits[0]["name"] == "Lighthouse Beacon Probing: Tidal Chart Scraping"
    assert hits[0]["type"] == "subtechnique"
    assert hits[0]["matched_by"] == ["exact"]
    assert {"score", "url", "snippet", "section"} <= set(hits[0])


def test_search_filters(built_index: BuiltIndex, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["search", "seedbank", "--type", "mitigation", "--json",
                 "--index-dir", str(built_index.index_dir)])
    assert code == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits[0]["id"] == "AML.M0902"
    assert {h["type"] for h in hits} == {"mitigation"}
    code = main(["search", "ledger", "--tactic", "AML.TA0901", "--type", "technique", "--json",
                 "--index-dir", str(built_index.index_dir)])
    assert code == 0
    assert [h["id"] for h in json.loads(capsys.readouterr().out)] == ["AML.T0904", "AML.T0901"]


def test_index_dir_from_the_environment(
    built_index: BuiltIndex, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATLAS_RAG_INDEX_DIR", str(built_index.index_dir))
    assert main(["search", "AML.CS0901", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["id"] == "AML.CS0901"


def test_show_json(built_index: BuiltIndex, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["show", "aml.t0901", "--json", "--index-dir", str(built_index.index_dir)])
    assert code == 0
    record = json.loads(capsys.readouterr().out)
    assert record["id"] == "AML.T0901"
    assert record["name"] == "Lighthouse Beacon Probing"
    assert record["subtechniques"] == ["AML.T0901.001", "AML.T0901.002"]
    assert record["mitigations"] == ["AML.M0901"]
    assert record["attack_reference"]["id"] == "T1999"


def test_show_prints_the_object(
    built_index: BuiltIndex, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["show", "AML.T0902.001", "--index-dir", str(built_index.index_dir)])
    assert code == 0
    out = capsys.readouterr().out
    assert "AML.T0902.001" in out
    assert "Grafted Label Swapping" in out
    assert "AML.T0902" in out and "AML.M0902" in out


def test_settings_lists_the_variables(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert "ATLAS_RAG_INDEX_DIR" in out and "ATLAS_RAG_SOURCE" in out


# --------------------------------------------------------------------------- errors


def test_search_without_an_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "seedbank", "--index-dir", str(tmp_path / "none")]) == 1
    line = _error_line(capsys)
    assert "no index" in line and "atlas-rag build" in line


def test_show_unknown_id(built_index: BuiltIndex, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "AML.T0999", "--index-dir", str(built_index.index_dir)]) == 1
    assert "AML.T0999" in _error_line(capsys)


@pytest.mark.parametrize("query", ["", "   ", "x" * 50_000], ids=["empty", "blank", "50k"])
def test_bad_queries(
    built_index: BuiltIndex, capsys: pytest.CaptureFixture[str], query: str
) -> None:
    assert main(["search", query, "--index-dir", str(built_index.index_dir)]) == 1
    line = _error_line(capsys)
    assert "query" in line


def test_incompatible_index(
    built_index: BuiltIndex, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        atlas_rag.api, "default_embedder", lambda settings: FakeEmbedder(name="other-model")
    )
    assert main(["search", "seedbank", "--index-dir", str(built_index.index_dir)]) == 1
    line = _error_line(capsys)
    assert "other-model" in line and "rebuild" in line


def test_build_with_a_missing_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.yaml"
    code = main(["build", "--source", str(missing), "--corpus-dir", str(tmp_path / "c"),
                 "--index-dir", str(tmp_path / "i"), "--quiet"])
    assert code == 1
    assert str(missing) in _error_line(capsys)
    assert not (tmp_path / "i" / "CURRENT").exists()


def test_build_with_a_truncated_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = FIXTURE_RELEASE.read_text(encoding="utf-8")
    cut = tmp_path / "cut.yaml"
    cut.write_text(text[: len(text) // 2], encoding="utf-8")
    code = main(["build", "--source", str(cut), "--corpus-dir", str(tmp_path / "c"),
                 "--index-dir", str(tmp_path / "i"), "--quiet"])
    assert code == 1
    assert str(cut) in _error_line(capsys)


def test_build_offline_without_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["build", "--corpus-dir", str(tmp_path / "c"), "--index-dir", str(tmp_path / "i"),
                 "--quiet"])
    assert code == 1
    line = _error_line(capsys)
    assert "ATLAS_RAG_SOURCE" in line and "--source" in line


def test_bad_setting_in_the_environment(
    built_index: BuiltIndex, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATLAS_RAG_MAX_QUERY_CHARS", "lots")
    assert main(["search", "seedbank", "--index-dir", str(built_index.index_dir)]) == 1
    assert "ATLAS_RAG_MAX_QUERY_CHARS" in _error_line(capsys)


# ---------------------------------------------------------------------- Navigator layers

REPORT = (
    "The intruders queried the prediction endpoint thousands of times and fitted a "
    "faithful weathervane replica from the answers. Later they leaked the silo ledger "
    "of training records through an unwatched export."
)


def _layer_rows(path: Path) -> list[tuple[str, str]]:
    layer = json.loads(path.read_text(encoding="utf-8"))
    assert layer["domain"] == "atlas-atlas"
    return [(r["techniqueID"], r["tactic"]) for r in layer["techniques"]]


def test_map_writes_a_layer_of_what_it_printed(
    built_index: BuiltIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.txt"
    report.write_text(REPORT, encoding="utf-8")
    code = main(["map", "--file", str(report), "--json", "--layer", str(tmp_path / "m.json"),
                 "--index-dir", str(built_index.index_dir)])
    assert code == 0
    out, err = capsys.readouterr()
    printed = {h["id"]: h["score"] for h in json.loads(out)}
    assert "AML.T0903" in printed and "m.json" in err
    layer = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    scored = {r["techniqueID"]: r["score"] for r in layer["techniques"] if "score" in r}
    assert scored == {i: round(s * 100, 1) for i, s in printed.items()}


@pytest.mark.parametrize(("arguments", "wanted"), [
    (["AML.CS0901"], [("AML.T0901", "orchard-surveying"), ("AML.T0901.001", "orchard-surveying"),
                      ("AML.T0902", "seedbank-tampering"), ("AML.T0903", "harvest-siphoning")]),
    (["--ids", "AML.T0903,t0904"], [("AML.T0904", "orchard-surveying"),
                                    ("AML.T0903", "harvest-siphoning"),
                                    ("AML.T0904", "harvest-siphoning")]),
    (["--frequency"], [("AML.T0901", "orchard-surveying"), ("AML.T0901.001", "orchard-surveying"),
                       ("AML.T0901.002", "orchard-surveying"), ("AML.T0904", "orchard-surveying"),
                       ("AML.T0902", "seedbank-tampering"), ("AML.T0903", "harvest-siphoning"),
                       ("AML.T0904", "harvest-siphoning")]),
])
def test_layer_command_writes_the_file(
    built_index: BuiltIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    arguments: list[str], wanted: list[tuple[str, str]],
) -> None:
    out_file = tmp_path / "sub" / "layer.json"
    code = main(["layer", *arguments, "--out", str(out_file),
                 "--index-dir", str(built_index.index_dir)])
    assert code == 0
    assert _layer_rows(out_file) == wanted
    assert f"written to {out_file}" in capsys.readouterr().out


def test_layer_read_lists_techniques_with_names(
    built_index: BuiltIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cs.json"
    assert main(["layer", "AML.CS0902", "--out", str(path),
                 "--index-dir", str(built_index.index_dir)]) == 0
    capsys.readouterr()
    assert main(["layer", "--read", str(path), "--index-dir", str(built_index.index_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("AML.CS0902: Glasshouse Cartographer Incident: 3 technique(s) "
                        "(3 row(s)) of ATLAS 0.9.0")
    assert "AML.T0901.002  Lighthouse Beacon Probing: Tidal Chart Scraping  [orchard-surveying]  " \
           "score 100" in lines


@pytest.mark.parametrize(("content", "wanted"), [
    ('{"domain": "enterprise-attack", "techniques": []}', "'enterprise-attack' domain, not ATLAS"),
    ('{"domain": "atlas-atlas", "techniques": [{"techniqueID": "AML.T0051"}]}',
     "not in ATLAS 0.9.0: AML.T0051"),
    ("not a layer", "the layer is not JSON"),
])
def test_layer_read_errors_are_one_line_and_exit_1(
    built_index: BuiltIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    content: str, wanted: str,
) -> None:
    path = tmp_path / "l.json"
    path.write_text(content, encoding="utf-8")
    assert main(["layer", "--read", str(path), "--index-dir", str(built_index.index_dir)]) == 1
    assert wanted in _error_line(capsys)


@pytest.mark.parametrize("arguments", [[], ["AML.CS0901", "--frequency"], ["AML.CS0901"]])
def test_layer_command_needs_one_source_and_an_output(
    built_index: BuiltIndex, capsys: pytest.CaptureFixture[str], arguments: list[str]
) -> None:
    assert main(["layer", *arguments, "--index-dir", str(built_index.index_dir)]) == 1
    line = _error_line(capsys)
    assert "give one source" in line or "--out is required" in line

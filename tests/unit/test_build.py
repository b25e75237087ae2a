"""Building, rebuilding and opening indexes: reuse, team notes, failures, locks, compatibility."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from atlas_rag import (
    AtlasRAG,
    CorpusError,
    IndexIncompatibleError,
    IndexLockedError,
    IndexNotBuiltError,
    ReleaseError,
    build_index,
)
from atlas_rag.store import Generation, Store
from helpers import FIXTURE_RELEASE, BuiltIndex, FakeEmbedder, build_fixture, make_settings

pytestmark = pytest.mark.unit

QUERIES = ["AML.T0903", "seedbank", "herbarium rows", "Beacon Throttling", "ledger vault"]

TEAM_NOTE = """---
id: TEAM-NOTE-7
type: note
name: Greenhouse GPU rack hardening
---
# Greenhouse GPU rack hardening

Our team checklist: bolt the zanzibar cabinet, rotate the quokka credentials every Tuesday,
and review [[techniques/AML.T0903|AML.T0903: Weathervane Model Cloning]] before each launch.
"""


def _open(built: BuiltIndex, embedder: FakeEmbedder | None = None) -> AtlasRAG:
    return AtlasRAG.open(
        built.index_dir, settings=built.settings, embedder=embedder or FakeEmbedder()
    )


def _snapshot(rag: AtlasRAG) -> list[list[tuple[str, float]]]:
    return [[(h.id, h.score) for h in rag.search(q, k=5)] for q in QUERIES]


def _current(built: BuiltIndex) -> str:
    return (built.index_dir / "CURRENT").read_text().strip()


def _generations(built: BuiltIndex) -> list[str]:
    return sorted(p.name for p in built.index_dir.glob("gen-*"))


def _corpus_state(corpus: Path) -> dict[str, bytes]:
    return {str(p.relative_to(corpus)): p.read_bytes() for p in sorted(corpus.rglob("*.md"))}


def _rebuild(built: BuiltIndex, embedder: FakeEmbedder | None = None, **kwargs: Any) -> Any:
    return build_index(
        kwargs.pop("source", FIXTURE_RELEASE),
        kwargs.pop("corpus_dir", built.corpus_dir),
        built.index_dir,
        settings=built.settings,
        embedder=embedder or FakeEmbedder(),
        **kwargs,
    )


# --------------------------------------------------------------------------- rebuilds


def test_rebuild_of_an_unchanged_corpus_embeds_nothing(fresh_index: BuiltIndex) -> None:
    before = _snapshot(_open(fresh_index))
    embedder = FakeEmbedder()
    report = _rebuild(fresh_index, embedder)
    assert embedder.embedded == 0
    assert report.embedded == 0
    assert report.reused == report.chunks == fresh_index.report.chunks
    assert report.generation != fresh_index.report.generation
    assert _current(fresh_index) == report.generation
    assert _snapshot(_open(fresh_index)) == before


def test_changed_page_is_the_only_one_embedded_again(fresh_index: BuiltIndex) -> None:
    page = fresh_index.corpus_dir / "frameworks/atlas/techniques/harvest-siphoning/weathervane-model-cloning/weathervane-model-cloning.md"
    text = page.read_text(encoding="utf-8")
    page.write_text(
        text.replace("fit a replica", "fit a replica with a zanzibar lattice"), encoding="utf-8"
    )
    embedder = FakeEmbedder()
    report = _rebuild(fresh_index, embedder, render=False)
    assert 0 < embedder.embedded == report.embedded < 5
    assert _open(fresh_index).search("zanzibar lattice")[0].id == "AML.T0903"


def test_rebuild_with_another_model_embeds_everything(fresh_index: BuiltIndex) -> None:
    other = FakeEmbedder(name="another-model", dimension=32)
    report = _rebuild(fresh_index, other)
    assert report.embedded == report.chunks == other.embedded
    assert _open(fresh_index, FakeEmbedder(name="another-model", dimension=32)).search(
        "AML.T0902"
    )[0].id == "AML.T0902"


def test_refresh_switches_an_open_index_to_the_new_build(fresh_index: BuiltIndex) -> None:
    rag = _open(fresh_index)
    assert rag.refresh() is False
    note = fresh_index.corpus_dir / "team-notes" / "gpu.md"
    note.parent.mkdir()
    note.write_text(TEAM_NOTE, encoding="utf-8")
    _rebuild(fresh_index)
    assert "TEAM-NOTE-7" not in rag.catalog
    assert rag.refresh() is True
    assert rag.search("zanzibar cabinet")[0].id == "TEAM-NOTE-7"
    assert rag.refresh() is False


def test_source_setting_is_used_when_no_source_is_passed(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, source=str(FIXTURE_RELEASE))
    report = build_index(settings=settings, embedder=FakeEmbedder())
    assert report.pages == 15
    assert (tmp_path / "corpus" / "frameworks/atlas/techniques/orchard-surveying/lighthouse-beacon-probing/lighthouse-beacon-probing.md").is_file()


# --------------------------------------------------------------------------- team notes, bad pages


def test_team_note_in_a_subfolder_is_indexed_and_searchable(fresh_index: BuiltIndex) -> None:
    note = fresh_index.corpus_dir / "team-notes" / "racks" / "gpu.md"
    note.parent.mkdir(parents=True)
    note.write_text(TEAM_NOTE, encoding="utf-8")
    embedder = FakeEmbedder()
    report = _rebuild(fresh_index, embedder)  # rendering the release keeps the note
    assert note.is_file()
    assert report.pages == 16
    assert report.pages_by_type.get("note") == 1
    assert 0 < embedder.embedded == report.embedded  # only the note's chunks are new
    rag = _open(fresh_index)
    hits = rag.search("quokka credentials zanzibar cabinet")
    assert hits[0].id == "TEAM-NOTE-7"
    assert hits[0].name == "Greenhouse GPU rack hardening"
    assert hits[0].type == "note"
    assert rag.search("Greenhouse GPU rack hardening")[0].id == "TEAM-NOTE-7"
    assert [h.id for h in rag.search("quokka", types=["note"])] == ["TEAM-NOTE-7"]
    assert "TEAM-NOTE-7" not in [h.id for h in rag.search("quokka", types=["technique"])]


def test_broken_pages_are_skipped_with_a_warning_and_reported(
    fresh_index: BuiltIndex, caplog: pytest.LogCaptureFixture
) -> None:
    notes = fresh_index.corpus_dir / "notes"
    notes.mkdir()
    broken = notes / "broken.md"
    broken.write_text("---\nid: [oops\nname: x\n---\ntext\n", encoding="utf-8")
    no_id = notes / "no-id.md"
    no_id.write_text("---\nname: Nameless\n---\nquokka text\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        report = _rebuild(fresh_index)
    assert report.pages == 15
    assert sorted(path for path, _ in report.skipped) == sorted([str(broken), str(no_id)])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(broken) in w for w in warnings)
    assert any(str(no_id) in w for w in warnings)
    assert "2 page(s) skipped" in report.summary()
    assert _open(fresh_index).search("AML.T0901")[0].id == "AML.T0901"


# --------------------------------------------------------------------------- failed builds


def _assert_unchanged(built: BuiltIndex, generation: str, results: Any, corpus: Any) -> None:
    assert _current(built) == generation
    assert _snapshot(_open(built)) == results
    assert _corpus_state(built.corpus_dir) == corpus


def test_bad_sources_leave_the_previous_index_and_corpus_unchanged(
    fresh_index: BuiltIndex, tmp_path: Path
) -> None:
    generation, results = _current(fresh_index), _snapshot(_open(fresh_index))
    corpus = _corpus_state(fresh_index.corpus_dir)
    generations = _generations(fresh_index)
    text = FIXTURE_RELEASE.read_text(encoding="utf-8")
    truncated = tmp_path / "truncated.yaml"
    truncated.write_text(text[: len(text) // 2], encoding="utf-8")
    not_release = tmp_path / "list.yaml"
    not_release.write_text("- just\n- a list\n", encoding="utf-8")
    for source in (tmp_path / "missing.yaml", truncated, not_release):
        with pytest.raises(ReleaseError):
            _rebuild(fresh_index, source=source)
        _assert_unchanged(fresh_index, generation, results, corpus)
    assert _generations(fresh_index) == generations


def test_corpus_of_only_broken_pages_leaves_the_previous_index(
    fresh_index: BuiltIndex, tmp_path: Path
) -> None:
    generation, results = _current(fresh_index), _snapshot(_open(fresh_index))
    broken = tmp_path / "broken-corpus"
    broken.mkdir()
    (broken / "a.md").write_text("---\nid: [oops\n---\n", encoding="utf-8")
    (broken / "b.md").write_text("no frontmatter\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="no usable page"):
        _rebuild(fresh_index, source=None, corpus_dir=broken, render=False)
    with pytest.raises(CorpusError, match="does not exist"):
        _rebuild(fresh_index, source=None, corpus_dir=tmp_path / "absent", render=False)
    assert _current(fresh_index) == generation
    assert _snapshot(_open(fresh_index)) == results


def test_failure_while_embedding_leaves_the_previous_index(fresh_index: BuiltIndex) -> None:
    class BrokenEmbedder(FakeEmbedder):
        def embed(self, texts: list[str], *, progress: bool = False) -> Any:
            raise RuntimeError("model crashed")

    generation, results = _current(fresh_index), _snapshot(_open(fresh_index))
    (fresh_index.corpus_dir / "n.md").write_text(TEAM_NOTE, encoding="utf-8")  # something to embed
    with pytest.raises(RuntimeError, match="model crashed"):
        _rebuild(fresh_index, BrokenEmbedder(), render=False)
    assert _current(fresh_index) == generation
    assert _snapshot(_open(fresh_index)) == results


def test_failure_while_writing_the_index_discards_the_new_generation(
    fresh_index: BuiltIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    generation, results = _current(fresh_index), _snapshot(_open(fresh_index))
    generations = _generations(fresh_index)

    def fail(self: Generation, *args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(Generation, "add_pages", fail)
    with pytest.raises(OSError, match="disk full"):
        _rebuild(fresh_index)
    monkeypatch.undo()
    assert _generations(fresh_index) == generations
    assert _current(fresh_index) == generation
    assert _snapshot(_open(fresh_index)) == results
    assert _rebuild(fresh_index).embedded == 0  # the next build works and reuses vectors


# --------------------------------------------------------------------------- opening


@pytest.mark.parametrize(
    ("embedder", "problem"),
    [
        (FakeEmbedder(name="all-MiniLM-L6-v2", dimension=64), "model"),
        (FakeEmbedder(name="fake-embedder", dimension=384), "dimension"),
    ],
    ids=["other-name", "other-dimension"],
)
def test_opening_with_another_embedder_is_incompatible(
    built_index: BuiltIndex, embedder: FakeEmbedder, problem: str
) -> None:
    with pytest.raises(IndexIncompatibleError, match=problem) as info:
        AtlasRAG.open(built_index.index_dir, settings=built_index.settings, embedder=embedder)
    assert "rebuild" in str(info.value)


def test_opening_a_missing_index_is_not_built(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with pytest.raises(IndexNotBuiltError, match="atlas-rag build"):
        AtlasRAG.open(tmp_path / "never-built", settings=settings, embedder=FakeEmbedder())
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexNotBuiltError):
        AtlasRAG.open(tmp_path / "empty", settings=settings, embedder=FakeEmbedder())


def test_pointer_to_a_missing_generation_is_not_built(fresh_index: BuiltIndex) -> None:
    (fresh_index.index_dir / "CURRENT").write_text("gen-does-not-exist\n")
    with pytest.raises(IndexNotBuiltError):
        _open(fresh_index)


# --------------------------------------------------------------------------- locking


def test_second_build_while_the_lock_is_held_fails_at_once(fresh_index: BuiltIndex) -> None:
    generation = _current(fresh_index)
    with Store(fresh_index.settings).build_lock():
        embedder = FakeEmbedder()
        with pytest.raises(IndexLockedError) as info:
            _rebuild(fresh_index, embedder)
        assert "another build" in str(info.value)
        assert embedder.calls == 0
        assert _current(fresh_index) == generation
        assert _open(fresh_index).search("AML.T0904")[0].id == "AML.T0904"  # readers still work
    assert _rebuild(fresh_index).embedded == 0  # the lock is free again


# --------------------------------------------------------------------------- pruning


def _fixed_names(monkeypatch: pytest.MonkeyPatch, stamps: list[str], suffixes: list[str]) -> None:
    import atlas_rag.store as store_module

    stamp_iter, suffix_iter = iter(stamps), iter(suffixes)
    monkeypatch.setattr(
        store_module, "time", SimpleNamespace(strftime=lambda fmt: next(stamp_iter))
    )
    monkeypatch.setattr(
        store_module,
        "uuid",
        SimpleNamespace(uuid4=lambda: SimpleNamespace(hex=next(suffix_iter) * 32)),
    )


def test_old_generations_are_pruned_keeping_the_three_newest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stamps = [f"2030010100000{n}" for n in range(6)]
    # each build draws two suffixes: the generation name and the pointer's temporary file
    _fixed_names(monkeypatch, stamps, list("aabbccddeeff"))
    built = build_fixture(tmp_path)
    names = [built.report.generation]
    for _ in range(4):
        names.append(_rebuild(built).generation)
    assert _generations(built) == sorted(names[-3:])
    assert _current(built) == names[-1]


def test_pruning_keeps_the_latest_generations_when_builds_share_a_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stamps = ["20300101000000"] * 6
    _fixed_names(monkeypatch, stamps, list("ffeeddccbbaa"))  # random suffixes, here descending
    built = build_fixture(tmp_path)
    names = [built.report.generation]
    for _ in range(4):
        names.append(_rebuild(built).generation)
    assert _current(built) == names[-1]
    assert set(names[-3:]) <= set(_generations(built))


# --------------------------------------------------------------------------- example questions


def test_the_example_questions_answered_in_the_release_are_stored_and_vote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import atlas_rag.indexer as indexer

    questions = [("zanzibar quokka drawers rattled", "AML.T0902"),
                 ("pelican umbrella sorting", "AML.T0904"),
                 ("a question about an object this release lacks", "AML.T0999")]
    monkeypatch.setattr(indexer, "example_questions", lambda: questions)
    built = build_fixture(tmp_path)
    rag = _open(built)
    assert rag.manifest["examples"] == 2
    stored = Store(built.settings).current().read_examples()
    assert stored is not None and stored.atlas_ids == ["AML.T0902", "AML.T0904"]
    assert stored.texts == ["zanzibar quokka drawers rattled", "pelican umbrella sorting"]
    found = rag.retriever.rank("zanzibar quokka drawers rattled")
    assert "examples" in next(how for i, _, how, _ in found if i == "AML.T0902")
    # The stored questions' words find their object too, on their own.
    assert rag.retriever.search("pelican", k=1, weights={"examples": 0.0, "dense": 0.0,
                                                         "page_bm25": 0.0, "chunk_bm25": 0.0,
                                                         "steps": 0.0})[0].id == "AML.T0904"


def test_a_rebuild_embeds_only_example_questions_it_has_not_embedded_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import atlas_rag.indexer as indexer

    questions = [("zanzibar quokka drawers rattled", "AML.T0902")]
    monkeypatch.setattr(indexer, "example_questions", lambda: questions)
    built = build_fixture(tmp_path)
    again = FakeEmbedder()
    _rebuild(built, again)
    assert again.embedded == 0
    questions.append(("pelican umbrella sorting", "AML.T0904"))
    once_more = FakeEmbedder()
    _rebuild(built, once_more)
    assert once_more.embedded == 1
    stored = Store(built.settings).current().read_examples()
    assert stored is not None and stored.texts == [text for text, _ in questions]
    assert np.allclose(stored.embeddings, FakeEmbedder().embed([t for t, _ in questions]))
    # Another query model embeds every question again.
    other = FakeEmbedder(name="another-model")
    _rebuild(built, other)
    assert other.embedded == built.report.chunks + len(questions)


def test_an_index_without_example_questions_is_searched_without_their_votes(
    fresh_index: BuiltIndex,
) -> None:
    # No packaged question is about the fixture's made-up objects, so none is stored.
    assert fresh_index.report is not None
    assert Store(fresh_index.settings).current().read_examples() is None
    rag = _open(fresh_index)
    assert rag.retriever.examples is None
    assert rag.search("seedbank", k=3)

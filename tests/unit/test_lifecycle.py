"""An index over its life: builds killed with SIGKILL, two builds at once, readers during a
rebuild, and indexes this version cannot read.

Builds that must be interrupted run in a child process (the script below) that stops at a
named stage, writes ``<stage>.reached`` and waits for ``<stage>.go``; the test then kills it
with SIGKILL (nothing in the build can clean up) or lets it continue.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from atlas_rag import AtlasRAG, IndexIncompatibleError, IndexLockedError, build_index
from atlas_rag.indexer import INDEX_FORMAT
from atlas_rag.store import Store
from helpers import FIXTURE_RELEASE, TESTS_DIR, BuiltIndex, FakeEmbedder

pytestmark = pytest.mark.unit

QUERIES = ["AML.T0903", "seedbank", "herbarium rows", "Beacon Throttling", "ledger vault"]
OLD_NAME, NEW_NAME = "Weathervane Model Cloning", "Weathervane Replica Forging"
STAGE_TIMEOUT = 60.0

CHILD = r'''
"""Build the fixture index, stopping at the stages named in the config (see test_lifecycle)."""
import json
import os
import sys
import time
from pathlib import Path

config = json.loads(sys.argv[1])
sys.path.insert(0, config["tests_dir"])

import atlas_rag.store as store_module
from llama_index.vector_stores.chroma import ChromaVectorStore

from atlas_rag import build_index
from helpers import FakeEmbedder, make_settings

signals = Path(config["signals"])


def stop(stage):
    if stage not in config["stops"]:
        return
    (signals / f"{stage}.reached").write_text(str(os.getpid()))
    deadline = time.monotonic() + 120
    while not (signals / f"{stage}.go").exists():
        if time.monotonic() > deadline:
            sys.exit(f"nobody released the build at {stage}")
        time.sleep(0.02)


class StoppingEmbedder(FakeEmbedder):
    def embed(self, texts, *, progress=False):
        stop("embed")
        return super().embed(texts, progress=progress)


original_add = ChromaVectorStore.add


def add_in_two_halves(self, nodes, **kwargs):
    # Half of the chunks are in the new generation's Chroma database when the build stops.
    half = len(nodes) // 2
    ids = original_add(self, nodes[:half], **kwargs)
    stop("write-chunks")
    return ids + original_add(self, nodes[half:], **kwargs)


original_add_pages = store_module.Generation.add_pages


def add_pages(self, *args, **kwargs):
    stop("add-pages")
    return original_add_pages(self, *args, **kwargs)


original_replace = os.replace


def replace(src, dst, *args, **kwargs):
    if Path(dst).name == "CURRENT":  # the manifest is written, the pointer not yet swapped
        stop("publish")
    return original_replace(src, dst, *args, **kwargs)


ChromaVectorStore.add = add_in_two_halves
store_module.Generation.add_pages = add_pages
os.replace = replace

settings = make_settings(Path(config["root"]))
report = build_index(
    config["source"], settings.corpus_dir, settings.index_dir,
    settings=settings, embedder=StoppingEmbedder(),
)
print(json.dumps({"generation": report.generation, "embedded": report.embedded}))
'''


@dataclass
class ChildBuild:
    """A build running in a child process, stopped at will."""

    process: subprocess.Popen[bytes]
    signals: Path
    log: Path

    def wait_for(self, stage: str) -> None:
        reached = self.signals / f"{stage}.reached"
        deadline = time.monotonic() + STAGE_TIMEOUT
        while not reached.exists():
            if self.process.poll() is not None:
                pytest.fail(f"the child build ended before {stage}:\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the child build never reached {stage}:\n{self.output()}")
            time.sleep(0.02)

    def go(self, stage: str) -> None:
        (self.signals / f"{stage}.go").write_text("go")

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        assert self.process.wait(timeout=STAGE_TIMEOUT) == -signal.SIGKILL

    def finish(self) -> dict[str, Any]:
        code = self.process.wait(timeout=STAGE_TIMEOUT)
        assert code == 0, self.output()
        return dict(json.loads(self.log.with_suffix(".out").read_text().strip().splitlines()[-1]))

    def output(self) -> str:
        return "".join(
            p.read_text(errors="replace") for p in (self.log.with_suffix(".out"), self.log)
            if p.exists()
        )


@pytest.fixture
def start_build(tmp_path: Path) -> Iterator[Any]:
    """Start a child build of ``source`` into ``root`` that stops at the given stages."""
    script = tmp_path / "child_build.py"
    script.write_text(CHILD, encoding="utf-8")
    children: list[ChildBuild] = []

    def start(root: Path, source: Path, stops: tuple[str, ...]) -> ChildBuild:
        signals = tmp_path / f"signals-{len(children)}"
        signals.mkdir()
        log = tmp_path / f"child-{len(children)}.err"
        config = {"tests_dir": str(TESTS_DIR), "root": str(root), "source": str(source),
                  "signals": str(signals), "stops": list(stops)}
        with open(log.with_suffix(".out"), "wb") as out, open(log, "wb") as err:
            process = subprocess.Popen(
                [sys.executable, str(script), json.dumps(config)], stdout=out, stderr=err
            )
        child = ChildBuild(process, signals, log)
        children.append(child)
        return child

    yield start
    for child in children:  # a failed test must not leave a build running
        if child.process.poll() is None:
            os.kill(child.process.pid, signal.SIGKILL)
            child.process.wait()


@pytest.fixture
def renamed_release(tmp_path: Path) -> Path:
    """The fixture release with AML.T0903 renamed: a rebuild that has something to embed."""
    text = FIXTURE_RELEASE.read_text(encoding="utf-8")
    assert text.count(f"name: {OLD_NAME}") == 1
    path = tmp_path / "renamed.yaml"
    path.write_text(text.replace(f"name: {OLD_NAME}", f"name: {NEW_NAME}"), encoding="utf-8")
    return path


def _open(built: BuiltIndex, embedder: FakeEmbedder | None = None) -> AtlasRAG:
    return AtlasRAG.open(
        built.index_dir, settings=built.settings, embedder=embedder or FakeEmbedder()
    )


def _snapshot(rag: AtlasRAG) -> list[list[tuple[str, str, float]]]:
    return [[(h.id, h.name, h.score) for h in rag.search(q, k=5)] for q in QUERIES]


def _current(built: BuiltIndex) -> str:
    return (built.index_dir / "CURRENT").read_text().strip()


def _generations(built: BuiltIndex) -> set[str]:
    return {p.name for p in built.index_dir.glob("gen-*")}


def _build(built: BuiltIndex, source: Path, embedder: FakeEmbedder | None = None) -> Any:
    return build_index(
        source, built.corpus_dir, built.index_dir, settings=built.settings,
        embedder=embedder or FakeEmbedder(),
    )


# --------------------------------------------------------------------------- SIGKILL


@pytest.mark.parametrize("stage", ["embed", "write-chunks", "add-pages", "publish"])
def test_build_killed_at_any_stage_leaves_the_previous_index_in_service(
    fresh_index: BuiltIndex, renamed_release: Path, start_build: Any, stage: str
) -> None:
    generation, before = _current(fresh_index), _snapshot(_open(fresh_index))
    generations = _generations(fresh_index)
    child = start_build(fresh_index.root, renamed_release, (stage,))
    child.wait_for(stage)
    child.kill()

    assert _current(fresh_index) == generation
    rag = _open(fresh_index)
    assert _snapshot(rag) == before
    assert rag.get("AML.T0903").name == OLD_NAME
    abandoned = _generations(fresh_index) - generations
    # Past the embedding the new generation exists on disk, unpublished.
    assert len(abandoned) == (0 if stage == "embed" else 1)

    # The kernel released the lock with the process: the next build runs and cleans up.
    report = _build(fresh_index, renamed_release)
    assert _current(fresh_index) == report.generation
    assert _open(fresh_index).search("AML.T0903")[0].name == NEW_NAME
    if stage != "publish":  # see the next test for a build killed while publishing
        assert not abandoned & _generations(fresh_index)


def test_build_killed_while_publishing_is_cleaned_up_by_the_next_build(
    fresh_index: BuiltIndex, renamed_release: Path, start_build: Any
) -> None:
    generations = _generations(fresh_index)
    child = start_build(fresh_index.root, renamed_release, ("publish",))
    child.wait_for("publish")
    child.kill()
    abandoned = _generations(fresh_index) - generations
    assert len(abandoned) == 1
    report = _build(fresh_index, renamed_release)
    assert _generations(fresh_index) == generations | {report.generation}
    assert not list(fresh_index.index_dir.glob(".CURRENT.*"))


# --------------------------------------------------------------------------- two builds


def test_a_second_build_fails_at_once_while_another_process_builds(
    fresh_index: BuiltIndex, renamed_release: Path, start_build: Any
) -> None:
    child = start_build(fresh_index.root, renamed_release, ("embed",))
    child.wait_for("embed")
    embedder = FakeEmbedder()
    started = time.monotonic()
    with pytest.raises(IndexLockedError) as info:
        _build(fresh_index, FIXTURE_RELEASE, embedder)
    assert time.monotonic() - started < 5.0  # it does not wait for the lock
    message = str(info.value)
    assert f"another build of {fresh_index.index_dir} is running" in message
    assert f"pid {child.process.pid}" in message
    assert "wait for it to finish" in message
    assert embedder.calls == 0
    assert _open(fresh_index).get("AML.T0903").name == OLD_NAME  # readers are not blocked

    child.go("embed")
    published = child.finish()
    assert _current(fresh_index) == published["generation"]
    report = _build(fresh_index, renamed_release)  # the lock is free again
    assert report.embedded == 0
    assert _current(fresh_index) == report.generation


# --------------------------------------------------------------------------- readers


def test_a_reader_keeps_answering_during_a_rebuild_and_switches_after_refresh(
    fresh_index: BuiltIndex, renamed_release: Path, start_build: Any
) -> None:
    rag = _open(fresh_index)
    before = _snapshot(rag)
    old_generation = _current(fresh_index)
    stop = threading.Event()
    searches: list[str] = []
    errors: list[BaseException] = []

    def keep_searching() -> None:
        while not stop.is_set():
            try:
                hit = rag.search("AML.T0903", k=1)[0]
                searches.append(hit.name)
            except BaseException as exc:
                errors.append(exc)
                return

    reader = threading.Thread(target=keep_searching, daemon=True)
    reader.start()
    stages = ("embed", "write-chunks", "add-pages", "publish")
    child = start_build(fresh_index.root, renamed_release, stages)
    try:
        for stage in stages:
            child.wait_for(stage)
            assert _snapshot(rag) == before, stage
            answer = rag.ask("what is AML.T0903?")  # ask refreshes: nothing is published yet
            assert OLD_NAME in answer.text, stage
            child.go(stage)
        published = child.finish()
        assert _snapshot(rag) == before  # search does not switch by itself
    finally:
        stop.set()
        reader.join(timeout=STAGE_TIMEOUT)
    assert not errors, errors
    assert len(searches) > 10 and set(searches) == {OLD_NAME}

    assert _current(fresh_index) == published["generation"] != old_generation
    assert old_generation in _generations(fresh_index)  # kept for readers still using it
    assert rag.refresh() is True
    assert rag.search("AML.T0903")[0].name == NEW_NAME
    assert rag.search(NEW_NAME)[0].id == "AML.T0903"
    assert rag.refresh() is False


def test_a_reader_left_behind_by_several_rebuilds_still_answers_and_catches_up(
    fresh_index: BuiltIndex, renamed_release: Path
) -> None:
    rag = _open(fresh_index)
    before = _snapshot(rag)
    first = _current(fresh_index)
    for source in (renamed_release, FIXTURE_RELEASE, renamed_release):
        _build(fresh_index, source)
    assert first not in _generations(fresh_index)  # pruned: only the three newest are kept
    # The reader's database files are deleted but still open, so it answers as before.
    assert _snapshot(rag) == before
    assert rag.refresh() is True
    assert rag.search("AML.T0903")[0].name == NEW_NAME


# --------------------------------------------------------------------------- compatibility


@pytest.mark.parametrize(
    ("embedder", "problem"),
    [
        (FakeEmbedder(name="all-MiniLM-L6-v2", dimension=64), "built with model 'fake-embedder'"),
        (FakeEmbedder(name="fake-embedder", dimension=384), "vectors of dimension 64"),
    ],
    ids=["other-name", "other-dimension"],
)
def test_an_index_of_another_embedder_is_incompatible_and_says_rebuild(
    fresh_index: BuiltIndex, embedder: FakeEmbedder, problem: str
) -> None:
    with pytest.raises(IndexIncompatibleError) as info:
        _open(fresh_index, embedder)
    message = str(info.value)
    assert problem in message
    assert str(fresh_index.index_dir) in message
    assert "rebuild it with `atlas-rag build`" in message
    # Following the hint works: the rebuild embeds everything again with the new model.
    report = _build(fresh_index, FIXTURE_RELEASE, embedder)
    assert report.embedded == report.chunks
    same = FakeEmbedder(name=embedder.name, dimension=embedder.dimension)
    assert _open(fresh_index, same).search("AML.T0904")[0].id == "AML.T0904"


@pytest.mark.parametrize(
    "fmt", [INDEX_FORMAT + 1, INDEX_FORMAT - 1, str(INDEX_FORMAT), None],
    ids=["newer", "older", "text", "missing"],
)
def test_an_index_of_another_format_is_incompatible_and_says_rebuild(
    fresh_index: BuiltIndex, fmt: Any
) -> None:
    generation = Store(fresh_index.settings).current()
    manifest = generation.manifest()
    assert manifest["format"] == INDEX_FORMAT
    if fmt is None:
        del manifest["format"]
    else:
        manifest["format"] = fmt
    generation.set_manifest(manifest)
    with pytest.raises(IndexIncompatibleError) as info:
        _open(fresh_index)
    message = str(info.value)
    assert f"index format {fmt!r}, this version reads format {INDEX_FORMAT}" in message
    assert "rebuild it with `atlas-rag build`" in message
    report = _build(fresh_index, FIXTURE_RELEASE)
    assert report.embedded == report.chunks  # vectors of an unreadable index are not reused
    assert _open(fresh_index).search("AML.T0904")[0].id == "AML.T0904"


def test_a_manifest_on_disk_that_is_not_json_does_not_matter_to_readers(
    fresh_index: BuiltIndex,
) -> None:
    # Readers take the manifest from the Chroma database; the file is for people and prune.
    path = fresh_index.index_dir / _current(fresh_index) / "manifest.json"
    assert json.loads(path.read_text())["format"] == INDEX_FORMAT
    path.write_text("{not json")
    assert _open(fresh_index).search("AML.T0904")[0].id == "AML.T0904"

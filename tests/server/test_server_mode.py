"""Server mode against real Chroma server processes.

Most tests use the server of ATLAS_RAG_TEST_CHROMA_URL (scripts/test.sh starts one), each with
its own collection prefix, and are skipped when it is not set. For a local run::

    chroma run --path /tmp/chroma-test --host 127.0.0.1 --port 8765 &
    ATLAS_RAG_TEST_CHROMA_URL=http://127.0.0.1:8765 pytest tests/server

The dead-port and hung-server tests need no server; the restart test starts and kills its own.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from atlas_rag import AtlasRAG, StoreUnavailableError, build_index
from helpers import FIXTURE_RELEASE, BuiltIndex, FakeEmbedder, build_fixture, make_settings

pytestmark = pytest.mark.server

QUERIES = ["AML.T0903", "seedbank", "herbarium rows", "Beacon Throttling", "ledger vault",
           "how do attackers copy a predictor through its endpoint?"]
QUESTIONS = ["what is AML.T0904?", "which mitigations address AML.T0902?",
             "which ATLAS release are you using?", "case studies of AML.T0901"]
OLD_NAME, NEW_NAME = "Weathervane Model Cloning", "Weathervane Replica Forging"
UNAVAILABLE_LIMIT = 10.0  # seconds a user may wait to learn that the server is not there


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def heartbeat(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=timeout):
            return True
    except OSError:
        return False


def chroma_client(url: str) -> Any:
    host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
    return chromadb.HttpClient(
        host=host, port=int(port), settings=ChromaSettings(anonymized_telemetry=False)
    )


def collections(url: str, prefix: str) -> set[str]:
    names = (getattr(c, "name", str(c)) for c in chroma_client(url).list_collections())
    return {n for n in names if n.startswith(f"{prefix}-")}


def snapshot(rag: AtlasRAG) -> list[list[tuple[str, str, float]]]:
    return [[(h.id, h.name, h.score) for h in rag.search(q, k=5)] for q in QUERIES]


def open_rag(built: BuiltIndex) -> AtlasRAG:
    return AtlasRAG.open(settings=built.settings, embedder=FakeEmbedder())


def timed(action: Callable[[], Any]) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        action()
    except BaseException as exc:
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


def assert_unavailable(error: BaseException | None, seconds: float, url: str) -> None:
    assert isinstance(error, StoreUnavailableError), repr(error)
    assert seconds < UNAVAILABLE_LIMIT, f"took {seconds:.1f} s"
    message = str(error)
    assert f"the Chroma server at {url} is not reachable" in message
    assert "chroma run" in message and "ATLAS_RAG_CHROMA_URL" in message  # how to fix it


class ChromaServer:
    """A `chroma run` process of our own, on a free port, that a test may kill and restart."""

    def __init__(self, path: Path, log: Path) -> None:
        found = Path(sys.executable).with_name("chroma")
        self.command = str(found) if found.is_file() else shutil.which("chroma")
        if not self.command:
            pytest.skip("the `chroma` command (from chromadb) is not installed")
        self.path, self.log, self.port = path, log, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [str(self.command), "run", "--path", str(self.path), "--host", "127.0.0.1",
                 "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while not heartbeat(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"chroma run did not start:\n{self.log.read_text(errors='replace')}")
            time.sleep(0.2)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server_url() -> str:
    url = os.environ.get("ATLAS_RAG_TEST_CHROMA_URL")
    if not url:
        pytest.skip(
            "ATLAS_RAG_TEST_CHROMA_URL is not set: start `chroma run --path DIR --host "
            "127.0.0.1 --port 8765` and set ATLAS_RAG_TEST_CHROMA_URL=http://127.0.0.1:8765 "
            "(scripts/test.sh does both)"
        )
    url = url.rstrip("/")
    if not heartbeat(url, timeout=5):
        pytest.fail(f"ATLAS_RAG_TEST_CHROMA_URL={url} is set but no Chroma server answers there")
    return url


@pytest.fixture
def prefix(server_url: str) -> Iterator[str]:
    """A collection prefix of this test alone; its collections are deleted afterwards."""
    name = f"t{uuid.uuid4().hex[:12]}"
    yield name
    client = chroma_client(server_url)
    for collection in collections(server_url, name):
        client.delete_collection(collection)


@pytest.fixture
def on_server(tmp_path: Path, server_url: str, prefix: str) -> BuiltIndex:
    return build_fixture(tmp_path, chroma_url=server_url, collection_prefix=prefix)


@pytest.fixture
def renamed_release(tmp_path: Path) -> Path:
    text = FIXTURE_RELEASE.read_text(encoding="utf-8")
    path = tmp_path / "renamed.yaml"
    path.write_text(text.replace(f"name: {OLD_NAME}", f"name: {NEW_NAME}"), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- same answers


def test_server_index_answers_like_the_embedded_one(
    on_server: BuiltIndex, rag: AtlasRAG, built_index: BuiltIndex, server_url: str, prefix: str
) -> None:
    assert on_server.report.location == server_url
    assert on_server.report.chunks == built_index.report.chunks
    assert not list(on_server.index_dir.glob("gen-*"))  # nothing but the build lock is local
    generation = on_server.report.generation
    assert collections(server_url, prefix) == {
        f"{prefix}-current", f"{prefix}-{generation}-chunks", f"{prefix}-{generation}-pages"
    }
    remote = open_rag(on_server)
    assert remote.version == rag.version == "0.9.0"
    assert remote.manifest["generation"] == generation
    assert snapshot(remote) == snapshot(rag)
    for record in rag.catalog:
        assert remote.get(record.id) == record
    for question in QUESTIONS:
        assert remote.ask(question).text == rag.ask(question).text, question


def test_two_prefixes_on_one_server_are_separate_indexes(
    on_server: BuiltIndex, tmp_path: Path, server_url: str, renamed_release: Path
) -> None:
    other_prefix = f"{on_server.settings.collection_prefix}-other"
    settings = make_settings(tmp_path / "other", chroma_url=server_url,
                             collection_prefix=other_prefix)
    try:
        build_index(renamed_release, settings.corpus_dir, settings.index_dir, settings=settings,
                    embedder=FakeEmbedder())
        other = AtlasRAG.open(settings=settings, embedder=FakeEmbedder())
        assert other.get("AML.T0903").name == NEW_NAME
        assert open_rag(on_server).get("AML.T0903").name == OLD_NAME
    finally:
        client = chroma_client(server_url)
        for name in collections(server_url, other_prefix):
            client.delete_collection(name)


# --------------------------------------------------------------------------- rebuilds


def test_rebuild_publishes_a_new_generation_that_a_reader_sees_after_refresh(
    on_server: BuiltIndex, server_url: str, prefix: str, renamed_release: Path
) -> None:
    reader = open_rag(on_server)
    before = snapshot(reader)
    first = on_server.report.generation
    report = build_index(
        renamed_release, on_server.corpus_dir, on_server.index_dir,
        settings=on_server.settings, embedder=FakeEmbedder(),
    )
    assert report.generation != first
    assert 0 < report.embedded < report.chunks  # vectors of unchanged chunks come from the server
    assert snapshot(reader) == before  # still on its generation until it refreshes
    assert reader.get("AML.T0903").name == OLD_NAME
    assert reader.refresh() is True
    assert reader.manifest["generation"] == report.generation
    assert reader.get("AML.T0903").name == NEW_NAME
    assert reader.search(NEW_NAME)[0].id == "AML.T0903"
    assert reader.refresh() is False
    assert open_rag(on_server).get("AML.T0903").name == NEW_NAME

    # Older generations are pruned on the server too, keeping the three newest.
    generations = [first, report.generation]
    for source in (FIXTURE_RELEASE, renamed_release):
        generations.append(
            build_index(source, on_server.corpus_dir, on_server.index_dir,
                        settings=on_server.settings, embedder=FakeEmbedder()).generation
        )
    expected = {f"{prefix}-current"} | {
        f"{prefix}-{g}-{kind}" for g in generations[-3:] for kind in ("chunks", "pages")
    }
    assert collections(server_url, prefix) == expected


def test_example_questions_are_stored_read_and_pruned_on_the_server(
    tmp_path: Path, server_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import atlas_rag.indexer as indexer
    from atlas_rag.store import Store

    monkeypatch.setattr(indexer, "example_questions",
                        lambda: [("zanzibar quokka drawers rattled", "AML.T0902")])
    built = build_fixture(tmp_path, chroma_url=server_url, collection_prefix=prefix)
    generations = [built.report.generation]
    assert f"{prefix}-{generations[0]}-examples" in collections(server_url, prefix)
    stored = Store(built.settings).current().read_examples()
    assert stored is not None and stored.atlas_ids == ["AML.T0902"]
    assert stored.texts == ["zanzibar quokka drawers rattled"]
    found = open_rag(built).retriever.rank("zanzibar quokka drawers rattled")
    assert "examples" in next(how for i, _, how, _ in found if i == "AML.T0902")
    for _ in range(3):
        generations.append(build_index(FIXTURE_RELEASE, built.corpus_dir, built.index_dir,
                                       settings=built.settings,
                                       embedder=FakeEmbedder()).generation)
    assert collections(server_url, prefix) == {f"{prefix}-current"} | {
        f"{prefix}-{g}-{kind}" for g in generations[-3:] for kind in ("chunks", "pages", "examples")
    }


# --------------------------------------------------------------------------- server not there


def test_a_dead_port_gives_store_unavailable_quickly_with_the_fix(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = make_settings(tmp_path, chroma_url=url, collection_prefix="dead")
    error, seconds = timed(lambda: AtlasRAG.open(settings=settings, embedder=FakeEmbedder()))
    print(f"\nStoreUnavailableError on open after {seconds:.3f} s")
    assert_unavailable(error, seconds, url)
    embedder = FakeEmbedder()
    error, seconds = timed(
        lambda: build_index(FIXTURE_RELEASE, settings.corpus_dir, settings.index_dir,
                            settings=settings, embedder=embedder)
    )
    print(f"StoreUnavailableError on build after {seconds:.3f} s")
    assert_unavailable(error, seconds, url)
    assert embedder.calls == 0  # it failed before the slow part


def test_a_server_that_never_answers_gives_store_unavailable_after_the_timeout(
    tmp_path: Path,
) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # the kernel accepts connections; nobody ever reads or answers
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    settings = make_settings(tmp_path, chroma_url=url, chroma_timeout=2.0)
    outcome: list[tuple[BaseException | None, float]] = []
    opener = threading.Thread(
        target=lambda: outcome.append(
            timed(lambda: AtlasRAG.open(settings=settings, embedder=FakeEmbedder()))
        ),
        daemon=True,
    )
    opener.start()
    opener.join(timeout=UNAVAILABLE_LIMIT)
    try:
        assert outcome, f"AtlasRAG.open still waiting after {UNAVAILABLE_LIMIT} s"
        assert_unavailable(*outcome[0], url)
    finally:
        listener.close()  # resets the waiting connection, so the thread ends
        opener.join(timeout=5)


def test_a_restarted_server_serves_the_index_again(tmp_path: Path) -> None:
    server = ChromaServer(tmp_path / "chroma", tmp_path / "chroma.log")
    server.start()
    try:
        built = build_fixture(tmp_path / "atlas", chroma_url=server.url,
                              collection_prefix="restart")
        reader = open_rag(built)
        before = snapshot(reader)

        server.kill()
        # The opened index is in memory: search keeps answering from it without the server
        # (it does not switch generations by itself); ask looks for a newer index first.
        assert snapshot(reader) == before
        error, seconds = timed(lambda: reader.ask("what is AML.T0903?"))  # ask refreshes first
        print(f"\nask with the server down: StoreUnavailableError after {seconds:.3f} s")
        assert_unavailable(error, seconds, server.url)
        error, seconds = timed(lambda: open_rag(built))
        assert_unavailable(error, seconds, server.url)

        server.start()  # same port, same data folder
        fresh = open_rag(built)
        assert fresh.manifest["generation"] == built.report.generation
        assert snapshot(fresh) == before
        assert snapshot(reader) == before  # the reader opened before the restart recovers too
        report = build_index(FIXTURE_RELEASE, built.corpus_dir, built.index_dir,
                             settings=built.settings, embedder=FakeEmbedder())
        assert report.embedded == 0  # the stored vectors survived the kill
    finally:
        if server.process is not None:
            server.kill()

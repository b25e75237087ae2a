"""Chroma storage of chunks and pages, in generations that are built aside and then published.

Embedded mode keeps each generation in its own folder ``index/gen-*/`` and publishes it by
rewriting ``index/CURRENT`` atomically. Server mode keeps each generation as a pair of
collections on the Chroma server and publishes it by updating a pointer collection.
Readers only ever open a published generation, so a build that dies leaves the previous
index in service. Chroma computes no embeddings here: vectors always come from us.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import chromadb
import httpx
import numpy as np
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import NotFoundError

from .errors import IndexLockedError, IndexNotBuiltError, StoreUnavailableError
from .settings import Settings

logger = logging.getLogger(__name__)

POINTER = "CURRENT"
HISTORY = "PUBLISHED"  # the last published generations, newest last
BATCH = 1000
KEEP_GENERATIONS = 3  # the published one and two before it, for readers still using them


@dataclass
class StoredChunks:
    ids: list[str]
    documents: list[str]
    metadatas: list[dict[str, Any]]
    embeddings: np.ndarray | None


# The index holds a few thousand chunks: a wide graph search costs little and makes the
# nearest neighbours all but exact, so rebuilding the same release ranks the same way.
HNSW = {"space": "cosine", "ef_construction": 200, "ef_search": 400, "max_neighbors": 32}


def _chroma_settings() -> ChromaSettings:
    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


@dataclass
class StoredExamples:
    """The example questions in users' words an index holds: each question's text, the object
    answering it, and its vector (by the model that embeds queries)."""

    texts: list[str]
    atlas_ids: list[str]
    embeddings: np.ndarray


class Generation:
    """One complete index: a chunks collection, a pages collection with the manifest, and the
    example questions' vectors."""

    def __init__(self, name: str, client: Any, prefix: str) -> None:
        self.name = name
        self.client = client
        self.chunks_name = f"{prefix}-{name}-chunks"
        self.pages_name = f"{prefix}-{name}-pages"
        self.examples_name = f"{prefix}-{name}-examples"

    def chunks(self, create: bool = False) -> Any:
        if create:
            return self.client.create_collection(
                self.chunks_name,
                embedding_function=None,
                configuration={"hnsw": HNSW},
            )
        return self.client.get_collection(self.chunks_name, embedding_function=None)

    def pages(self, create: bool = False, manifest: dict[str, Any] | None = None) -> Any:
        if create:
            return self.client.create_collection(
                self.pages_name,
                embedding_function=None,
                configuration={"hnsw": HNSW},
                metadata={"manifest": json.dumps(manifest or {})},
            )
        return self.client.get_collection(self.pages_name, embedding_function=None)

    def examples(self, create: bool = False) -> Any:
        if create:
            return self.client.create_collection(self.examples_name, embedding_function=None)
        return self.client.get_collection(self.examples_name, embedding_function=None)

    def manifest(self) -> dict[str, Any]:
        meta = self.pages().metadata or {}
        return dict(json.loads(meta.get("manifest") or "{}"))

    def set_manifest(self, manifest: dict[str, Any]) -> None:
        self.pages().modify(metadata={"manifest": json.dumps(manifest)})

    def read_chunks(self, with_embeddings: bool = False) -> StoredChunks:
        include = ["documents", "metadatas"] + (["embeddings"] if with_embeddings else [])
        collection = self.chunks()
        total = collection.count()
        ids: list[str] = []
        docs: list[str] = []
        metas: list[dict[str, Any]] = []
        vectors: list[np.ndarray] = []
        for offset in range(0, total, BATCH):
            got = collection.get(include=include, limit=BATCH, offset=offset)
            ids += got["ids"]
            docs += got["documents"]
            metas += [dict(m) for m in got["metadatas"]]
            if with_embeddings:
                vectors.append(np.asarray(got["embeddings"], dtype=np.float32))
        embeddings = np.vstack(vectors) if vectors else None
        return StoredChunks(ids, docs, metas, embeddings)

    def read_pages(self) -> list[dict[str, Any]]:
        collection = self.pages()
        out: list[dict[str, Any]] = []
        for offset in range(0, collection.count(), BATCH):
            got = collection.get(include=["documents"], limit=BATCH, offset=offset)
            out += [json.loads(doc) for doc in got["documents"]]
        return out

    def add_pages(self, ids: list[str], documents: list[str], embeddings: np.ndarray) -> None:
        collection = self.pages()
        for start in range(0, len(ids), BATCH):
            end = start + BATCH
            collection.add(
                ids=ids[start:end],
                documents=documents[start:end],
                embeddings=embeddings[start:end],
            )

    def add_examples(self, questions: list[tuple[str, str]], embeddings: np.ndarray) -> None:
        """Store (question, object ID) pairs with their vectors."""
        collection = self.examples(create=True)
        for start in range(0, len(questions), BATCH):
            part = questions[start : start + BATCH]
            collection.add(
                ids=[f"example-{start + n}" for n in range(len(part))],
                documents=[text for text, _ in part],
                metadatas=[{"atlas_id": atlas_id} for _, atlas_id in part],
                embeddings=embeddings[start : start + BATCH],
            )

    def read_examples(self) -> StoredExamples | None:
        """The stored example questions, or None for an index built without them."""
        try:
            collection = self.examples()
        except NotFoundError:
            return None
        texts: list[str] = []
        ids: list[str] = []
        vectors: list[np.ndarray] = []
        for offset in range(0, collection.count(), BATCH):
            got = collection.get(include=["documents", "metadatas", "embeddings"], limit=BATCH,
                                 offset=offset)
            texts += [text or "" for text in got["documents"]]
            ids += [str(m.get("atlas_id")) for m in got["metadatas"]]
            vectors.append(np.asarray(got["embeddings"], dtype=np.float32))
        if not ids:
            return None
        return StoredExamples(texts, ids, np.vstack(vectors))

    def vector_store(self) -> Any:
        """This generation's chunks as a llama-index vector store."""
        from llama_index.vector_stores.chroma import ChromaVectorStore

        return ChromaVectorStore(chroma_collection=self.chunks())


class StoreBackend:
    """Where generations live. Two backends share this interface and the build lock:
    :class:`EmbeddedStore` (a folder) and :class:`ServerStore` (a Chroma server)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.index_dir = Path(settings.index_dir)
        self.prefix = settings.collection_prefix

    # ------------------------------------------------------------------ backend

    @property
    def location(self) -> str:
        raise NotImplementedError

    def client_for(self, name: str) -> Any:
        """The Chroma client holding generation ``name``."""
        raise NotImplementedError

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Turn failures of the backend into the library's errors (nothing to do locally)."""
        yield

    def current_name(self) -> str | None:
        """The published generation, or None before the first build."""
        raise NotImplementedError

    def publish(self, generation: Generation, manifest: dict[str, Any]) -> None:
        """Make ``generation`` the one readers open; the swap is atomic."""
        raise NotImplementedError

    def discard(self, generation: Generation) -> None:
        """Remove a generation that was never published (a failed build)."""
        raise NotImplementedError

    def prune(self) -> list[str]:
        """Delete old and abandoned generations, keeping the newest published ones."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared

    def current(self) -> Generation:
        name = self.current_name()
        if name is None:
            raise IndexNotBuiltError(
                f"no index at {self.location}", "run `atlas-rag build` to build it"
            )
        with self.guard():
            return Generation(name, self.client_for(name), self.prefix)

    def new_generation(self) -> Generation:
        name = f"gen-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:6]}"
        with self.guard():
            return Generation(name, self.client_for(name), self.prefix)

    @contextmanager
    def build_lock(self) -> Iterator[None]:
        """Only one build at a time per index; a second build fails at once with a clear error."""
        import fcntl

        self.index_dir.mkdir(parents=True, exist_ok=True)
        path = self.index_dir / ".build.lock"
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise IndexLockedError(
                    f"another build of {self.location} is running ({holder})",
                    "wait for it to finish, then run the build again if still needed",
                ) from exc
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}")
            handle.flush()
            try:
                yield
            finally:
                handle.seek(0)
                handle.truncate()
                fcntl.flock(handle, fcntl.LOCK_UN)


class EmbeddedStore(StoreBackend):
    """Generations in folders of ``index_dir``, each its own embedded Chroma; a pointer file
    names the published one."""

    @property
    def location(self) -> str:
        return str(self.index_dir)

    def client_for(self, name: str) -> Any:
        path = self.index_dir / name / "chroma"
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=_chroma_settings())

    def current_name(self) -> str | None:
        try:
            name = (self.index_dir / POINTER).read_text().strip()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return name if name and (self.index_dir / name).is_dir() else None

    def publish(self, generation: Generation, manifest: dict[str, Any]) -> None:
        (self.index_dir / generation.name / "manifest.json").write_text(
            json.dumps(manifest, indent=2, sort_keys=True)
        )
        tmp = self.index_dir / f".{POINTER}.{uuid.uuid4().hex[:6]}"
        tmp.write_text(generation.name + "\n")
        os.replace(tmp, self.index_dir / POINTER)
        # After the swap: a generation is in HISTORY only once readers could have opened it.
        history = [*self._history(), generation.name][-KEEP_GENERATIONS:]
        tmp = self.index_dir / f".{HISTORY}.tmp"
        tmp.write_text("\n".join(history) + "\n")
        os.replace(tmp, self.index_dir / HISTORY)

    def _history(self) -> list[str]:
        try:
            return (self.index_dir / HISTORY).read_text().split()
        except FileNotFoundError:
            return []

    def discard(self, generation: Generation) -> None:
        shutil.rmtree(self.index_dir / generation.name, ignore_errors=True)

    def prune(self) -> list[str]:
        current = self.current_name()
        removed: list[str] = []
        generations = sorted(p.name for p in self.index_dir.glob("gen-*") if p.is_dir())
        # Publication order: a generation's manifest is written just before it is published.
        for stray in [*self.index_dir.glob(f".{POINTER}.*"), *self.index_dir.glob(f".{HISTORY}.*")]:
            stray.unlink(missing_ok=True)  # left by builds killed while publishing
        history = self._history()
        if history:
            keep = set(history) | {current or ""}
        else:
            published = sorted(
                (g for g in generations if (self.index_dir / g / "manifest.json").is_file()),
                key=lambda g: (self.index_dir / g / "manifest.json").stat().st_mtime_ns,
            )
            keep = set(published[-KEEP_GENERATIONS:]) | {current or ""}
        for name in generations:
            if name not in keep:
                shutil.rmtree(self.index_dir / name, ignore_errors=True)
                removed.append(name)
        return removed


class ServerStore(StoreBackend):
    """Generations as collections on a Chroma server; a pointer collection's metadata names
    the published one. ``index_dir`` holds only the build lock."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._client: Any = None

    @property
    def location(self) -> str:
        return str(self.settings.chroma_url)

    def client_for(self, name: str) -> Any:
        if self._client is None:
            url = urlparse(str(self.settings.chroma_url))
            timeout = self.settings.chroma_timeout
            try:
                # chromadb's HTTP client waits forever: check the server within the timeout
                # first, then bound every later request too.
                base = str(self.settings.chroma_url).rstrip("/")
                with urllib.request.urlopen(f"{base}/api/v2/heartbeat", timeout=timeout):
                    pass
                client = chromadb.HttpClient(
                    host=url.hostname or "127.0.0.1",
                    port=url.port or (443 if url.scheme == "https" else 8000),
                    ssl=url.scheme == "https",
                    settings=_chroma_settings(),
                )
                session = getattr(getattr(client, "_server", None), "_session", None)
                if session is not None:
                    session.timeout = httpx.Timeout(timeout, read=max(timeout, 60.0))
                client.heartbeat()
            except Exception as exc:
                raise self._unavailable(exc) from exc
            self._client = client
        return self._client

    def _unavailable(self, exc: BaseException) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"the Chroma server at {self.settings.chroma_url} is not reachable "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''})",
            "start it (`chroma run --path DIR --host 127.0.0.1 --port 8000`) or unset "
            "ATLAS_RAG_CHROMA_URL to use the embedded store",
        )

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Turn connection failures of the server into StoreUnavailableError."""
        try:
            yield
        except StoreUnavailableError:
            raise
        except Exception as exc:
            if _is_connection_error(exc):
                self._client = None
                raise self._unavailable(exc) from exc
            raise

    def _pointer(self) -> Any:
        return self.client_for("").get_or_create_collection(
            f"{self.prefix}-current", embedding_function=None
        )

    def current_name(self) -> str | None:
        with self.guard():
            client = self.client_for("")
            try:
                pointer = client.get_collection(f"{self.prefix}-current", embedding_function=None)
            except Exception as exc:
                if _is_connection_error(exc):
                    raise
                return None
            return str((pointer.metadata or {}).get("generation") or "") or None

    def publish(self, generation: Generation, manifest: dict[str, Any]) -> None:
        with self.guard():
            pointer = self._pointer()
            history = json.loads((pointer.metadata or {}).get("history") or "[]")
            history = [*history, generation.name][-KEEP_GENERATIONS:]
            pointer.modify(metadata={"generation": generation.name, "history": json.dumps(history)})

    def discard(self, generation: Generation) -> None:
        with self.guard():
            for name in (generation.chunks_name, generation.pages_name, generation.examples_name):
                with contextlib.suppress(Exception):  # never created, or already gone
                    generation.client.delete_collection(name)

    def prune(self) -> list[str]:
        current = self.current_name()
        removed: list[str] = []
        with self.guard():
            client = self.client_for("")
            keep = set(json.loads((self._pointer().metadata or {}).get("history") or "[]"))
            keep.add(current or "")
            for collection in client.list_collections():
                name = getattr(collection, "name", str(collection))
                parts = name[len(self.prefix) + 1 :].rsplit("-", 1)
                if name.startswith(f"{self.prefix}-gen-") and parts[0] not in keep:
                    client.delete_collection(name)
                    removed.append(name)
        return removed


def Store(settings: Settings) -> StoreBackend:
    """The backend the settings ask for: a Chroma server when ``chroma_url`` is set, else a
    folder."""
    return ServerStore(settings) if settings.chroma_url else EmbeddedStore(settings)


def _is_connection_error(exc: BaseException) -> bool:
    names = {type(e).__name__ for e in _chain(exc)}
    text = " ".join(str(e) for e in _chain(exc)).lower()
    return bool(
        names & {"ConnectError", "ConnectTimeout", "ReadTimeout", "RemoteProtocolError",
                 "ConnectionError", "ConnectionRefusedError", "TimeoutException", "ReadError"}
    ) or "could not connect" in text or "connection refused" in text


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen = 0
    while exc is not None and seen < 10:
        yield exc
        exc = exc.__cause__ or exc.__context__
        seen += 1

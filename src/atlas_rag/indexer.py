"""Build the index: release -> corpus pages -> chunks -> embeddings -> a new Chroma generation.

A build never touches the published index until the new one is complete; chunks whose text
did not change keep their stored vectors instead of being embedded again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .chunking import MAX_TOKENS, Chunk, chunk_pages
from .corpus import (
    CorpusReport,
    Page,
    catalog_from_pages,
    complete_pages,
    link_targets,
    merge_pages,
    read_pages,
    unknown_links,
    write_corpus,
)
from .embeddings import Embedder
from .errors import CorpusError, IndexIncompatibleError
from .release import load_catalog
from .settings import Settings
from .store import Generation, Store, StoreBackend
from .tuning import base_embedder, example_questions, questions_digest
from .tuning import query_embedder as tuned_query_embedder

logger = logging.getLogger(__name__)
T = TypeVar("T")

# 2: every page also has a lead chunk (its first sentences under its bare name).
# 3: tactic pages carry their matrix position.
# 4: pages in the vault format (slug ids, "## Case Studies (N)" sections, vault folder layout).
INDEX_FORMAT = 4


@dataclass
class BuildReport:
    """What a build did, for the CLI, logs and benchmarks."""

    atlas_version: str
    location: str
    generation: str
    pages: int
    pages_by_type: dict[str, int]
    chunks: int
    embedded: int
    reused: int
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    corpus_dir: str = ""
    vault_dir: str = ""
    # Vault pages that replaced a release page of the same ID.
    replaced: list[str] = field(default_factory=list)
    # Pages kept with a problem (links to IDs no page has): (path, what).
    warnings: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        types = ", ".join(f"{n} {t}" for t, n in sorted(self.pages_by_type.items()))
        lines = [
            f"ATLAS {self.atlas_version}: {self.pages} pages ({types})",
            f"{self.chunks} chunks: {self.embedded} embedded, {self.reused} reused",
            f"index {self.generation} published at {self.location} in {self.seconds:.1f} s",
        ]
        if self.vault_dir:
            lines.append(f"vault {self.vault_dir}: {len(self.replaced)} release page(s) replaced"
                         + (f" ({', '.join(self.replaced)})" if self.replaced else ""))
        if self.skipped:
            lines.append(f"{len(self.skipped)} page(s) skipped:")
            lines += [f"  {path}: {reason}" for path, reason in self.skipped]
        if self.warnings:
            lines.append(f"{len(self.warnings)} page(s) kept with a warning:")
            lines += [f"  {path}: {reason}" for path, reason in self.warnings]
        return "\n".join(lines)


def manifest_problem(manifest: dict[str, Any], embedder: Embedder) -> str | None:
    """Why an index cannot be used with this embedder, or None when it can."""
    if manifest.get("format") != INDEX_FORMAT:
        return f"index format {manifest.get('format')!r}, this version reads format {INDEX_FORMAT}"
    if manifest.get("model") != embedder.name:
        return f"built with model {manifest.get('model')!r}, not {embedder.name!r}"
    if manifest.get("dimension") != embedder.dimension:
        return f"vectors of dimension {manifest.get('dimension')}, the model gives {embedder.dimension}"
    return None


def build(
    settings: Settings,
    embedder: Embedder | None,
    source: str | None = None,
    render: bool = True,
    progress: bool = True,
    query_embedder: Embedder | None = None,
) -> BuildReport:
    """Render the release into the corpus (unless ``render`` is False) and index the corpus,
    with the pages of the settings' ``vault_dir`` on top: a vault page replaces the corpus page
    of its ID.

    Without an ``embedder``, pages are embedded with the base model of the settings and, when
    fine-tuning is on, questions will be embedded with the base model tuned on this release
    (trained once, cached); the manifest names both.
    """
    started = time.perf_counter()
    corpus_dir = Path(settings.corpus_dir)
    vault_dir = Path(settings.vault_dir) if settings.vault_dir else None
    store = Store(settings)
    with store.build_lock():
        if render:
            catalog = load_catalog(settings, source)
            write_corpus(catalog, corpus_dir)
            logger.info("rendered %d pages into %s", len(catalog), corpus_dir)
        corpus, replaced = _read_corpus(corpus_dir, vault_dir, render)
        if not corpus.pages:
            where = f"{corpus_dir} or {vault_dir}" if vault_dir else str(corpus_dir)
            raise CorpusError(
                f"no usable page in {where}", "run `atlas-rag build` with a release source"
            )
        warnings = unknown_links(corpus.pages)
        for path, reason in warnings:
            logger.warning("%s: %s", path, reason)
        catalog = catalog_from_pages(corpus.pages)
        if embedder is None:
            embedder = base_embedder(settings)
            query_embedder = tuned_query_embedder(settings, catalog, progress)
        names = {r.id: r.name for r in catalog}
        measure = getattr(embedder, "count_tokens", None)  # the model's own word pieces
        chunks = chunk_pages(corpus.pages, names, measure,
                             int(getattr(embedder, "max_tokens", MAX_TOKENS)),
                             link_targets(corpus.pages))
        previous = _previous_vectors(store, embedder)

        missing = [c for c in chunks if c.content_hash not in previous]
        logger.info("%d chunks, %d to embed", len(chunks), len(missing))
        fresh = embedder.embed([c.embed_text for c in missing], progress=progress)
        vectors = dict(previous)
        vectors.update({c.content_hash: fresh[i] for i, c in enumerate(missing)})

        # Example questions in users' words vote for the objects answering them at search
        # time, by their vectors and by their words (retrieval.examples_signal and
        # example_words_signal); embedded like queries, by the query model. A question the
        # published index embedded with the same query model keeps its vector.
        examples = [(text, atlas_id) for text, atlas_id in example_questions() if atlas_id in catalog]
        asker = query_embedder or embedder
        known = _previous_example_vectors(store, asker)
        unknown = [text for text in dict.fromkeys(text for text, _ in examples) if text not in known]
        known.update(zip(unknown, asker.embed(unknown) if unknown else [], strict=True))
        example_vectors = np.asarray([known[text] for text, _ in examples], dtype=np.float32)
        logger.info("%d example questions, %d to embed", len(examples), len(unknown))

        manifest = {
            "format": INDEX_FORMAT,
            "atlas_version": catalog.version,
            "corpus_hash": corpus_hash(corpus.pages),
            "model": embedder.name,
            "query_model": (query_embedder or embedder).name,
            # What the query model was tuned on besides the release (see ``stale_query_model``).
            "questions": (questions_digest()
                          if query_embedder is not None and settings.tune_questions else ""),
            "dimension": embedder.dimension,
            "pages": len(corpus.pages),
            "pages_by_type": dict(Counter(r.type for r in catalog)),
            "chunks": len(chunks),
            "examples": len(examples),
            "skipped": len(corpus.skipped),
            "warnings": len(warnings),
            "vault_dir": str(vault_dir or ""),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        generation = store.new_generation()
        try:
            with store.guard():
                _write_generation(generation, catalog, chunks, vectors, manifest)
                if examples:
                    generation.add_examples(examples, example_vectors)
                manifest["generation"] = generation.name
                generation.set_manifest(manifest)
                store.publish(generation, manifest)
        except BaseException:
            store.discard(generation)
            raise
        store.prune()
    return BuildReport(
        atlas_version=catalog.version,
        location=store.location,
        generation=generation.name,
        pages=len(corpus.pages),
        pages_by_type=dict(Counter(r.type for r in catalog)),
        chunks=len(chunks),
        embedded=len(missing),
        reused=len(chunks) - len(missing),
        skipped=[(str(p), reason) for p, reason in corpus.skipped],
        seconds=time.perf_counter() - started,
        corpus_dir=str(corpus_dir),
        vault_dir=str(vault_dir or ""),
        replaced=replaced,
        warnings=[(str(p), reason) for p, reason in warnings],
    )


def _read_corpus(
    corpus_dir: Path, vault_dir: Path | None, rendered: bool
) -> tuple[CorpusReport, list[str]]:
    """The corpus pages with the vault's on top, and the IDs the vault replaced. Without a
    rendered release, a missing corpus folder is fine when a vault is given."""
    if vault_dir is None:
        return read_pages(corpus_dir), []
    vault = read_pages(vault_dir)
    if not rendered and not corpus_dir.is_dir():
        return vault, []
    corpus = read_pages(corpus_dir)
    pages, replaced = merge_pages(corpus.pages, vault.pages)
    if replaced:
        logger.info("vault pages replace release pages: %s", ", ".join(replaced))
    complete_pages(pages)
    return CorpusReport(pages, corpus.skipped + vault.skipped), replaced


def corpus_hash(pages: list[Page]) -> str:
    digest = hashlib.sha256()
    for page in sorted(pages, key=lambda p: p.id):
        digest.update(page.id.encode())
        digest.update(json.dumps(page.meta, sort_keys=True, default=str).encode())
        digest.update(page.body.encode())
    return digest.hexdigest()


def chunk_metadata(chunk: Chunk) -> dict[str, Any]:
    """Flat metadata (Chroma keeps scalars only): lists become space-separated IDs."""
    return {
        "page_id": chunk.page_id,
        "page_type": chunk.page_type,
        "name": chunk.name,
        "section": chunk.section,
        "kind": chunk.kind,
        "context": chunk.context,
        "links": " ".join(chunk.links),
        "tactics": " ".join(chunk.tactics),
        "parent": chunk.parent,
        "url": chunk.url,
        "content_hash": chunk.content_hash,
    }


def _previous_vectors(store: StoreBackend, embedder: Embedder) -> dict[str, np.ndarray]:
    """Vectors of the published index by chunk hash, when it used the same model."""
    stored = _published(store, lambda manifest: not manifest_problem(manifest, embedder),
                        lambda generation: generation.read_chunks(with_embeddings=True))
    if stored is None or stored.embeddings is None:
        return {}
    return {
        str(meta.get("content_hash")): stored.embeddings[n]
        for n, meta in enumerate(stored.metadatas)
        if meta.get("content_hash")
    }


def _previous_example_vectors(store: StoreBackend, asker: Embedder) -> dict[str, np.ndarray]:
    """Vectors of the published index's example questions by text, when the same model
    embedded them."""
    stored = _published(store, lambda manifest: (manifest.get("query_model") == asker.name
                                                 and manifest.get("dimension") == asker.dimension),
                        lambda generation: generation.read_examples())
    return {} if stored is None else dict(zip(stored.texts, stored.embeddings, strict=True))


def _published(store: StoreBackend, same_model: Callable[[dict[str, Any]], bool],
               read: Callable[[Generation], T | None]) -> T | None:
    """What ``read`` takes from the published generation, when ``same_model`` accepts the
    manifest it was built with; None when there is none, another model built it, or it cannot
    be read (the build then embeds everything again)."""
    if store.current_name() is None:
        return None
    try:
        generation = store.current()
        return read(generation) if same_model(generation.manifest()) else None
    except (IndexIncompatibleError, ValueError, KeyError) as exc:
        logger.warning("cannot reuse vectors of the current index: %s", exc)
        return None


def _write_generation(
    generation: Generation,
    catalog: Any,
    chunks: list[Chunk],
    vectors: dict[str, np.ndarray],
    manifest: dict[str, Any],
) -> None:
    from llama_index.core.schema import TextNode

    generation.chunks(create=True)
    generation.pages(create=True, manifest=manifest)
    store = generation.vector_store()
    nodes = [
        TextNode(
            id_=chunk.id,
            text=chunk.text,
            metadata=chunk_metadata(chunk),
            embedding=[float(x) for x in vectors[chunk.content_hash]],
        )
        for chunk in chunks
    ]
    for start in range(0, len(nodes), 1000):
        store.add(nodes[start : start + 1000])
    titles = {c.page_id: vectors[c.content_hash] for c in chunks if c.kind == "title"}
    records = list(catalog)
    generation.add_pages(
        [r.id for r in records],
        [json.dumps(r.to_dict(), ensure_ascii=False) for r in records],
        np.vstack([titles[r.id] for r in records]),
    )

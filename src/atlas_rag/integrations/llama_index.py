"""llama-index shell: a retriever over the index and the assistant's tools as FunctionTools.

The retriever returns one node per ATLAS object (its page text, with its ID, name, type, URL
and tactics as metadata), so it drops into a ``RetrieverQueryEngine`` or an agent. The tools
are the functions of ``atlas_rag.tools``, the same that back the MCP server.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.core.tools import FunctionTool

from .. import tools
from ..api import AtlasRAG


class AtlasRetriever(BaseRetriever):
    """The ``k`` best ATLAS objects for a query, as nodes carrying their page text."""

    def __init__(
        self, rag: AtlasRAG, k: int = 5, types: Iterable[str] | None = None, **kwargs: Any
    ) -> None:
        if k < 1:
            raise ValueError(f"k must be positive, got {k}")
        self.rag = rag
        self.k = k
        self.types = list(types) if types else None
        super().__init__(**kwargs)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self.rag.search(query_bundle.query_str, k=self.k, types=self.types)
        nodes = []
        for hit in hits:
            record = self.rag.catalog.records[hit.id]
            node = TextNode(
                id_=hit.id,
                text=tools.object_text(self.rag, record),
                metadata={
                    "atlas_id": hit.id, "name": hit.name, "type": hit.type, "url": hit.url,
                    "tactics": list(self.rag.catalog.tactics_of(record)),
                },
            )
            nodes.append(NodeWithScore(node=node, score=hit.score))
        return nodes


def atlas_tools(rag: AtlasRAG) -> list[FunctionTool]:
    """The assistant's tools (search, get_object, related, ask, ...) for a llama-index agent."""
    return [
        FunctionTool.from_defaults(
            fn=spec.bind(lambda: rag), name=spec.name, description=spec.description
        )
        for spec in tools.TOOLS
    ]

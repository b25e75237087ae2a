"""The llama-index shell: the retriever in a query engine, and the tools as FunctionTools."""

from __future__ import annotations

import pytest
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine

from atlas_rag import AtlasRAG, UnknownIdError, tools
from atlas_rag.integrations.llama_index import AtlasRetriever, atlas_tools

pytestmark = pytest.mark.unit


def test_retriever_returns_pages_with_atlas_metadata(rag: AtlasRAG) -> None:
    nodes = AtlasRetriever(rag, k=3).retrieve("cloning a weathervane model")
    assert len(nodes) == 3
    best = nodes[0]
    assert best.node.metadata == {
        "atlas_id": "AML.T0903", "name": "Weathervane Model Cloning", "type": "technique",
        "url": "https://atlas.mitre.org/techniques/AML.T0903", "tactics": ["AML.TA0903"],
    }
    assert best.node.node_id == "AML.T0903"
    text = best.node.get_content()
    assert text.startswith("# AML.T0903: Weathervane Model Cloning")
    assert "## Mitigations" in text and "---" not in text.splitlines()[0]
    assert [n.score for n in nodes] == sorted((n.score for n in nodes), reverse=True)


def test_retriever_keeps_only_the_types_asked_for(rag: AtlasRAG) -> None:
    nodes = AtlasRetriever(rag, k=5, types=["mitigation"]).retrieve("seedbank provenance")
    assert nodes and {n.node.metadata["type"] for n in nodes} == {"mitigation"}
    with pytest.raises(ValueError, match="k must be positive"):
        AtlasRetriever(rag, k=0)


def test_query_engine_with_mock_llm_cites_source_nodes(rag: AtlasRAG) -> None:
    engine = RetrieverQueryEngine.from_args(AtlasRetriever(rag, k=2), llm=MockLLM())
    response = engine.query("Seedbank Poisoning")
    ids = [n.node.metadata["atlas_id"] for n in response.source_nodes]
    assert ids[0] == "AML.T0902" and len(ids) == 2


def test_function_tools_are_the_mcp_tools(rag: AtlasRAG) -> None:
    by_name = {t.metadata.name: t for t in atlas_tools(rag)}
    assert set(by_name) == {spec.name for spec in tools.TOOLS}
    params = by_name["search"].metadata.get_parameters_dict()
    assert params["required"] == ["query"]
    assert params["properties"]["k"]["description"] == "How many results"
    assert "rag" not in params["properties"]
    output = by_name["get_object"].call(atlas_id="t0901.001")
    assert output.raw_output == tools.get_object(rag, "AML.T0901.001")
    related = by_name["related"].call(atlas_id="AML.T0901", relation="subtechniques")
    assert [r["id"] for r in related.raw_output["results"]] == ["AML.T0901.001", "AML.T0901.002"]
    with pytest.raises(UnknownIdError, match="not in ATLAS"):
        by_name["get_object"].fn(atlas_id="AML.T0999")

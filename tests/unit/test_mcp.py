"""The MCP server in process (the SDK's Client): tools, schemas, errors, resources, layers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, MCPError

from atlas_rag import AtlasRAG
from atlas_rag.catalog import Catalog
from atlas_rag.mcp_server import LazyIndex, build_server
from atlas_rag.navigator import LayerEntry, navigator_layer, tactic_shortname
from helpers import FIXTURE_NAMES, FIXTURE_TACTICS, FakeEmbedder, make_settings

pytestmark = [pytest.mark.unit, pytest.mark.anyio]

TOOL_NAMES = {"search", "get_object", "related", "ask", "map_text", "list_tactics",
              "navigator_layer"}
INCIDENT = (
    "The intruders queried the prediction endpoint thousands of times and fitted a "
    "faithful weathervane replica from the answers. Later they leaked the silo ledger "
    "of training records through an unwatched export."
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def server(rag: AtlasRAG) -> Any:
    return build_server(rag)


@pytest.fixture
async def client(server: Any) -> AsyncIterator[Client]:
    async with Client(server, raise_exceptions=True) as connected:
        yield connected


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def error(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    assert result.structured_content is None
    text = result.content[0].text  # type: ignore[union-attr]
    assert text.startswith(f"Error executing tool {tool}: ")
    return text


# ------------------------------------------------------------------------- tool list


async def test_tools_have_typed_described_arguments_output_schemas_and_are_read_only(
    client: Client,
) -> None:
    listed = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(listed) == TOOL_NAMES
    for tool in listed.values():
        assert tool.description, tool.name
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
        assert tool.output_schema is not None and tool.output_schema["type"] == "object"
        for name, prop in tool.input_schema.get("properties", {}).items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
    search = listed["search"].input_schema
    assert set(search["properties"]) == {"query", "k", "types", "tactics"}
    assert search["required"] == ["query"]
    assert (search["properties"]["k"]["minimum"], search["properties"]["k"]["maximum"]) == (1, 50)
    relation = listed["related"].input_schema["properties"]["relation"]
    assert set(relation["enum"]) == {"mitigations", "case_studies", "subtechniques", "parent",
                                     "tactics", "techniques", "attack"}
    assert listed["search"].output_schema["required"] == ["results"]
    assert set(listed["ask"].output_schema["properties"]) == {"text", "citations", "abstained"}
    assert "required" not in listed["list_tactics"].input_schema


# ---------------------------------------------------------------------------- results


async def test_search_returns_ranked_hits_and_filters(client: Client, rag: AtlasRAG) -> None:
    found = await call(client, "search", query="Seedbank Poisoning", k=3)
    results = found["results"]
    assert len(results) == 3
    assert results[0]["id"] == "AML.T0902"
    assert set(results[0]) == {"id", "name", "type", "score", "url", "snippet"}
    assert results[0]["url"] == "https://atlas.mitre.org/techniques/AML.T0902"
    mitigations = await call(client, "search", query="seedbank", types=["mitigation"])
    assert mitigations["results"] and {r["type"] for r in mitigations["results"]} == {"mitigation"}
    # A tactic filter in a loose form (no AML prefix) is read like the chat reads it.
    in_tactic = await call(client, "search", query="seedbank", k=10, tactics=["ta0902"])
    assert "AML.T0902" in {r["id"] for r in in_tactic["results"]}
    for result in in_tactic["results"]:
        record = rag.catalog.records[result["id"]]
        assert record.id == "AML.TA0902" or "AML.TA0902" in record.tactics, record.id


async def test_get_object_reads_any_id_form_and_names_relations(client: Client) -> None:
    sub = await call(client, "get_object", atlas_id="t0901.001")
    assert sub["id"] == "AML.T0901.001" and sub["type"] == "subtechnique"
    assert sub["full_name"] == "Lighthouse Beacon Probing: Foghorn Echo Mapping"
    assert sub["parent"] == {"id": "AML.T0901", "name": "Lighthouse Beacon Probing"}
    # A sub-technique without tactics of its own is in its parent's.
    assert sub["tactics"] == [{"id": "AML.TA0901", "name": "Orchard Surveying"}]
    assert (await call(client, "get_object", atlas_id="AML-T0902-001"))["id"] == "AML.T0902.001"
    technique = await call(client, "get_object", atlas_id="AML.T0903")
    assert technique["mitigations"] == [{"id": "AML.M0901", "name": "Beacon Throttling"}]
    assert technique["uses"]["AML.M0901"]
    study = await call(client, "get_object", atlas_id="cs0901")
    assert [s["technique"] for s in study["procedure"]][:3] == ["AML.T0901.001", "AML.T0902",
                                                               "AML.T0903"]


async def test_related_follows_the_relation_graph(client: Client) -> None:
    subs = await call(client, "related", atlas_id="AML.T0901", relation="subtechniques")
    assert [r["id"] for r in subs["results"]] == ["AML.T0901.001", "AML.T0901.002"]
    assert subs["results"][0]["name"] == "Lighthouse Beacon Probing: Foghorn Echo Mapping"
    parent = await call(client, "related", atlas_id="aml.t0902.001", relation="parent")
    assert parent["id"] == "AML.T0902.001"
    assert [r["id"] for r in parent["results"]] == ["AML.T0902"]
    tactic = await call(client, "related", atlas_id="AML.TA0902", relation="techniques")
    assert [r["id"] for r in tactic["results"]] == ["AML.T0902"]
    attack = await call(client, "related", atlas_id="AML.T0901", relation="attack")
    assert attack["results"] == [{"id": "T1999", "name": "",
                                  "url": "https://attack.mitre.org/techniques/T1999/"}]


async def test_ask_answers_with_citations_and_history(client: Client) -> None:
    answer = await call(client, "ask", question="which mitigations address AML.T0903?")
    assert answer["abstained"] is False
    assert {"AML.T0903", "AML.M0901"} <= set(answer["citations"])
    assert "Beacon Throttling" in answer["text"]
    follow = await call(client, "ask", question="and its case studies?",
                        history=[["what is AML.T0903?", "AML.T0903 is Weathervane Model Cloning."]])
    assert "AML.T0903" in follow["citations"]
    off_topic = await call(client, "ask", question="what is the weather tomorrow?")
    assert off_topic["abstained"] is True and off_topic["citations"] == []


async def test_map_text_gives_techniques_with_evidence_from_the_text(client: Client) -> None:
    mapped = (await call(client, "map_text", text=INCIDENT))["techniques"]
    ids = [t["id"] for t in mapped]
    assert {"AML.T0903", "AML.T0904"} <= set(ids)
    for technique in mapped:
        assert technique["evidence"] and technique["evidence"] in INCIDENT
        assert 0 < technique["confidence"] <= 1
    cloning = mapped[ids.index("AML.T0903")]
    assert cloning["tactics"] == [{"id": "AML.TA0903", "name": "Harvest Siphoning"}]
    assert len((await call(client, "map_text", text=INCIDENT, k=1))["techniques"]) == 1


async def test_list_tactics_in_matrix_order_with_their_techniques(client: Client) -> None:
    tactics = (await call(client, "list_tactics"))["tactics"]
    assert [t["id"] for t in tactics] == list(FIXTURE_TACTICS)
    assert [t["shortname"] for t in tactics] == ["orchard-surveying", "seedbank-tampering",
                                                 "harvest-siphoning"]
    assert [t["id"] for t in tactics[0]["techniques"]] == ["AML.T0901", "AML.T0904"]
    assert tactics[1]["techniques"] == [{"id": "AML.T0902", "name": FIXTURE_NAMES["AML.T0902"]}]


# -------------------------------------------------------------------------- navigator


async def test_navigator_layer_from_ids_has_one_row_per_technique_and_tactic(
    client: Client,
) -> None:
    layer = await call(client, "navigator_layer", atlas_ids=["AML.T0904", "t0901.001"],
                       name="incident 7")
    assert layer["domain"] == "atlas-atlas" and layer["name"] == "incident 7"
    assert set(layer["versions"]) >= {"layer", "navigator"}
    rows = [(r["techniqueID"], r["tactic"]) for r in layer["techniques"]]
    # AML.T0904 is in two tactics, the sub-technique in its parent's one; the parent gets an
    # unscored row that expands it, so the Navigator shows the sub-technique.
    assert sorted(rows) == [("AML.T0901", "orchard-surveying"), ("AML.T0901.001", "orchard-surveying"),
                            ("AML.T0904", "harvest-siphoning"), ("AML.T0904", "orchard-surveying")]
    for row in layer["techniques"]:
        listed = row["techniqueID"] != "AML.T0901"
        assert row["enabled"] is True and ("color" in row) == listed
        assert row.get("score") == (100 if listed else None)
        assert row["showSubtechniques"] == (not listed)


async def test_navigator_layer_from_text_scores_by_confidence(client: Client) -> None:
    mapped = (await call(client, "map_text", text=INCIDENT, k=50))["techniques"]
    layer = await call(client, "navigator_layer", text=INCIDENT)
    confidence = {t["id"]: (t["confidence"], t["evidence"]) for t in mapped}
    # A mapped sub-technique's parent, when not mapped itself, gets an unscored row that
    # expands it in the Navigator; every other row is a mapped technique.
    scored = [r for r in layer["techniques"] if "score" in r]
    expanders = {r["techniqueID"] for r in layer["techniques"] if "score" not in r}
    assert {r["techniqueID"] for r in scored} == set(confidence)
    assert expanders <= {i.rsplit(".", 1)[0] for i in confidence if i.count(".") == 2}
    assert not expanders & set(confidence)
    for row in scored:
        score, evidence = confidence[row["techniqueID"]]
        assert (row["score"], row["comment"]) == (round(score * 100, 1), evidence)
    assert layer["gradient"]["minValue"] == 0 and layer["gradient"]["maxValue"] == 100


def test_navigator_layer_is_a_pure_function_of_the_catalog(catalog: Catalog) -> None:
    layer = navigator_layer(catalog, [LayerEntry("AML.T0902", 50, "seen"),
                                      LayerEntry("AML.T0902", 90)])
    assert layer["techniques"] == [{
        "techniqueID": "AML.T0902", "tactic": "seedbank-tampering", "comment": "seen",
        "enabled": True, "showSubtechniques": False, "score": 50,
        "links": [{"label": "AML.T0902 on atlas.mitre.org",
                   "url": "https://atlas.mitre.org/techniques/AML.T0902"}],
        "metadata": [],
    }]
    assert tactic_shortname("ML Model Access") == "ml-model-access"
    assert tactic_shortname("Command and Control") == "command-and-control"


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("tool", "arguments", "wanted"), [
    ("get_object", {"atlas_id": "AML.T0999"}, ["AML.T0999 is not in ATLAS 0.9.0", "search by name"]),
    ("get_object", {"atlas_id": "weathervane"}, ["'weathervane' is not an ATLAS ID", "AML.T0051"]),
    ("related", {"atlas_id": "AML.T0901", "relation": "parent"},
     ["AML.T0901 is a technique", "use one of mitigations, case_studies, subtechniques"]),
    ("related", {"atlas_id": "AML.T0901", "relation": "friends"}, ["relation", "'subtechniques'"]),
    ("search", {"query": "seedbank", "k": 0}, ["greater than or equal to 1"]),
    ("search", {"query": "seedbank", "types": ["weapon"]}, ["unknown type(s): weapon", "use one of"]),
    ("search", {"query": "seedbank", "tactics": ["AML.T0901"]}, ["not a tactic", "list_tactics"]),
    ("search", {"query": "   "}, ["empty"]),
    ("ask", {"question": "and then?", "history": [["only a question"]]}, ["[question, answer]"]),
    ("navigator_layer", {}, ["give either atlas_ids or text"]),
    ("navigator_layer", {"atlas_ids": ["AML.M0901"]},
     ["AML.M0901 is a mitigation", "pass technique IDs"]),
])
async def test_errors_say_what_was_wrong_and_what_to_try(
    client: Client, tool: str, arguments: dict[str, Any], wanted: list[str]
) -> None:
    text = await error(client, tool, **arguments)
    for part in wanted:
        assert part in text, text


async def test_a_missing_index_is_a_tool_error_that_says_to_build(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    opener = LazyIndex(lambda: AtlasRAG.open(settings=settings, embedder=FakeEmbedder()))
    async with Client(build_server(opener), raise_exceptions=True) as client:
        text = await error(client, "search", query="seedbank")
    assert "atlas-rag build" in text


# -------------------------------------------------------------------------- resources


async def test_release_resource_counts_objects_by_type(client: Client) -> None:
    listed = {str(r.uri) for r in (await client.list_resources()).resources}
    assert "atlas://release" in listed
    read = await client.read_resource("atlas://release")
    info = json.loads(read.contents[0].text)  # type: ignore[union-attr]
    assert info == {"atlas_version": "0.9.0", "objects": 15, "counts": {
        "tactic": 3, "technique": 4, "subtechnique": 3, "mitigation": 3, "case-study": 2}}


async def test_object_resource_is_the_page_in_markdown(client: Client) -> None:
    templates = (await client.list_resource_templates()).resource_templates
    assert [t.uri_template for t in templates] == ["atlas://object/{atlas_id}"]
    read = await client.read_resource("atlas://object/AML.T0901.001")
    content = read.contents[0]
    assert content.mime_type == "text/markdown"
    text = content.text  # type: ignore[union-attr]
    assert text.startswith("---\nid: lighthouse-beacon-probing-foghorn-echo-mapping\n")
    assert "\natlas_id: AML.T0901.001\n" in text
    assert "# AML.T0901.001: Foghorn Echo Mapping" in text
    assert ("> **Sub-Technique of:** [[frameworks/atlas/techniques/orchard-surveying/"
            "lighthouse-beacon-probing/lighthouse-beacon-probing|AML.T0901: Lighthouse Beacon "
            "Probing]]") in text


async def test_an_unknown_object_resource_is_not_found(client: Client) -> None:
    with pytest.raises(MCPError, match=r"AML\.T0999 is not in ATLAS") as raised:
        await client.read_resource("atlas://object/AML.T0999")
    assert raised.value.code == -32602  # the spec's code for a missing resource


# -------------------------------------------------------------------------- serving


@pytest.mark.parametrize(("host", "token", "warned"), [
    ("0.0.0.0", None, True), ("0.0.0.0", "t0ken", False), ("127.0.0.1", None, False),
])
def test_http_serving_warns_on_an_open_address_without_a_token(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path,
    host: str, token: str | None, warned: bool,
) -> None:
    import uvicorn

    from atlas_rag.mcp_server import BearerTokenGuard, serve

    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.update(app=app, **kwargs))
    settings = make_settings(tmp_path, mcp_token=token)
    with caplog.at_level("WARNING", logger="atlas_rag.mcp_server"):
        serve(settings, http=True, host=host, port=8765)
    assert (served["host"], served["port"]) == (host, 8765)
    assert isinstance(served["app"], BearerTokenGuard) == bool(token)
    assert ("ATLAS_RAG_MCP_TOKEN" in caplog.text) == warned

"""Navigator layers on the fixture release: the schema, each source, reading layers back."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from atlas_rag import AtlasRAG, InvalidArgumentError, LayerError
from atlas_rag.catalog import Catalog
from atlas_rag.navigator import (
    case_study_layer,
    frequency_layer,
    ids_layer,
    mapping_layer,
    read_layer,
    write_layer,
)
from helpers import FIXTURE_NAMES, FIXTURE_SUBTECHNIQUES, FIXTURE_TECHNIQUES

pytestmark = pytest.mark.unit

# The fixture's tactics as the Navigator names its columns, written out by hand.
SHORTNAMES = {"AML.TA0901": "orchard-surveying", "AML.TA0902": "seedbank-tampering",
              "AML.TA0903": "harvest-siphoning"}
# Each technique's columns, from the fixture (a sub-technique without tactics: its parent's).
COLUMNS = {
    "AML.T0901": {"orchard-surveying"}, "AML.T0901.001": {"orchard-surveying"},
    "AML.T0901.002": {"orchard-surveying"}, "AML.T0902": {"seedbank-tampering"},
    "AML.T0902.001": {"seedbank-tampering"}, "AML.T0903": {"harvest-siphoning"},
    "AML.T0904": {"harvest-siphoning", "orchard-surveying"},
}
INCIDENT = (
    "The intruders queried the prediction endpoint thousands of times and fitted a "
    "faithful weathervane replica from the answers. Later they leaked the silo ledger "
    "of training records through an unwatched export."
)


def rows(layer: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r["techniqueID"], r["tactic"]) for r in layer["techniques"]]


def check_schema(layer: dict[str, Any], version: str = "0.9.0") -> None:
    """What every layer must hold for the Navigator to open it and show it right."""
    assert layer["domain"] == "atlas-atlas"
    assert layer["versions"] == {"layer": "4.5", "navigator": "4.9.1"}
    assert layer["name"] and layer["description"]
    assert {"name": "atlas_data_version", "value": version} in layer["metadata"]
    assert set(layer["gradient"]) == {"colors", "minValue", "maxValue"}
    assert layer["legendItems"] and all(set(i) == {"label", "color"} for i in layer["legendItems"])
    pairs = rows(layer)
    assert len(pairs) == len(set(pairs)), "one row per technique and tactic"
    present = {t for t, _ in pairs}
    for row in layer["techniques"]:
        assert row["techniqueID"] in FIXTURE_TECHNIQUES + FIXTURE_SUBTECHNIQUES
        assert row["tactic"] in COLUMNS[row["techniqueID"]]
        assert row["tactic"] in SHORTNAMES.values()
        assert {"comment", "enabled", "showSubtechniques", "links", "metadata"} <= set(row)
        if "score" in row:
            assert 0 <= row["score"] <= 100
        subs_present = any(t.startswith(row["techniqueID"] + ".") for t in present)
        assert row["showSubtechniques"] == subs_present, row
        assert all(set(m) == {"name", "value"} and isinstance(m["value"], str)
                   for m in row["metadata"])
    json.dumps(layer)  # plain JSON


def test_ids_layer_has_one_row_per_technique_and_tactic(catalog: Catalog) -> None:
    layer = ids_layer(catalog, ["AML.T0904", "t0902.001", "AML.T0904"], name="threat model")
    check_schema(layer)
    assert layer["name"] == "threat model"
    # In matrix order; the sub-technique in its parent's column, its parent added to expand it.
    assert rows(layer) == [("AML.T0904", "orchard-surveying"), ("AML.T0902", "seedbank-tampering"),
                           ("AML.T0902.001", "seedbank-tampering"), ("AML.T0904", "harvest-siphoning")]
    scored = {r["techniqueID"]: r.get("score") for r in layer["techniques"]}
    assert scored == {"AML.T0904": 100, "AML.T0902.001": 100, "AML.T0902": None}


@pytest.mark.parametrize(("ids", "wanted"), [
    (["AML.M0901"], "AML.M0901 is a mitigation"),
    (["AML.T0999"], "AML.T0999 is not in ATLAS 0.9.0"),
    ([], "no technique ID given"),
])
def test_ids_layer_refuses_what_is_not_a_technique(catalog: Catalog, ids: list[str],
                                                   wanted: str) -> None:
    with pytest.raises((InvalidArgumentError, KeyError)) as caught:
        ids_layer(catalog, ids)
    assert wanted in str(caught.value)


def test_mapping_layer_scores_confidence_out_of_100_with_evidence(rag: AtlasRAG) -> None:
    hits = rag.map_text(INCIDENT, k=50)
    assert hits
    layer = rag.layer(text=INCIDENT)
    check_schema(layer)
    by_id = {h.id: h for h in hits}
    assert {r["techniqueID"] for r in layer["techniques"] if "score" in r} == set(by_id)
    for row in layer["techniques"]:
        if "score" in row:
            hit = by_id[row["techniqueID"]]
            assert row["score"] == round(hit.score * 100, 1)
            assert row["comment"] == hit.snippet and row["comment"] in INCIDENT
    assert layer["gradient"]["maxValue"] == 100
    assert layer == mapping_layer(rag.catalog, hits)


def test_case_study_layer_is_its_procedure(catalog: Catalog) -> None:
    layer = case_study_layer(catalog, "aml.cs0902")
    check_schema(layer)
    assert layer["name"] == f"AML.CS0902: {FIXTURE_NAMES['AML.CS0902']}"
    # AML.T0904 sits in two tactics but the steps used it under harvest-siphoning only; its two
    # steps are one row with both texts.
    assert rows(layer) == [("AML.T0901", "orchard-surveying"), ("AML.T0901.002", "orchard-surveying"),
                           ("AML.T0904", "harvest-siphoning")]
    comments = {r["techniqueID"]: r["comment"] for r in layer["techniques"]}
    assert comments["AML.T0901"].startswith("Step 1: The cartographer swept")
    assert comments["AML.T0904"].startswith("Step 3: The cartographer pried open")
    assert "Step 4: A second ledger snapshot" in comments["AML.T0904"]
    parent = next(r for r in layer["techniques"] if r["techniqueID"] == "AML.T0901")
    assert parent["showSubtechniques"] is True and parent["score"] == 100


def test_case_study_layer_adds_the_parent_of_a_lone_sub_technique(catalog: Catalog) -> None:
    layer = case_study_layer(catalog, "AML.CS0901")
    check_schema(layer)
    assert rows(layer) == [("AML.T0901", "orchard-surveying"), ("AML.T0901.001", "orchard-surveying"),
                           ("AML.T0902", "seedbank-tampering"), ("AML.T0903", "harvest-siphoning")]
    parent = layer["techniques"][0]
    assert "score" not in parent and parent["comment"] == "" and parent["showSubtechniques"]


def test_case_study_layer_refuses_other_objects(catalog: Catalog) -> None:
    with pytest.raises(InvalidArgumentError, match=r"AML\.T0901 is a technique, not a case study"):
        case_study_layer(catalog, "AML.T0901")


def test_frequency_layer_counts_case_studies(catalog: Catalog) -> None:
    layer = frequency_layer(catalog)
    check_schema(layer)
    scores = {r["techniqueID"]: r.get("score") for r in layer["techniques"]}
    # Counted by hand from the fixture's two procedures (AML.CS0902 uses AML.T0904 twice: once).
    assert scores == {"AML.T0901": 1, "AML.T0901.001": 1, "AML.T0901.002": 1, "AML.T0902": 1,
                      "AML.T0903": 1, "AML.T0904": 1}
    assert Counter(rows(layer))[("AML.T0904", "harvest-siphoning")] == 1
    assert layer["gradient"]["maxValue"] == 1
    t0904 = next(r for r in layer["techniques"] if r["techniqueID"] == "AML.T0904")
    assert t0904["comment"] == "Used by 1 of 2 case studies"
    assert {"name": "case_studies", "value": "AML.CS0902"} in t0904["metadata"]


def test_rag_layer_takes_exactly_one_source(rag: AtlasRAG) -> None:
    assert rag.layer("AML.CS0901") == case_study_layer(rag.catalog, "AML.CS0901")
    assert rag.layer(frequency=True) == frequency_layer(rag.catalog)
    assert rag.layer(ids=["AML.T0903"])["techniques"][0]["techniqueID"] == "AML.T0903"
    with pytest.raises(InvalidArgumentError, match="exactly one source"):
        rag.layer("AML.CS0901", frequency=True)
    with pytest.raises(InvalidArgumentError, match="exactly one source"):
        rag.layer()


# ------------------------------------------------------------------------------ reading


@pytest.mark.parametrize("make", [
    lambda c: ids_layer(c, ["AML.T0904", "AML.T0902.001"]),
    lambda c: case_study_layer(c, "AML.CS0902"),
    frequency_layer,
])
def test_round_trip_export_read_gives_the_same_techniques(catalog: Catalog, tmp_path: Any,
                                                          make: Any) -> None:
    layer = make(catalog)
    path = write_layer(layer, tmp_path / "out" / "layer.json")
    read = read_layer(catalog, path.read_bytes())
    assert [(t.id, t.tactic) for t in read.techniques] == rows(layer)
    assert [t.score for t in read.techniques] == [r.get("score") for r in layer["techniques"]]
    assert read.atlas_version == "0.9.0" and read.domain == "atlas-atlas"
    assert {t.name for t in read.techniques} <= {catalog.full_name(catalog.records[i])
                                                 for i in read.ids}
    assert list(tmp_path.joinpath("out").iterdir()) == [path]  # no temporary file left


def test_reads_a_layer_as_the_navigator_exports_it(catalog: Catalog) -> None:
    # Written by hand the way the Navigator saves one: extra fields, a lower-case ID.
    exported = {
        "name": "from the navigator", "versions": {"attack": "16", "navigator": "4.9.1",
                                                   "layer": "4.5"},
        "domain": "atlas-atlas", "description": "", "filters": {"platforms": ["Cloud"]},
        "sorting": 0, "layout": {"layout": "side"}, "hideDisabled": False,
        "techniques": [
            {"techniqueID": "AML.T0903", "tactic": "harvest-siphoning", "color": "#e60d0d",
             "comment": "", "enabled": True, "metadata": [], "links": [],
             "showSubtechniques": False},
            {"techniqueID": "aml.t0901.002", "tactic": "orchard-surveying", "score": 3,
             "enabled": True},
        ],
        "gradient": {"colors": ["#ff6666ff", "#ffe766ff"], "minValue": 0, "maxValue": 100},
        "legendItems": [], "metadata": [], "links": [], "showTacticRowBackground": False,
    }
    read = read_layer(catalog, json.dumps(exported))
    assert [(t.id, t.name, t.tactic, t.score) for t in read.techniques] == [
        ("AML.T0903", "Weathervane Model Cloning", "harvest-siphoning", None),
        ("AML.T0901.002", "Lighthouse Beacon Probing: Tidal Chart Scraping", "orchard-surveying", 3.0),
    ]
    assert read.atlas_version is None


@pytest.mark.parametrize(("data", "wanted"), [
    ('{"name": "x", "domain": "enterprise-attack", "techniques": [{"techniqueID": "T1059"}]}',
     ["'enterprise-attack' domain, not ATLAS", "ATLAS Navigator"]),
    ('{"domain": "atlas-atlas", "metadata": [{"name": "atlas_data_version", "value": "9.9"}], '
     '"techniques": [{"techniqueID": "AML.T0051", "tactic": "execution"}, '
     '{"techniqueID": "AML.T0903", "tactic": "harvest-siphoning"}]}',
     ["1 technique(s) or tactic(s) not in ATLAS 0.9.0: AML.T0051", "made for ATLAS 9.9"]),
    ('{"domain": "atlas-atlas", "techniques": [{"techniqueID": "AML.T0903", "tactic": "impact"}]}',
     ["tactic 'impact' of AML.T0903"]),
    ('{"domain": "atlas-atlas", "techniques": [{"techniqueID": "AML.M0901"}]}',
     ["not in ATLAS 0.9.0: AML.M0901"]),
    ("name,score\nAML.T0903,3\n", ["not JSON", "download layer as JSON"]),
    (b"\xff\xfe{", ["not JSON"]),
    ('[{"techniqueID": "AML.T0903"}]', ["not a Navigator layer"]),
])
def test_read_errors_say_what_is_wrong(catalog: Catalog, data: str | bytes,
                                       wanted: list[str]) -> None:
    with pytest.raises(LayerError) as caught:
        read_layer(catalog, data)
    for part in wanted:
        assert part in str(caught.value), str(caught.value)
    assert caught.value.hint

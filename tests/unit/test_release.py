"""Loading and validating a release: records, relations in both directions, clear errors."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from atlas_rag import ReleaseError, UnknownIdError
from atlas_rag.catalog import Catalog
from atlas_rag.release import load_catalog, load_release, parse_release, resolve_source
from helpers import (
    FIXTURE_CASE_STUDIES,
    FIXTURE_IDS,
    FIXTURE_MITIGATIONS,
    FIXTURE_NAMES,
    FIXTURE_SUBTECHNIQUES,
    FIXTURE_TACTICS,
    FIXTURE_TECHNIQUES,
    make_settings,
)

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def raw(fixture_release: Path) -> dict[str, Any]:
    return yaml.safe_load(fixture_release.read_text(encoding="utf-8"))


def _write(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the fixture


def test_fixture_parses_into_every_object(catalog: Catalog) -> None:
    assert catalog.version == "0.9.0"
    assert len(catalog) == 15
    assert sorted(catalog.records) == sorted(FIXTURE_IDS)
    assert list(catalog.records)[3:10] == [  # release order
        "AML.T0901", "AML.T0901.001", "AML.T0901.002", "AML.T0902", "AML.T0902.001",
        "AML.T0903", "AML.T0904",
    ]
    types = {
        **dict.fromkeys(FIXTURE_TACTICS, "tactic"),
        **dict.fromkeys(FIXTURE_TECHNIQUES, "technique"),
        **dict.fromkeys(FIXTURE_SUBTECHNIQUES, "subtechnique"),
        **dict.fromkeys(FIXTURE_MITIGATIONS, "mitigation"),
        **dict.fromkeys(FIXTURE_CASE_STUDIES, "case-study"),
    }
    for atlas_id, kind in types.items():
        record = catalog.get(atlas_id)
        assert record.type == kind
        assert record.name == FIXTURE_NAMES[atlas_id]
        assert record.atlas_version == "0.9.0"
        assert record.description


def test_fields_of_a_technique(catalog: Catalog) -> None:
    t = catalog.get("AML.T0901")
    assert t.url == "https://atlas.mitre.org/techniques/AML.T0901"
    assert t.attack_reference == {"id": "T1999", "url": "https://attack.mitre.org/techniques/T1999/"}
    assert t.maturity == "demonstrated"
    assert t.created == "2024-03-01"
    assert t.modified == "2025-02-14"
    assert t.extra["references"] == [
        {"title": "A made-up field guide to beacon sweeps", "url": "https://example.org/beacon-sweeps"}
    ]


def test_urls_of_each_kind(catalog: Catalog) -> None:
    assert catalog.get("AML.TA0902").url == "https://atlas.mitre.org/tactics/AML.TA0902"
    assert catalog.get("AML.T0902.001").url == "https://atlas.mitre.org/techniques/AML.T0902.001"
    assert catalog.get("AML.M0903").url == "https://atlas.mitre.org/mitigations/AML.M0903"
    assert catalog.get("AML.CS0902").url == "https://atlas.mitre.org/studies/AML.CS0902"


def test_case_study_fields(catalog: Catalog) -> None:
    cs = catalog.get("AML.CS0901")
    assert cs.description.startswith("A fictional red team")
    assert cs.extra["case_study_type"] == "exercise"
    assert cs.extra["incident_date"] == "2024-09-01"
    assert cs.extra["actor"] == "Copper Kestrel red team"
    assert [(s.tactic, s.technique) for s in cs.procedure] == [
        ("AML.TA0901", "AML.T0901.001"),
        ("AML.TA0902", "AML.T0902"),
        ("AML.TA0903", "AML.T0903"),
    ]
    assert cs.procedure[1].description.startswith("The crew slipped tainted kernels")


def test_lookup_by_id_in_any_case_and_unknown_ids(catalog: Catalog) -> None:
    assert catalog.get("aml.t0902.001").id == "AML.T0902.001"
    with pytest.raises(UnknownIdError) as info:
        catalog.get("AML.T0999")
    assert isinstance(info.value, KeyError)
    assert "AML.T0999" in str(info.value)
    with pytest.raises(UnknownIdError):
        catalog.get("Lighthouse Beacon Probing")


def test_lookup_by_name_and_attack_reference(catalog: Catalog) -> None:
    assert catalog.by_name("lighthouse beacon probing") == ["AML.T0901"]
    assert catalog.by_name("Lighthouse Beacon Probing: Foghorn Echo Mapping") == ["AML.T0901.001"]
    assert catalog.by_attack("t1999") == ["AML.T0901"]
    full_name = catalog.full_name(catalog.get("AML.T0902.001"))
    assert full_name == "Seedbank Poisoning: Grafted Label Swapping"


# --------------------------------------------------------------------------- relations


def test_tactic_technique_relations_match_the_release(
    catalog: Catalog, raw: dict[str, Any]
) -> None:
    pairs = {
        (t["id"], tac) for t in raw["matrices"][0]["techniques"] for tac in t.get("tactics", [])
    }
    assert pairs == {
        ("AML.T0901", "AML.TA0901"),
        ("AML.T0902", "AML.TA0902"),
        ("AML.T0903", "AML.TA0903"),
        ("AML.T0904", "AML.TA0903"),
        ("AML.T0904", "AML.TA0901"),
    }
    from_tactics = {(t, tac.id) for tac in catalog.of_type("tactic") for t in tac.techniques}
    assert from_tactics == pairs
    for tech, tac in pairs:
        assert tac in catalog.get(tech).tactics
    assert catalog.get("AML.T0904").tactics == ("AML.TA0903", "AML.TA0901")  # release order


def test_every_tactic_of_a_top_level_technique_lists_it_back(catalog: Catalog) -> None:
    for record in catalog.of_type("technique"):
        for tac in record.tactics:
            assert record.id in catalog.get(tac).techniques


def test_subtechniques_inherit_their_parents_tactics(catalog: Catalog) -> None:
    assert catalog.get("AML.T0901.001").tactics == ("AML.TA0901",)
    assert catalog.get("AML.T0902.001").tactics == ("AML.TA0902",)


def test_parent_and_subtechnique_relations(catalog: Catalog) -> None:
    assert catalog.get("AML.T0901").subtechniques == ("AML.T0901.001", "AML.T0901.002")
    assert catalog.get("AML.T0902").subtechniques == ("AML.T0902.001",)
    assert catalog.get("AML.T0903").subtechniques == ()
    for sub in FIXTURE_SUBTECHNIQUES:
        record = catalog.get(sub)
        assert record.parent == sub.rsplit(".", 1)[0]
        assert sub in catalog.get(record.parent).subtechniques
    for tech in FIXTURE_TECHNIQUES:
        assert catalog.get(tech).parent is None


def test_mitigation_technique_relations_in_both_directions(
    catalog: Catalog, raw: dict[str, Any]
) -> None:
    pairs = {(m["id"], t["id"]) for m in raw["matrices"][0]["mitigations"] for t in m["techniques"]}
    assert len(pairs) == 6
    assert {(m.id, t) for m in catalog.of_type("mitigation") for t in m.techniques} == pairs
    assert {
        (m, t.id)
        for t in catalog.of_type("technique", "subtechnique")
        for m in t.mitigations
    } == pairs
    assert catalog.get("AML.T0901").mitigations == ("AML.M0901",)
    assert catalog.get("AML.T0901.002").mitigations == ()


def test_mitigation_use_text_is_kept_on_both_sides(catalog: Catalog) -> None:
    use = catalog.get("AML.M0901").uses["AML.T0903"]
    assert use.startswith("Caps on queries per caller")
    assert catalog.get("AML.T0903").uses["AML.M0901"] == use


def test_case_study_technique_relations_in_both_directions(catalog: Catalog) -> None:
    assert catalog.get("AML.CS0901").techniques == ("AML.T0901.001", "AML.T0902", "AML.T0903")
    # AML.T0904 is used by two steps of CS0902 but listed once
    assert catalog.get("AML.CS0902").techniques == ("AML.T0901", "AML.T0901.002", "AML.T0904")
    assert catalog.get("AML.CS0902").tactics == ("AML.TA0901", "AML.TA0903")
    for cs in FIXTURE_CASE_STUDIES:
        for tech in catalog.get(cs).techniques:
            assert catalog.get(tech).case_studies.count(cs) == 1
    for tech in catalog.of_type("technique", "subtechnique"):
        for cs in tech.case_studies:
            assert tech.id in catalog.get(cs).techniques
    # a step on a sub-technique does not make the study an example of the parent
    assert catalog.get("AML.T0902.001").case_studies == ()
    assert catalog.get("AML.T0904").case_studies == ("AML.CS0902",)


def test_techniques_keep_every_procedure_step_as_an_example(catalog: Catalog) -> None:
    examples = catalog.get("AML.T0904").examples
    assert [(e.case_study, e.step, e.tactic) for e in examples] == [
        ("AML.CS0902", 3, "AML.TA0903"),
        ("AML.CS0902", 4, "AML.TA0903"),
    ]
    assert examples[1].description.startswith("A second ledger snapshot")


def test_a_technique_listed_twice_by_a_mitigation_keeps_both_use_texts(
    raw: dict[str, Any]
) -> None:
    data = copy.deepcopy(raw)
    mitigation = data["matrices"][0]["mitigations"][2]
    assert mitigation["id"] == "AML.M0903"
    mitigation["techniques"].append({"id": "AML.T0904", "use": "Rotate the vault keyring weekly."})
    catalog = parse_release(data, "edited.yaml")
    assert catalog.get("AML.M0903").techniques == ("AML.T0904",)
    use = catalog.get("AML.M0903").uses["AML.T0904"]
    assert "Encrypted ledgers leak nothing useful" in use
    assert "Rotate the vault keyring weekly" in use


def test_a_lifecycle_keeps_stage_names_only(raw: dict[str, Any]) -> None:
    data = copy.deepcopy(raw)
    mitigation = data["matrices"][0]["mitigations"][2]
    mitigation["ml-lifecycle"].append({"id": "AML.T0904", "use": "Misplaced under the stages."})
    lifecycle = parse_release(data, "edited.yaml").get("AML.M0903").extra["lifecycle"]
    assert lifecycle == ["Monitoring and Maintenance"]


# --------------------------------------------------------------------------- errors


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "ATLAS.yaml"
    with pytest.raises(ReleaseError) as info:
        load_release(path)
    assert str(path) in str(info.value)


def test_truncated_release_names_the_file(tmp_path: Path, fixture_release: Path) -> None:
    text = fixture_release.read_text(encoding="utf-8")
    path = tmp_path / "half.yaml"
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    with pytest.raises(ReleaseError) as info:
        load_release(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5, 0.6, 0.7])
def test_release_cut_at_a_line_boundary_is_rejected(
    tmp_path: Path, fixture_release: Path, fraction: float
) -> None:
    lines = fixture_release.read_text(encoding="utf-8").splitlines(keepends=True)
    path = tmp_path / "cut.yaml"
    path.write_text("".join(lines[: int(len(lines) * fraction)]), encoding="utf-8")
    with pytest.raises(ReleaseError) as info:
        load_release(path)
    assert str(path) in str(info.value)


def test_release_cut_inside_a_case_study_procedure_is_rejected(
    tmp_path: Path, fixture_release: Path
) -> None:
    text = fixture_release.read_text(encoding="utf-8")
    start = text.index("case-studies:")
    marker = "    technique: AML.T0901.001\n"
    cut = text.index(marker, start) + len(marker)
    path = tmp_path / "cut-in-procedure.yaml"
    path.write_text(text[:cut], encoding="utf-8")
    with pytest.raises(ReleaseError) as info:
        load_release(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "content",
    [
        "just a sentence\n",
        "- a\n- list\n",
        "{}\n",
        "id: ATLAS\nname: Not really\nversion: 1\n",
        "id: ATLAS\nname: x\nversion: 1\nmatrices: []\ncase-studies: []\n",
        "",
    ],
    ids=["scalar", "list", "empty-mapping", "no-matrices", "empty-matrices", "empty-file"],
)
def test_valid_yaml_that_is_not_a_release(tmp_path: Path, content: str) -> None:
    path = tmp_path / "other.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ReleaseError) as info:
        load_release(path)
    assert str(path) in str(info.value)
    assert "not" in str(info.value)


def test_reference_to_an_unknown_technique(tmp_path: Path, raw: dict[str, Any]) -> None:
    data = copy.deepcopy(raw)
    data["matrices"][0]["mitigations"][0]["techniques"].append({"id": "AML.T0988", "use": "x"})
    path = _write(tmp_path / "unknown-ref.yaml", data)
    with pytest.raises(ReleaseError) as info:
        load_release(path)
    assert str(path) in str(info.value)
    assert "AML.T0988" in str(info.value)
    assert "AML.M0901" in str(info.value)


def test_case_study_step_with_an_unknown_technique(tmp_path: Path, raw: dict[str, Any]) -> None:
    data = copy.deepcopy(raw)
    data["case-studies"][1]["procedure"][0]["technique"] = "AML.T0977"
    path = _write(tmp_path / "unknown-step.yaml", data)
    with pytest.raises(ReleaseError, match=r"AML\.T0977") as info:
        load_release(path)
    assert "AML.CS0902" in str(info.value)


def test_subtechnique_of_an_unknown_parent(tmp_path: Path, raw: dict[str, Any]) -> None:
    data = copy.deepcopy(raw)
    data["matrices"][0]["techniques"][1]["subtechnique-of"] = "AML.T0966"
    with pytest.raises(ReleaseError, match=r"AML\.T0966"):
        load_release(_write(tmp_path / "orphan.yaml", data))


def test_tactic_reference_that_is_not_a_tactic(tmp_path: Path, raw: dict[str, Any]) -> None:
    data = copy.deepcopy(raw)
    data["matrices"][0]["techniques"][0]["tactics"] = ["AML.M0901"]
    with pytest.raises(ReleaseError, match=r"AML\.M0901"):
        load_release(_write(tmp_path / "bad-tactic.yaml", data))


def test_duplicate_ids_are_rejected(tmp_path: Path, raw: dict[str, Any]) -> None:
    data = copy.deepcopy(raw)
    techniques = data["matrices"][0]["techniques"]
    techniques.append(copy.deepcopy(techniques[0]))
    with pytest.raises(ReleaseError, match=r"AML\.T0901 appears twice"):
        load_release(_write(tmp_path / "dup.yaml", data))


def test_object_without_name_is_rejected(tmp_path: Path, raw: dict[str, Any]) -> None:
    data = copy.deepcopy(raw)
    del data["matrices"][0]["mitigations"][1]["name"]
    with pytest.raises(ReleaseError, match=r"AML\.M0902 has no name"):
        load_release(_write(tmp_path / "noname.yaml", data))


def test_non_utf8_bytes_name_the_file(tmp_path: Path, fixture_release: Path) -> None:
    data = fixture_release.read_bytes().replace(b"Orchard Surveying", b"Orchard Surv\xe9ying")
    path = tmp_path / "latin1.yaml"
    path.write_bytes(data)
    with pytest.raises(ReleaseError) as info:
        load_release(path)
    assert str(path) in str(info.value)
    assert "UTF-8" in str(info.value)


# --------------------------------------------------------------------------- sources


def test_local_source_is_used_as_is(tmp_path: Path, fixture_release: Path) -> None:
    settings = make_settings(tmp_path)
    assert resolve_source(settings, fixture_release) == fixture_release
    assert len(load_catalog(settings, str(fixture_release))) == 15


def test_source_setting_is_used_when_no_source_is_given(
    tmp_path: Path, fixture_release: Path
) -> None:
    settings = make_settings(tmp_path, source=str(fixture_release))
    assert len(load_catalog(settings)) == 15


def test_missing_local_source_tells_how_to_fix(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with pytest.raises(ReleaseError) as info:
        resolve_source(settings, tmp_path / "missing.yaml")
    assert "missing.yaml" in str(info.value)
    assert "--source" in str(info.value)


def test_offline_without_source_or_cache_tells_how_to_point_at_a_file(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)  # offline, empty cache, no source
    with pytest.raises(ReleaseError) as info:
        load_catalog(settings)
    message = str(info.value)
    assert "offline" in message
    assert "ATLAS_RAG_SOURCE" in message
    assert "--source" in message
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.yaml"))


def test_offline_refuses_to_download_a_url(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with pytest.raises(ReleaseError) as info:
        resolve_source(settings, "https://example.org/ATLAS.yaml")
    assert "offline" in str(info.value)
    assert "ATLAS_RAG_SOURCE" in str(info.value)


def test_unpinned_release_version_is_an_error(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, release="0.0.1")
    with pytest.raises(ReleaseError, match=r"0\.0\.1"):
        resolve_source(settings)


def test_cached_file_with_the_wrong_checksum_is_not_trusted(
    tmp_path: Path, fixture_release: Path
) -> None:
    settings = make_settings(tmp_path)
    cached = tmp_path / "cache" / settings.release / "ATLAS.yaml"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(fixture_release.read_bytes())  # not the official file
    with pytest.raises(ReleaseError, match="offline"):
        resolve_source(settings)


def test_release_with_a_byte_order_mark_or_windows_line_endings_loads(
    tmp_path: Path, fixture_release: Path
) -> None:
    data = fixture_release.read_bytes()
    bom = tmp_path / "bom.yaml"
    bom.write_bytes(b"\xef\xbb\xbf" + data)
    crlf = tmp_path / "crlf.yaml"
    crlf.write_bytes(data.replace(b"\n", b"\r\n"))
    for path in (bom, crlf):
        catalog = load_release(path)
        assert len(catalog) == 15
        assert catalog.get("AML.M0901").techniques == ("AML.T0901", "AML.T0901.001", "AML.T0903")

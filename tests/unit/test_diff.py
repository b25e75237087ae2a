"""Comparing two releases: objects added, removed and changed, the report and `atlas-rag diff`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from atlas_rag import ReleaseError
from atlas_rag.cli import main
from atlas_rag.diff import diff_releases, render_diff
from helpers import FIXTURE_IDS, FIXTURE_RELEASE

pytestmark = pytest.mark.unit


def _release(tmp_path: Path, name: str, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the fixture release with ``edit`` applied to its parsed YAML."""
    data = yaml.safe_load(FIXTURE_RELEASE.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _find(data: dict[str, Any], atlas_id: str) -> dict[str, Any]:
    matrix = data["matrices"][0]
    for item in matrix["tactics"] + matrix["techniques"] + matrix["mitigations"] + data["case-studies"]:
        if item["id"] == atlas_id:
            return item
    raise KeyError(atlas_id)


def _update(data: dict[str, Any]) -> None:
    """The changes of a made-up next release; the expected diff is written out in the tests."""
    matrix = data["matrices"][0]
    data["version"] = "0.9.1"
    _find(data, "AML.T0903")["name"] = "Weathervane Replica Forging"
    _find(data, "AML.T0901.001")["maturity"] = "realized"
    _find(data, "AML.T0901")["ATT&CK-reference"]["id"] = "T1998"
    _find(data, "AML.CS0902")["procedure"][3]["description"] = (
        "A second snapshot was carried off a month later through a different silo."
    )
    # Only dates differ: not a change a reader cares about.
    _find(data, "AML.TA0901")["modified_date"] = "2026-01-01"
    matrix["techniques"].append(
        {
            "id": "AML.T0905",
            "name": "Compost Heap Smuggling",
            "description": "Adversaries may hide tainted kernels inside compost shipments.",
            "object-type": "technique",
            "tactics": ["AML.TA0902"],
            "maturity": "feasible",
        }
    )
    matrix["mitigations"] = [m for m in matrix["mitigations"] if m["id"] != "AML.M0903"]


@pytest.fixture
def releases(tmp_path: Path) -> tuple[Path, Path]:
    return FIXTURE_RELEASE, _release(tmp_path, "next", _update)


def test_added_removed_and_changed_objects_are_listed_in_release_order(
    releases: tuple[Path, Path],
) -> None:
    diff = diff_releases(*releases)
    assert (diff.old_version, diff.new_version) == ("0.9.0", "0.9.1")
    assert diff.added == [("AML.T0905", "technique", "Compost Heap Smuggling")]
    assert diff.removed == [("AML.M0903", "mitigation", "Ledger Vault Encryption")]
    assert diff.changed == [
        ("AML.TA0902", "Seedbank Tampering", ["techniques"]),  # gained the new technique
        ("AML.T0901", "Lighthouse Beacon Probing", ["attack_reference"]),
        ("AML.T0901.001", "Foghorn Echo Mapping", ["maturity"]),
        ("AML.T0903", "Weathervane Replica Forging", ["name"]),
        ("AML.T0904", "Silo Ledger Leakage", ["mitigations", "uses"]),  # lost AML.M0903
        ("AML.CS0902", "Glasshouse Cartographer Incident", ["procedure"]),
    ]
    # 15 objects in the new release: 1 added, 6 changed, the rest (dates only or nothing) not.
    assert diff.unchanged == 8
    assert diff.counts() == {"added": 1, "removed": 1, "changed": 6, "unchanged": 8}


def test_a_release_compared_with_itself_has_no_changes() -> None:
    diff = diff_releases(FIXTURE_RELEASE, FIXTURE_RELEASE)
    assert not diff.added and not diff.removed and not diff.changed
    assert diff.unchanged == len(FIXTURE_IDS)
    text = render_diff(diff)
    assert "0 added, 0 removed, 0 changed, 15 unchanged" in text
    assert "No object was added, removed or changed." in text


def test_reverse_diff_swaps_added_and_removed(releases: tuple[Path, Path]) -> None:
    old, new = releases
    forward, backward = diff_releases(old, new), diff_releases(new, old)
    assert backward.added == forward.removed
    assert backward.removed == forward.added
    assert {i for i, _, _ in backward.changed} == {i for i, _, _ in forward.changed}


def test_render_shows_counts_and_every_object(releases: tuple[Path, Path]) -> None:
    text = render_diff(diff_releases(*releases))
    first = text.splitlines()[0]
    assert first == "ATLAS 0.9.0 -> 0.9.1: 1 added, 1 removed, 6 changed, 8 unchanged"
    assert "Added (1: 1 technique):" in text
    assert "AML.T0905  Compost Heap Smuggling  [technique]" in text
    assert "Removed (1: 1 mitigation):" in text
    assert "AML.M0903  Ledger Vault Encryption  [mitigation]" in text
    assert "AML.T0904  Silo Ledger Leakage: mitigations, uses" in text
    assert "AML.T0903  Weathervane Replica Forging: name" in text
    assert "AML.TA0901" not in text  # only its date changed


def test_to_dict_is_json_and_matches_the_lists(releases: tuple[Path, Path]) -> None:
    diff = diff_releases(*releases)
    data = json.loads(json.dumps(diff.to_dict()))
    assert data["old_version"] == "0.9.0" and data["new_version"] == "0.9.1"
    assert data["counts"] == diff.counts()
    assert data["added"] == [
        {"id": "AML.T0905", "type": "technique", "name": "Compost Heap Smuggling"}
    ]
    assert data["removed"][0]["id"] == "AML.M0903"
    assert {"id": "AML.T0904", "name": "Silo Ledger Leakage", "fields": ["mitigations", "uses"]} in (
        data["changed"]
    )


def test_a_technique_turned_into_a_subtechnique_reports_type_and_parent(tmp_path: Path) -> None:
    def adopt(data: dict[str, Any]) -> None:
        _find(data, "AML.T0904")["subtechnique-of"] = "AML.T0903"

    diff = diff_releases(FIXTURE_RELEASE, _release(tmp_path, "adopted", adopt))
    changed = {atlas_id: fields for atlas_id, _, fields in diff.changed}
    assert changed["AML.T0904"][:2] == ["type", "parent"]
    assert changed["AML.T0903"] == ["subtechniques"]


def test_cli_diff_prints_the_report_and_json(
    releases: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = releases
    assert main(["diff", str(old), str(new)]) == 0
    out = capsys.readouterr().out
    assert out.strip() == render_diff(diff_releases(old, new))
    assert main(["diff", str(old), str(new), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == diff_releases(old, new).to_dict()


def test_unreadable_releases_raise_release_error_and_the_cli_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ReleaseError, match=r"missing\.yaml"):
        diff_releases(FIXTURE_RELEASE, missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: ATLAS\nmatrices: [\n", encoding="utf-8")
    with pytest.raises(ReleaseError, match="not valid YAML"):
        diff_releases(broken, FIXTURE_RELEASE)
    assert main(["diff", str(FIXTURE_RELEASE), str(missing)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("atlas-rag: error: ") and "missing.yaml" in err

"""Updating from ATLAS 5.5.0 to 5.6.0: the release diff, and an index rebuilt in place.

The releases are read from ATLAS_RAG_TEST_OLD_RELEASE / ATLAS_RAG_TEST_RELEASE, else from
../shared/atlas/<version>/ATLAS.yaml next to the repository, else the pinned official release
(downloaded and sha256-checked unless offline). Expected object counts come from the table of
the shared releases' README, and are checked against the raw YAML here, not the library.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from atlas_rag import AtlasRAG, ReleaseError, build_index
from atlas_rag.api import default_embedder
from atlas_rag.cli import main
from atlas_rag.diff import diff_releases, render_diff
from atlas_rag.release import resolve_source
from atlas_rag.settings import Settings
from helpers import Full, make_settings, shared_cache

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# version: (tactics, techniques incl. sub-techniques, mitigations, case studies)
README_COUNTS = {"5.5.0": (16, 167, 35, 57), "5.6.0": (16, 170, 35, 57)}


def release(version: str, variable: str) -> Path:
    configured = os.environ.get(variable)
    if configured and Path(configured).is_file():
        return Path(configured)
    shared = REPO.parent / "shared" / "atlas" / version / "ATLAS.yaml"
    if shared.is_file():
        return shared
    try:
        return resolve_source(Settings.from_env(release=version))
    except ReleaseError as exc:
        pytest.fail(f"ATLAS {version} is needed for the update tests: {exc} (or set {variable})")


@pytest.fixture(scope="module")
def old_release() -> Path:
    return release("5.5.0", "ATLAS_RAG_TEST_OLD_RELEASE")


@pytest.fixture(scope="module")
def new_release() -> Path:
    path = release("5.6.0", "ATLAS_RAG_TEST_RELEASE")
    if yaml.safe_load(path.read_text(encoding="utf-8")).get("version") != "5.6.0":
        pytest.fail(f"{path} is not ATLAS 5.6.0")
    return path


def raw_counts(path: Path) -> tuple[int, int, int, int]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    matrix = data["matrices"][0]
    return (
        len(matrix["tactics"]),
        len(matrix["techniques"]),
        len(matrix["mitigations"]),
        len(data["case-studies"]),
    )


def test_release_diff_agrees_with_the_published_counts(
    old_release: Path, new_release: Path
) -> None:
    assert raw_counts(old_release) == README_COUNTS["5.5.0"]
    assert raw_counts(new_release) == README_COUNTS["5.6.0"]
    diff = diff_releases(old_release, new_release)
    assert (diff.old_version, diff.new_version) == ("5.5.0", "5.6.0")

    def net(kinds: tuple[str, ...]) -> int:
        added = sum(1 for _, kind, _ in diff.added if kind in kinds)
        removed = sum(1 for _, kind, _ in diff.removed if kind in kinds)
        return added - removed

    techniques = ("technique", "subtechnique")
    assert net(techniques) == 170 - 167
    assert sum(1 for _, kind, _ in diff.added if kind in techniques) >= 3
    for kind in ("tactic", "mitigation", "case-study"):
        assert net((kind,)) == 0, kind
    total_new = sum(README_COUNTS["5.6.0"])
    assert len(diff.added) + len(diff.changed) + diff.unchanged == total_new
    assert 0 < len(diff.changed) < total_new // 2  # a point release changes a few objects
    # Every added object's ID is new to the old release's text.
    old_text = old_release.read_text(encoding="utf-8")
    for atlas_id, _, name in diff.added:
        assert f"id: {atlas_id}\n" not in old_text, atlas_id
        assert name


def test_cli_diff_of_the_official_releases(
    old_release: Path, new_release: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    diff = diff_releases(old_release, new_release)
    assert main(["diff", str(old_release), str(new_release)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        f"ATLAS 5.5.0 -> 5.6.0: {len(diff.added)} added, {len(diff.removed)} removed, "
        f"{len(diff.changed)} changed, {diff.unchanged} unchanged"
    )
    assert out.strip() == render_diff(diff)
    for atlas_id, _, name in diff.added:
        assert f"{atlas_id}  {name}" in out
    assert main(["diff", str(old_release), str(new_release), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["counts"]["added"] >= 3
    assert data == diff.to_dict()


def test_rebuilding_on_the_new_release_embeds_only_what_changed(
    old_release: Path, new_release: Path, tmp_path: Path, full: Full
) -> None:
    # Pages are embedded with the base model whatever the query model; the tuned query model
    # (tests/integration/test_tuned_model.py) would be trained twice here, once per release.
    settings = make_settings(tmp_path, fine_tune=False, cache_dir=shared_cache())
    embedder = default_embedder(settings)
    # 5.5.0 is built over a copy of the session's 5.6.0 index, so that only the pages that
    # differ are embedded for it: the step measured here is the one after, 5.5.0 -> 5.6.0.
    shutil.copytree(full.index_dir, settings.index_dir)
    first = build_index(
        old_release, settings.corpus_dir, settings.index_dir, settings=settings, embedder=embedder
    )
    assert first.atlas_version == "5.5.0"
    assert first.embedded + first.reused == first.chunks
    reader = AtlasRAG.open(settings=settings, embedder=embedder)
    assert reader.version == "5.5.0"

    report = build_index(
        new_release, settings.corpus_dir, settings.index_dir, settings=settings, embedder=embedder
    )
    share = report.embedded / report.chunks
    print(
        f"\n5.5.0 -> 5.6.0 rebuild: {report.embedded}/{report.chunks} chunks embedded "
        f"({share:.1%}), {report.reused} reused, {report.seconds:.1f} s "
        f"(first build: {first.chunks} chunks, {first.seconds:.1f} s)"
    )
    assert report.atlas_version == "5.6.0"
    assert 0 < report.embedded < report.chunks
    assert report.embedded + report.reused == report.chunks
    assert share < 0.5, "a point release should re-embed only a minority of the chunks"

    # A reader opened on 5.5.0 switches when it refreshes; a fresh one opens 5.6.0.
    added = [atlas_id for atlas_id, _, _ in diff_releases(old_release, new_release).added]
    assert added[0] not in reader.catalog
    assert reader.refresh() is True
    rag = AtlasRAG.open(settings=settings, embedder=embedder)
    for opened in (reader, rag):
        assert opened.version == "5.6.0"
        assert opened.manifest["atlas_version"] == "5.6.0"
        for atlas_id in added:
            assert opened.get(atlas_id).atlas_version == "5.6.0"
            assert opened.search(atlas_id)[0].id == atlas_id
    answer = rag.ask("which ATLAS release are you using?")
    assert "5.6.0" in answer.text
    assert "5.5.0" not in answer.text

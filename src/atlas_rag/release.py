"""Official ATLAS releases: download (pinned, sha256-checked), read and validate.

A release is the ``dist/ATLAS.yaml`` file of the public ``mitre-atlas/atlas-data``
repository. :func:`load_release` turns it into a :class:`Catalog` whose records carry
every relation in both directions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .catalog import Catalog
from .errors import ReleaseError
from .ids import normalize_id
from .records import Example, Record, Step, object_url
from .settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OfficialRelease:
    version: str
    tag: str
    sha256: str

    @property
    def url(self) -> str:
        return f"https://raw.githubusercontent.com/mitre-atlas/atlas-data/{self.tag}/dist/ATLAS.yaml"


OFFICIAL_RELEASES = {
    "5.6.0": OfficialRelease(
        "5.6.0", "v5.6.1", "8a5693df51135721796607b8f29cba8ed33d745d5592ed80efbaaab0fba978f2"
    ),
    "5.5.0": OfficialRelease(
        "5.5.0", "v5.5.0", "7f0c5ab9256e735872da7e354c2f67ed4900c8b2869f8e3fe27f249e0a01733c"
    ),
}
MAX_RELEASE_BYTES = 64 * 1024 * 1024


def resolve_source(settings: Settings, source: str | os.PathLike[str] | None = None) -> Path:
    """A local path to the release file: the given source, the setting, or the pinned download."""
    chosen = str(source) if source is not None else settings.source
    if chosen and chosen.startswith(("http://", "https://")):
        if settings.offline:
            raise ReleaseError(
                f"offline mode cannot download {chosen}",
                "point ATLAS_RAG_SOURCE or --source at a local ATLAS.yaml",
            )
        name = hashlib.sha256(chosen.encode()).hexdigest()[:16]
        return download(chosen, settings.cache_dir / "downloads" / name / "ATLAS.yaml")
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_file():
            raise ReleaseError(
                f"release file {path} does not exist",
                "pass --source with the path of an ATLAS.yaml, or leave it empty to download "
                f"the pinned release {settings.release}",
            )
        return path
    official = OFFICIAL_RELEASES.get(settings.release)
    if official is None:
        raise ReleaseError(
            f"no official release {settings.release!r} is pinned",
            f"use one of {', '.join(OFFICIAL_RELEASES)} or set ATLAS_RAG_SOURCE",
        )
    cached = settings.cache_dir / official.version / "ATLAS.yaml"
    if cached.is_file() and _sha256(cached) == official.sha256:
        return cached
    if settings.offline:
        raise ReleaseError(
            f"ATLAS {official.version} is not in the cache ({cached}) and offline mode is on",
            "download it elsewhere from "
            f"{official.url} and set ATLAS_RAG_SOURCE=/path/to/ATLAS.yaml (or use --source)",
        )
    return download(official.url, cached, official.sha256)


def download(
    url: str, dest: Path, sha256: str | None = None, timeout: float = 30.0, progress: bool = True
) -> Path:
    """Download ``url`` to ``dest`` through a temporary file; verify ``sha256`` when given."""
    from tqdm import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=".download-")
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=total, unit="B", unit_scale=True, desc="ATLAS release", disable=not progress
            ) as bar:
                size = 0
                while chunk := resp.read(1 << 16):
                    size += len(chunk)
                    if size > MAX_RELEASE_BYTES:
                        raise ReleaseError(f"{url} is larger than {MAX_RELEASE_BYTES} bytes")
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        if sha256 and digest.hexdigest() != sha256:
            raise ReleaseError(
                f"download of {url} has sha256 {digest.hexdigest()}, expected {sha256}",
                "the file was altered or cut short; try again, or use a local copy with --source",
            )
        os.replace(tmp, dest)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ReleaseError(
            f"cannot download the ATLAS release from {url}: {exc}",
            "check the connection, or download ATLAS.yaml elsewhere and pass --source PATH "
            "(or set ATLAS_RAG_SOURCE)",
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def load_release(path: str | os.PathLike[str]) -> Catalog:
    """Read and validate a release file; errors name the file and what is wrong."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ReleaseError(f"cannot read release file {path}: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReleaseError(
            f"{path} is not UTF-8 text (byte {exc.start})", "use the official ATLAS.yaml"
        ) from exc
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise ReleaseError(
            f"{path} is not valid YAML{at}; it may be truncated or not an ATLAS release",
            "download the release again or point --source at the official ATLAS.yaml",
        ) from exc
    return parse_release(data, str(path))


def parse_release(data: Any, origin: str = "<release>") -> Catalog:
    """Build the catalog of a parsed release, computing every relation in both directions."""
    problems: list[str] = []

    def fail() -> ReleaseError:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        return ReleaseError(
            f"{origin} is not a usable ATLAS release: {shown}",
            "use the official ATLAS.yaml (it may be truncated or edited by hand)",
        )

    if not isinstance(data, dict):
        problems.append("the top level is not a mapping")
        raise fail()
    for key in ("id", "name", "version", "matrices"):
        if key not in data:
            problems.append(f"missing top-level key {key!r}")
    matrices = data.get("matrices")
    if not isinstance(matrices, list) or not matrices or not isinstance(matrices[0], dict):
        problems.append("'matrices' is not a non-empty list")
        raise fail()
    if "case-studies" not in data:
        problems.append("missing 'case-studies' (the file may be truncated)")
    version = str(data.get("version", ""))

    raw_objects: list[tuple[str, dict[str, Any]]] = []
    for matrix in matrices:
        for key, kind in (("tactics", "tactic"), ("techniques", "technique"), ("mitigations", "mitigation")):
            items = matrix.get(key) if isinstance(matrix, dict) else None
            if not isinstance(items, list) or not items:
                problems.append(f"matrix has no {key}")
                continue
            raw_objects += [(kind, item) for item in items]
    studies = data.get("case-studies") or []
    if not isinstance(studies, list):
        problems.append("'case-studies' is not a list")
        studies = []
    raw_objects += [("case-study", item) for item in studies]

    objects: dict[str, tuple[str, dict[str, Any]]] = {}
    for n, (kind, item) in enumerate(raw_objects):
        if not isinstance(item, dict):
            problems.append(f"{kind} #{n} is not a mapping")
            continue
        atlas_id = normalize_id(str(item.get("id", "")))
        if atlas_id is None:
            problems.append(f"{kind} #{n} has no valid id ({item.get('id')!r})")
            continue
        text_key = "summary" if kind == "case-study" else "description"
        for key in ("name", text_key):
            if not isinstance(item.get(key), str) or not item[key].strip():
                problems.append(f"{atlas_id} has no {key}")
        if kind == "case-study" and not isinstance(item.get("procedure"), list):
            problems.append(f"{atlas_id} has no procedure")
        for key in ("tactics", "techniques", "references", "category", "ml-lifecycle"):
            if item.get(key) is not None and not isinstance(item[key], list):
                problems.append(f"{atlas_id} field {key!r} is not a list")
        if atlas_id in objects:
            problems.append(f"{atlas_id} appears twice")
        objects[atlas_id] = (kind, item)
    if problems:
        raise fail()

    def ref(owner: str, target: Any, want: tuple[str, ...]) -> str | None:
        target_id = normalize_id(str(target or ""))
        if target_id is None or target_id not in objects or objects[target_id][0] not in want:
            problems.append(f"{owner} refers to unknown {'/'.join(want)} {target!r}")
            return None
        return target_id

    tactics: dict[str, list[str]] = {}
    parent: dict[str, str] = {}
    subs: dict[str, list[str]] = {}
    mit_of: dict[str, list[str]] = {}
    techs_of_mit: dict[str, list[str]] = {}
    uses: dict[tuple[str, str], str] = {}
    tech_of_tactic: dict[str, list[str]] = {}
    steps: dict[str, list[Step]] = {}
    examples: dict[str, list[Example]] = {}
    studies_of: dict[str, list[str]] = {}

    for atlas_id, (kind, item) in objects.items():
        if kind == "technique":
            if item.get("subtechnique-of"):
                p = ref(atlas_id, item["subtechnique-of"], ("technique",))
                if p:
                    parent[atlas_id] = p
                    subs.setdefault(p, []).append(atlas_id)
            for t in item.get("tactics") or []:
                tid = ref(atlas_id, t, ("tactic",))
                if tid:
                    tactics.setdefault(atlas_id, []).append(tid)
                    tech_of_tactic.setdefault(tid, []).append(atlas_id)
        elif kind == "mitigation":
            for entry in item.get("techniques") or []:
                entry = entry if isinstance(entry, dict) else {"id": entry}
                tid = ref(atlas_id, entry.get("id"), ("technique",))
                if tid:
                    _append_once(techs_of_mit.setdefault(atlas_id, []), tid)
                    _append_once(mit_of.setdefault(tid, []), atlas_id)
                    use = str(entry.get("use") or "").strip()
                    earlier = uses.get((atlas_id, tid))
                    # A mitigation may list a technique twice, each time with its own advice.
                    uses[(atlas_id, tid)] = f"{earlier}\n\n{use}" if earlier and use else earlier or use
        elif kind == "case-study":
            for n, step in enumerate(item["procedure"], start=1):
                if not isinstance(step, dict):
                    problems.append(f"{atlas_id} step {n} is not a mapping")
                    continue
                if not isinstance(step.get("description"), str) or not step["description"].strip():
                    problems.append(f"{atlas_id} step {n} has no description")
                    continue
                tid = ref(f"{atlas_id} step {n}", step.get("technique"), ("technique",))
                tac = ref(f"{atlas_id} step {n}", step.get("tactic"), ("tactic",))
                if tid and tac:
                    description = str(step.get("description") or "").strip()
                    steps.setdefault(atlas_id, []).append(Step(tac, tid, description))
                    examples.setdefault(tid, []).append(Example(atlas_id, n, tac, description))
                    _append_once(studies_of.setdefault(tid, []), atlas_id)
    if problems:
        raise fail()

    records = []
    tactic_positions: list[str] = []
    for atlas_id, (kind, item) in objects.items():
        rtype = "subtechnique" if atlas_id in parent else kind
        attack = item.get("ATT&CK-reference")
        common: dict[str, Any] = {
            "id": atlas_id,
            "type": rtype,
            "name": item["name"].strip(),
            "description": str(item.get("description") or item.get("summary") or "").strip(),
            "url": object_url(atlas_id, rtype),
            "atlas_version": version,
            "attack_reference": (
                {"id": str(attack.get("id", "")), "url": str(attack.get("url", ""))}
                if isinstance(attack, dict)
                else None
            ),
            "created": _date(item.get("created_date")),
            "modified": _date(item.get("modified_date")),
        }
        if kind == "tactic":
            # The release lists tactics in matrix order (Reconnaissance first), not ID order.
            record = Record(**common, techniques=tuple(tech_of_tactic.get(atlas_id, ())),
                            extra={"matrix_position": len(tactic_positions) + 1})
            tactic_positions.append(atlas_id)
        elif kind == "technique":
            own_tactics = tactics.get(atlas_id) or tactics.get(parent.get(atlas_id, ""), [])
            record = Record(
                **common,
                tactics=tuple(own_tactics),
                parent=parent.get(atlas_id),
                subtechniques=tuple(subs.get(atlas_id, ())),
                mitigations=tuple(mit_of.get(atlas_id, ())),
                case_studies=tuple(studies_of.get(atlas_id, ())),
                maturity=item.get("maturity"),
                uses={m: uses[(m, atlas_id)] for m in mit_of.get(atlas_id, ())},
                examples=tuple(examples.get(atlas_id, ())),
                extra={"references": _references(item)},
            )
        elif kind == "mitigation":
            record = Record(
                **common,
                techniques=tuple(techs_of_mit.get(atlas_id, ())),
                uses={t: uses[(atlas_id, t)] for t in techs_of_mit.get(atlas_id, ())},
                extra={
                    "category": [str(c) for c in item.get("category") or []],
                    # Stage names only: an entry of another shape (one release has a
                    # technique entry indented under the stages) is no stage.
                    "lifecycle": [c for c in item.get("ml-lifecycle") or [] if isinstance(c, str)],
                },
            )
        else:
            procedure = tuple(steps.get(atlas_id, ()))
            record = Record(
                **common,
                tactics=tuple(dict.fromkeys(s.tactic for s in procedure)),
                techniques=tuple(dict.fromkeys(s.technique for s in procedure)),
                procedure=procedure,
                extra={
                    "case_study_type": str(item.get("case-study-type") or ""),
                    "incident_date": _date(item.get("incident-date")),
                    "target": str(item.get("target") or ""),
                    "actor": str(item.get("actor") or ""),
                    "reporter": str(item.get("reporter") or ""),
                    "references": _references(item),
                },
            )
        records.append(record)
    return Catalog(records, version)


def load_catalog(settings: Settings, source: str | os.PathLike[str] | None = None) -> Catalog:
    """Resolve the source (downloading the pinned release if needed) and load it."""
    return load_release(resolve_source(settings, source))


def _append_once(items: list[str], value: str) -> None:
    if value not in items:
        items.append(value)


def _date(value: Any) -> str | None:
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value) if value else None


def _references(item: dict[str, Any]) -> list[dict[str, str]]:
    refs = []
    for entry in item.get("references") or []:
        if isinstance(entry, dict) and entry.get("url"):
            refs.append({"title": str(entry.get("title") or ""), "url": str(entry["url"])})
    return refs


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()



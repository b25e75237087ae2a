"""ATLAS Navigator layers: techniques with scores or colours, as the Navigator's JSON, and back.

Pure functions over the catalog, shared by the CLI, the Python API, the MCP tool and the chat.
A layer has one row per (technique, tactic), the tactic named by its shortname (its name, lower
case and hyphenated: "initial-access"), which is how the Navigator places a technique in a
column. Scores are on a 0-100 scale; the layer's gradient says what they mean.

Sources of a layer: a list of IDs (highlighted), a mapping of a text (confidence x 100, the
evidence sentence as comment), a case study (its procedure's techniques under each step's
tactic, the step as comment) and the frequency of techniques across case studies (score = the
number of case studies that used it).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog import Catalog
from .errors import InvalidArgumentError, LayerError
from .ids import read_id
from .records import Record
from .retrieval import Hit

DOMAIN = "atlas-atlas"
LAYER_VERSION = "4.5"
NAVIGATOR_VERSION = "4.9.1"
HIGHLIGHT = "#e60d0d"
GRADIENT = ["#ffffff", "#ff6666"]
MAX_SCORE = 100
MAX_MAPPED = 50  # techniques a mapping layer may hold (map_text keeps the confident ones)
TECHNIQUE_TYPES = ("technique", "subtechnique")


@dataclass(frozen=True)
class LayerEntry:
    """A technique to show, with a score on the 0-100 scale; highlighted when ``color`` is set.

    ``tactic`` (a tactic ID) puts it in that column only; otherwise it is shown under each of
    its tactics. ``metadata`` are (name, value) pairs shown by the Navigator on hover.
    """

    atlas_id: str
    score: float | None = None
    comment: str = ""
    color: str | None = None
    tactic: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Scale:
    """What a layer's scores mean: the gradient's range and the legend."""

    max_value: float = MAX_SCORE
    legend: tuple[tuple[str, str], ...] = ()


def tactic_shortname(name: str) -> str:
    """The Navigator's name of a tactic's column: "Initial Access" -> "initial-access"."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def navigator_layer(
    catalog: Catalog,
    entries: Iterable[LayerEntry],
    name: str = "atlas-rag",
    description: str = "",
    scale: Scale | None = None,
) -> dict[str, Any]:
    """A Navigator layer (plain JSON) showing ``entries``, one row per technique and tactic.

    The first entry of a technique (and tactic) wins. A sub-technique's parent is expanded
    (``showSubtechniques``); when the parent is not itself an entry it gets an unscored row,
    so the Navigator shows the sub-technique without a click.

    Raises UnknownIdError for an ID the release lacks and InvalidArgumentError for an object
    that is not a technique (the Navigator shows techniques only).
    """
    scale = scale or Scale(legend=((f"score {MAX_SCORE}", GRADIENT[-1]),))
    columns = {t: n for n, t in enumerate(catalog.tactic_order())}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in entries:
        record = _technique(catalog, entry.atlas_id)
        for tactic in _columns_of(catalog, record, entry.tactic, columns):
            key = (record.id, tactic)
            if key not in rows:
                rows[key] = _row(catalog, record, tactic, entry)
    for technique, tactic in list(rows):
        parent = catalog.parent_of(catalog.records[technique])
        if parent is None:
            continue
        if (parent.id, tactic) not in rows:
            rows[(parent.id, tactic)] = _row(catalog, parent, tactic, LayerEntry(parent.id))
        rows[(parent.id, tactic)]["showSubtechniques"] = True
    ordered = sorted(rows.items(), key=lambda kv: (columns.get(kv[0][1], len(columns)), kv[0][0]))
    return {
        "name": name,
        "versions": {"layer": LAYER_VERSION, "navigator": NAVIGATOR_VERSION},
        "domain": DOMAIN,
        "description": description or f"ATLAS {catalog.version} techniques, made by atlas-rag",
        "metadata": [{"name": "atlas_data_version", "value": catalog.version},
                     {"name": "generated_by", "value": "atlas-rag"}],
        "techniques": [row for _, row in ordered],
        "gradient": {"colors": list(GRADIENT), "minValue": 0, "maxValue": scale.max_value},
        "legendItems": [{"label": label, "color": color} for label, color in scale.legend],
        "hideDisabled": False,
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
    }


# ------------------------------------------------------------------------------ sources


def ids_layer(catalog: Catalog, atlas_ids: Iterable[str], name: str = "atlas-rag") -> dict[str, Any]:
    """The given techniques highlighted (score 100), e.g. a threat model or a chat answer."""
    entries = [LayerEntry(i, MAX_SCORE, color=HIGHLIGHT) for i in atlas_ids]
    if not entries:
        raise InvalidArgumentError("no technique ID given", "pass IDs such as AML.T0051,AML.T0054")
    return navigator_layer(catalog, entries, name=name,
                           description="Techniques listed by the user",
                           scale=Scale(legend=(("listed", HIGHLIGHT),)))


def mapping_layer(catalog: Catalog, hits: Sequence[Hit], name: str = "atlas-rag map") -> dict[str, Any]:
    """Techniques mapped from a text: score = confidence x 100, comment = evidence sentence."""
    entries = [
        LayerEntry(h.id, round(h.score * MAX_SCORE, 1), h.snippet,
                   metadata=(("confidence", f"{h.score:.2f}"),))
        for h in hits
    ]
    return navigator_layer(
        catalog, entries, name=name,
        description="Techniques shown by a text; score = confidence x 100 (atlas-rag map_text)",
        scale=Scale(legend=(("confidence 0", GRADIENT[0]), ("confidence 100", GRADIENT[-1]))),
    )


def case_study_layer(catalog: Catalog, case_study: str) -> dict[str, Any]:
    """A case study's procedure: each step's technique under the step's tactic, the step text
    as comment (several steps of one technique and tactic are joined)."""
    record = catalog.get(case_study)
    if record.type != "case-study":
        raise InvalidArgumentError(f"{record.id} is a {record.type}, not a case study",
                                   "pass a case-study ID such as AML.CS0000")
    if not record.procedure:
        raise InvalidArgumentError(f"{record.id} has no procedure to show",
                                   "pick a case study with procedure steps")
    steps: dict[tuple[str, str], list[int]] = {}
    for n, step in enumerate(record.procedure, start=1):
        steps.setdefault((step.technique, step.tactic), []).append(n)
    entries = []
    for (technique, tactic), numbers in steps.items():
        comment = " ".join(f"Step {n}: {record.procedure[n - 1].description.strip()}"
                           for n in numbers)
        entries.append(LayerEntry(
            technique, MAX_SCORE, comment, color=HIGHLIGHT, tactic=tactic,
            metadata=(("case_study", record.id), ("steps", ", ".join(map(str, numbers)))),
        ))
    return navigator_layer(catalog, entries, name=f"{record.id}: {record.name}",
                           description=f"Procedure of the case study {record.id} {record.name}",
                           scale=Scale(legend=(("used in the procedure", HIGHLIGHT),)))


def technique_frequency(catalog: Catalog) -> dict[str, list[str]]:
    """Technique ID -> the case studies whose procedure used it (each counted once)."""
    used: dict[str, list[str]] = {}
    for study in catalog.of_type("case-study"):
        for technique in dict.fromkeys(step.technique for step in study.procedure):
            used.setdefault(technique, []).append(study.id)
    return used


def frequency_layer(catalog: Catalog) -> dict[str, Any]:
    """How many case studies used each technique: score = that count (not scaled); the
    gradient runs from 0 to the highest count."""
    used = technique_frequency(catalog)
    if not used:
        raise InvalidArgumentError("no case study of this release has a procedure",
                                   "a frequency layer needs case studies")
    top = max(len(studies) for studies in used.values())
    total = len(catalog.of_type("case-study"))
    entries = [
        LayerEntry(t, len(studies), f"Used by {len(studies)} of {total} case studies",
                   metadata=(("case_studies", ", ".join(studies)),))
        for t, studies in sorted(used.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        if t in catalog
    ]
    return navigator_layer(
        catalog, entries, name="ATLAS case-study frequency",
        description=f"Score = number of the {total} case studies of ATLAS {catalog.version} "
                    "whose procedure used the technique",
        scale=Scale(max_value=top, legend=(("1 case study", GRADIENT[0]),
                                           (f"{top} case studies", GRADIENT[-1]))),
    )


# ------------------------------------------------------------------------------ reading


@dataclass(frozen=True)
class LayerTechnique:
    """A row of a layer read back: a technique of this release in one tactic's column."""

    id: str
    name: str
    tactic: str
    score: float | None = None
    comment: str = ""


@dataclass
class ReadLayer:
    name: str
    domain: str
    atlas_version: str | None
    techniques: list[LayerTechnique] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        return list(dict.fromkeys(t.id for t in self.techniques))


def read_layer(catalog: Catalog, data: str | bytes | dict[str, Any]) -> ReadLayer:
    """A Navigator layer (its JSON text or parsed dict) read against this release.

    LayerError when it is not JSON, not a layer, for another domain, or names techniques or
    tactics this release lacks.
    """
    if not isinstance(data, dict):
        try:
            data = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise LayerError(f"the layer is not JSON ({exc})",
                             "export it from the Navigator: layer menu -> download layer as JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("techniques"), list):
        raise LayerError("this JSON is not a Navigator layer: it has no 'techniques' list",
                         "export the layer from the ATLAS Navigator as JSON")
    domain = str(data.get("domain") or "")
    if domain != DOMAIN:
        raise LayerError(
            f"the layer is for the {domain or 'unnamed'!r} domain, not ATLAS ({DOMAIN!r})",
            "open or make the layer in the ATLAS Navigator (https://mitre-atlas.github.io/atlas-navigator/)",
        )
    version = next((str(m.get("value")) for m in data.get("metadata") or []
                    if isinstance(m, dict) and m.get("name") == "atlas_data_version"), None)
    tactics = {tactic_shortname(catalog.records[t].name): t for t in catalog.tactic_order()}
    unknown: list[str] = []
    out: list[LayerTechnique] = []
    for row in data["techniques"]:
        if not isinstance(row, dict):
            raise LayerError("a technique of the layer is not an object",
                             "export the layer from the ATLAS Navigator as JSON")
        raw = str(row.get("techniqueID") or "")
        atlas_id = read_id(raw)
        record = catalog.records.get(atlas_id or "")
        tactic = str(row.get("tactic") or "")
        if record is None or record.type not in TECHNIQUE_TYPES:
            unknown.append(raw or "(no techniqueID)")
            continue
        if tactic and tactic not in tactics:
            unknown.append(f"tactic {tactic!r} of {record.id}")
            continue
        score = row.get("score")
        out.append(LayerTechnique(record.id, catalog.full_name(record), tactic,
                                  float(score) if isinstance(score, int | float) else None,
                                  str(row.get("comment") or "")))
    if unknown:
        listed = ", ".join(dict.fromkeys(unknown))
        made_for = f"ATLAS {version}" if version else "another release"
        raise LayerError(
            f"the layer names {len(unknown)} technique(s) or tactic(s) not in ATLAS "
            f"{catalog.version}: {listed}",
            f"the layer may be made for {made_for}; rebuild the index from that release, "
            "or remove those rows",
        )
    return ReadLayer(str(data.get("name") or ""), domain, version, out)


def write_layer(layer: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write the layer as JSON: to a temporary file beside ``path``, then renamed over it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(layer, out, indent=2, ensure_ascii=False)
            out.write("\n")
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


# ------------------------------------------------------------------------------ helpers


def _technique(catalog: Catalog, atlas_id: str) -> Record:
    record = catalog.get(atlas_id)
    if record.type not in TECHNIQUE_TYPES:
        raise InvalidArgumentError(
            f"{record.id} is a {record.type}; a Navigator layer shows techniques",
            f"pass technique IDs, e.g. those of related({record.id!r}, 'techniques')",
        )
    return record


def _columns_of(
    catalog: Catalog, record: Record, tactic: str | None, columns: dict[str, int]
) -> list[str]:
    """The tactic IDs whose columns show the technique, in matrix order."""
    tactics = [tactic] if tactic else list(catalog.tactics_of(record))
    return sorted((t for t in tactics if t in columns), key=columns.__getitem__)


def _row(catalog: Catalog, record: Record, tactic: str, entry: LayerEntry) -> dict[str, Any]:
    row: dict[str, Any] = {
        "techniqueID": record.id,
        "tactic": tactic_shortname(catalog.records[tactic].name),
    }
    if entry.score is not None:
        row["score"] = entry.score
    if entry.color:
        row["color"] = entry.color
    row.update({
        "comment": entry.comment,
        "enabled": True,
        "showSubtechniques": False,
        "links": [{"label": f"{record.id} on atlas.mitre.org", "url": record.url}],
        "metadata": [{"name": n, "value": v} for n, v in entry.metadata],
    })
    return row

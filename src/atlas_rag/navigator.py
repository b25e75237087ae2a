"""ATLAS Navigator layers: techniques with scores or colours, as the Navigator's JSON.

One pure function over the catalog, shared by the MCP tool and any later command. A layer has
one row per (technique, tactic), the tactic named by its shortname (its name, lower case and
hyphenated: "initial-access"), which is how the Navigator places a technique in a column.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .catalog import Catalog
from .errors import InvalidArgumentError

DOMAIN = "atlas-atlas"
LAYER_VERSION = "4.5"
NAVIGATOR_VERSION = "4.9.1"
HIGHLIGHT = "#e60d0d"
TECHNIQUE_TYPES = ("technique", "subtechnique")


@dataclass(frozen=True)
class LayerEntry:
    """A technique to show: with a score (0-1) it is shaded by the gradient, else highlighted."""

    atlas_id: str
    score: float | None = None
    comment: str = ""


def tactic_shortname(name: str) -> str:
    """The Navigator's name of a tactic's column: "Initial Access" -> "initial-access"."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def navigator_layer(
    catalog: Catalog, entries: Iterable[LayerEntry], name: str = "atlas-rag", description: str = ""
) -> dict[str, Any]:
    """A Navigator layer (plain JSON) showing ``entries``, one row per technique and tactic.

    Raises UnknownIdError for an ID the release lacks and InvalidArgumentError for an object
    that is not a technique (the Navigator shows techniques only).
    """
    columns = {t: n for n, t in enumerate(catalog.tactic_order())}
    rows: list[dict[str, Any]] = []
    shown: set[str] = set()
    scored = False
    for entry in entries:
        record = catalog.get(entry.atlas_id)
        if record.type not in TECHNIQUE_TYPES:
            raise InvalidArgumentError(
                f"{record.id} is a {record.type}; a Navigator layer shows techniques",
                f"pass technique IDs, e.g. those of related({record.id!r}, 'techniques')",
            )
        if record.id in shown:
            continue
        shown.add(record.id)
        tactics = sorted(catalog.tactics_of(record), key=lambda t: columns.get(t, len(columns)))
        for tactic in tactics:
            if tactic not in catalog.records:
                continue
            row: dict[str, Any] = {
                "techniqueID": record.id,
                "tactic": tactic_shortname(catalog.records[tactic].name),
                "comment": entry.comment,
                "enabled": True,
                "showSubtechniques": bool(record.subtechniques),
            }
            if entry.score is None:
                row["color"] = HIGHLIGHT
            else:
                row["score"] = round(float(entry.score), 4)
                scored = True
            rows.append(row)
    layer: dict[str, Any] = {
        "name": name,
        "versions": {"layer": LAYER_VERSION, "navigator": NAVIGATOR_VERSION},
        "domain": DOMAIN,
        "description": description or f"ATLAS {catalog.version} techniques, made by atlas-rag",
        "metadata": [{"name": "atlas_data_version", "value": catalog.version}],
        "techniques": rows,
        "hideDisabled": False,
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
    }
    if scored:
        layer["gradient"] = {"colors": ["#ffffff", "#ff6666"], "minValue": 0, "maxValue": 1}
    return layer

"""The ATLAS matrix as HTML: tactic columns in matrix order, every technique a cell.

A pure function of the catalog and scores (0-100), so the chat's "Map a report" tab and any
other shell draw the same matrix. Mapped cells are shaded on the Navigator layer's gradient;
sub-techniques sit indented under their parent in each of the parent's columns. Inline styles
only: the page loads nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from .catalog import Catalog
from .navigator import GRADIENT, MAX_SCORE
from .records import Record

CELL = ("display:block;margin:2px 0;padding:3px 5px;border:1px solid #d0d0d0;border-radius:3px;"
        "font-size:11px;line-height:1.25;color:#1f1f1f;")
COLUMN = "flex:0 0 150px;min-width:150px;"
HEADER = ("padding:4px 5px;margin-bottom:4px;background:#2b2b2b;color:#ffffff;font-size:12px;"
          "font-weight:600;border-radius:3px;")


def score_color(score: float, max_score: float = MAX_SCORE) -> str:
    """The colour of a score on the layers' gradient (white at 0, the last colour at max)."""
    share = min(max(score / max_score, 0.0), 1.0) if max_score > 0 else 0.0
    low, high = (_rgb(c) for c in (GRADIENT[0], GRADIENT[-1]))
    mixed = (round(a + (b - a) * share) for a, b in zip(low, high, strict=True))
    return "#" + "".join(f"{c:02x}" for c in mixed)


def matrix_columns(catalog: Catalog) -> list[tuple[Record, list[tuple[Record, list[Record]]]]]:
    """Each tactic in matrix order with its techniques (by name), each with its sub-techniques
    (by name) that sit in that column."""
    out = []
    techniques = sorted(catalog.of_type("technique"), key=lambda r: (r.name.lower(), r.id))
    for tactic_id in catalog.tactic_order():
        cells = []
        for technique in techniques:
            if tactic_id not in catalog.tactics_of(technique):
                continue
            subs = [catalog.records[s] for s in technique.subtechniques if s in catalog.records]
            subs = [s for s in subs if tactic_id in catalog.tactics_of(s)]
            cells.append((technique, sorted(subs, key=lambda r: (r.name.lower(), r.id))))
        out.append((catalog.records[tactic_id], cells))
    return out


def render_matrix(catalog: Catalog, scores: Mapping[str, float],
                  max_score: float = MAX_SCORE) -> str:
    """The matrix as an HTML fragment; techniques in ``scores`` are shaded by their score."""
    columns = []
    for tactic, cells in matrix_columns(catalog):
        mapped = sum(1 for t, subs in cells for r in (t, *subs) if r.id in scores)
        count = f" · {mapped} mapped" if mapped else ""
        parts = [f'<div class="atlas-tactic" data-tactic="{escape(tactic.id)}" style="{COLUMN}">',
                 f'<div style="{HEADER}" title="{escape(tactic.id)}">{escape(tactic.name)}'
                 f'<br><span style="font-weight:400;font-size:10px">{len(cells)} techniques'
                 f'{count}</span></div>']
        for technique, subs in cells:
            parts.append(_cell(technique, scores, max_score, sub=False))
            parts.extend(_cell(s, scores, max_score, sub=True) for s in subs)
        parts.append("</div>")
        columns.append("".join(parts))
    legend = (f'<div style="font-size:11px;margin:4px 0;color:#444">Shaded by score, '
              f'<span style="background:{score_color(max_score * 0.25, max_score)};padding:0 4px">'
              f'low</span> to <span style="background:{score_color(max_score, max_score)};'
              f'padding:0 4px">{max_score:g}</span>; sub-techniques indented under their parent.'
              "</div>")
    return (f'<div class="atlas-matrix">{legend}<div style="display:flex;gap:4px;'
            f'overflow-x:auto;align-items:flex-start;padding-bottom:6px">{"".join(columns)}'
            "</div></div>")


def _cell(record: Record, scores: Mapping[str, float], max_score: float, sub: bool) -> str:
    score = scores.get(record.id)
    kind = "subtechnique" if sub else "technique"
    style = CELL + ("margin-left:12px;" if sub else "")
    title = f"{record.id} {record.name}"
    classes = f"atlas-cell {kind}"
    data = f'data-id="{escape(record.id)}"'
    if score is not None:
        style += f"background:{score_color(score, max_score)};font-weight:600;"
        title += f", score {score:g}"
        classes += " mapped"
        data += f' data-score="{score:g}"'
    return (f'<div class="{classes}" {data} title="{escape(title)}" style="{style}">'
            f"{escape(record.name)}</div>")


def _rgb(color: str) -> tuple[int, int, int]:
    value = color.lstrip("#")[:6]
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)

"""The matrix HTML on the fixture release, read back with the standard library's HTML parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest

from atlas_rag.catalog import Catalog
from atlas_rag.matrix_view import render_matrix, score_color
from helpers import FIXTURE_NAMES, FIXTURE_SUBTECHNIQUES, FIXTURE_TECHNIQUES

pytestmark = pytest.mark.unit


@dataclass
class Cell:
    id: str
    kind: str
    mapped: bool
    score: str | None
    style: str
    text: str = ""


@dataclass
class Column:
    tactic: str
    cells: list[Cell] = field(default_factory=list)


class MatrixReader(HTMLParser):
    """Columns (by data-tactic) and their cells (by data-id), in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.columns: list[Column] = []
        self._cell: Cell | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        if "atlas-tactic" in classes:
            self.columns.append(Column(a["data-tactic"]))
        elif "atlas-cell" in classes:
            kind = "subtechnique" if "subtechnique" in classes else "technique"
            self._cell = Cell(a["data-id"], kind, "mapped" in classes, a.get("data-score"),
                              a["style"])
            self.columns[-1].cells.append(self._cell)

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.text += data

    def handle_endtag(self, tag: str) -> None:
        self._cell = None


def read(html: str) -> list[Column]:
    reader = MatrixReader()
    reader.feed(html)
    return reader.columns


SCORES = {"AML.T0904": 80.0, "AML.T0901.002": 35.5}


def test_columns_in_matrix_order_every_technique_a_cell(catalog: Catalog) -> None:
    columns = read(render_matrix(catalog, SCORES))
    assert [c.tactic for c in columns] == ["AML.TA0901", "AML.TA0902", "AML.TA0903"]
    # Written out from the fixture: techniques by name, sub-techniques right under their parent.
    assert [(c.id, c.kind) for c in columns[0].cells] == [
        ("AML.T0901", "technique"), ("AML.T0901.001", "subtechnique"),
        ("AML.T0901.002", "subtechnique"), ("AML.T0904", "technique"),
    ]
    assert [c.id for c in columns[1].cells] == ["AML.T0902", "AML.T0902.001"]
    assert [c.id for c in columns[2].cells] == ["AML.T0904", "AML.T0903"]  # Silo < Weathervane
    shown = {c.id for col in columns for c in col.cells}
    assert shown == set(FIXTURE_TECHNIQUES + FIXTURE_SUBTECHNIQUES)
    for column in columns:
        for cell in column.cells:
            assert cell.text == FIXTURE_NAMES[cell.id]
            assert ("margin-left" in cell.style) == (cell.kind == "subtechnique")


def test_mapped_cells_carry_their_score_colour(catalog: Catalog) -> None:
    columns = read(render_matrix(catalog, SCORES))
    cells = [c for col in columns for c in col.cells]
    mapped = [(c.id, c.score) for c in cells if c.mapped]
    # AML.T0904 sits in two tactics, so it is shaded in both columns.
    assert mapped == [("AML.T0901.002", "35.5"), ("AML.T0904", "80"), ("AML.T0904", "80")]
    for cell in cells:
        if cell.mapped:
            assert f"background:{score_color(SCORES[cell.id])}" in cell.style
        else:
            assert "background" not in cell.style


def test_score_colours_run_from_white_to_the_layer_gradient() -> None:
    assert score_color(0) == "#ffffff"
    assert score_color(100) == "#ff6666"
    assert score_color(50) == "#ffb2b2"
    assert score_color(250) == "#ff6666" and score_color(-3) == "#ffffff"
    assert score_color(5, max_score=10) == "#ffb2b2"


def test_nothing_mapped_draws_the_plain_matrix_and_escapes_names(catalog: Catalog) -> None:
    html = render_matrix(catalog, {})
    assert "mapped" not in html  # no cell marked mapped, no column counting any
    assert all(not c.mapped for col in read(html) for c in col.cells)
    assert "<script" not in html

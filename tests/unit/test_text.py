"""Plain sentences from ATLAS's markdown."""

from __future__ import annotations

import pytest

from atlas_rag.text import opening

pytestmark = pytest.mark.unit


def test_footnote_marks_are_not_part_of_a_sentence() -> None:
    text = "The crew copied the predictor.[\\[1\\]][1] They left [\\[2\\]][2]. Done."
    assert opening(text, 2) == "The crew copied the predictor. They left."

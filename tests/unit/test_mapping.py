"""Incident mapping's evidence: techniques that case studies use together."""

from __future__ import annotations

import pytest

from atlas_rag.catalog import Catalog
from atlas_rag.mapping import CoUse, Evidence, _add_co_use

pytestmark = pytest.mark.unit


def test_co_use_is_the_share_of_an_anchors_case_studies(catalog: Catalog) -> None:
    co_use = CoUse(catalog)
    # AML.CS0901 uses T0902 and T0903; AML.CS0902 uses neither with the other.
    assert co_use.share("AML.T0903", "AML.T0902") == pytest.approx(1 / 2)
    assert co_use.share("AML.T0904", "AML.T0902") == 0.0
    assert co_use.share("AML.T0902", "AML.T0999") == 0.0  # no case study uses the anchor


def test_the_anchors_are_the_techniques_with_the_most_textual_evidence(catalog: Catalog) -> None:
    found = {
        "AML.T0902": Evidence(best=1.0, windows=3, document=1.0),
        "AML.T0903": Evidence(best=0.2, windows=1, document=0.1),
        "AML.T0904": Evidence(best=0.2, windows=1, document=0.1),
    }
    _add_co_use(CoUse(catalog), found)
    assert found["AML.T0903"].together > 0.0  # used with the clear anchor in a case study
    assert found["AML.T0904"].together == 0.0  # never used with it
    assert found["AML.T0903"].confidence() > found["AML.T0904"].confidence()


def test_sentences_typed_in_lower_case_are_still_sentences() -> None:
    from atlas_rag.mapping import sentences

    text = ("someone pulled a model from a public hub, e.g. the sentiment one. the box then "
            "opened a shell to a vps vs. our usual proxy. what is this in atlas terms?")
    assert sentences(text) == [
        "someone pulled a model from a public hub, e.g. the sentiment one.",
        "the box then opened a shell to a vps vs. our usual proxy.",
        "what is this in atlas terms?",
    ]

"""ATLAS and ATT&CK identifiers: normalising, finding in text, kinds and parents."""

from __future__ import annotations

import pytest

from atlas_rag.ids import (
    find_attack_ids,
    find_id_mentions,
    find_ids,
    id_kind,
    normalize_id,
    parent_id,
    read_id,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("AML.T0051", "AML.T0051"),
        ("aml.t0051", "AML.T0051"),
        ("Aml.T0051.001", "AML.T0051.001"),
        ("  aml.t0051.001\n", "AML.T0051.001"),
        ("aml.ta0004", "AML.TA0004"),
        ("AML.m0015", "AML.M0015"),
        ("aml.cs0005", "AML.CS0005"),
    ],
)
def test_normalize_id_accepts_any_letter_case(text: str, expected: str) -> None:
    assert normalize_id(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "AML",
        "AML.T051",  # three digits
        "AML.T00510",  # five digits
        "AML.T0051.01",  # two-digit sub-technique
        "AML.X0051",  # unknown prefix
        "T1596",  # ATT&CK, not ATLAS
        "see AML.T0051",  # more than the ID
        "AML.T0051x",
    ],
)
def test_normalize_id_rejects_what_is_not_exactly_an_id(text: str) -> None:
    assert normalize_id(text) is None


def test_find_ids_returns_canonical_ids_in_order_without_repeats() -> None:
    text = "Compare aml.t0051.001 with AML.M0015, then AML.T0051.001 again and (aml.cs0005)."
    assert find_ids(text) == ["AML.T0051.001", "AML.M0015", "AML.CS0005"]


def test_find_ids_handles_punctuation_around_ids() -> None:
    assert find_ids("[AML.T0051], AML.TA0004; AML.T0043's goal: AML.M0001.") == [
        "AML.T0051",
        "AML.TA0004",
        "AML.T0043",
        "AML.M0001",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "xAML.T0051",  # glued to a word before
        "AML.T0051b",  # glued to a word after
        "AML.T00512",  # too many digits
        "foo_aml.t0051",  # underscore is a word character
        "prefix.AML.T0051",  # part of a dotted name
        "AML.T0051_bis",
    ],
)
def test_find_ids_does_not_match_inside_words(text: str) -> None:
    assert find_ids(text) == []


def test_find_attack_ids_skips_the_number_inside_atlas_ids() -> None:
    text = "AML.T0000 maps to T1596 and t1596.002; the tactic AML.TA0002 maps to TA0043."
    assert find_attack_ids(text) == ["T1596", "T1596.002", "TA0043"]


def test_find_attack_ids_does_not_match_inside_words() -> None:
    assert find_attack_ids("sT1596 T15960 T1596x AML.T1596") == []


@pytest.mark.parametrize(
    ("atlas_id", "kind"),
    [
        ("AML.TA0004", "tactic"),
        ("AML.T0051", "technique"),
        ("aml.t0051.001", "subtechnique"),
        ("AML.M0015", "mitigation"),
        ("AML.CS0005", "case-study"),
    ],
)
def test_id_kind(atlas_id: str, kind: str) -> None:
    assert id_kind(atlas_id) == kind


def test_id_kind_rejects_non_ids() -> None:
    with pytest.raises(ValueError, match="not an ATLAS ID"):
        id_kind("T1596")


@pytest.mark.parametrize(
    ("atlas_id", "parent"),
    [
        ("AML.T0051.001", "AML.T0051"),
        ("aml.t0051.001", "AML.T0051"),
        ("AML.T0051", None),
        ("AML.TA0004", None),
        ("AML.M0015", None),
        ("not an id", None),
    ],
)
def test_parent_id(atlas_id: str, parent: str | None) -> None:
    assert parent_id(atlas_id) == parent


# ------------------------------------------------------------------ loose forms users type


@pytest.mark.parametrize(
    ("text", "expected", "prefixed"),
    [
        ("M0015", "AML.M0015", False),
        ("cs0042", "AML.CS0042", False),
        ("AML-T0043-001", "AML.T0043.001", True),
        ("AML.T0043.1", "AML.T0043.001", True),
        ("aml t0051", "AML.T0051", True),
        ("TA0003", "AML.TA0003", False),
        ("t0051.001", "AML.T0051.001", False),
        ("aml.m15", "AML.M0015", True),
    ],
)
def test_loose_id_forms_are_read_as_atlas_ids(text: str, expected: str, prefixed: bool) -> None:
    [mention] = find_id_mentions(f"what about {text}?")
    assert (mention.atlas_id, mention.prefixed) == (expected, prefixed)
    assert read_id(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "the T5 model",  # a model name, not four digits
        "m 2 screws",
        "an m2 laptop",  # one digit
        "the T800 robot",  # a bare T needs four digits
        "ta12 form",
        "version 5.6.0",
        "AML.TA0003.1",  # only techniques have sub-techniques
        "MT0051",
        "t00510",
    ],
)
def test_things_that_are_not_ids_are_not_read_as_ids(text: str) -> None:
    assert find_id_mentions(text) == []
    assert find_id_mentions(text, shortened=True) == []


@pytest.mark.parametrize(("text", "expected"), [("m15", "AML.M0015"), ("CS42", "AML.CS0042"),
                                               ("M365", "AML.M0365")])
def test_shortened_ids_are_read_on_request(text: str, expected: str) -> None:
    assert find_id_mentions(f"what about {text}?") == []
    [mention] = find_id_mentions(f"what about {text}?", shortened=True)
    assert (mention.atlas_id, mention.shortened) == (expected, True)


def test_read_id_takes_only_a_whole_id() -> None:
    assert read_id("see M0015") is None
    assert read_id(" m0015 ") == "AML.M0015"

"""The ATLAS object model shared by every stage: records and the relations between them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

TYPES = ("tactic", "technique", "subtechnique", "mitigation", "case-study")
SITE = "https://atlas.mitre.org"
_SITE_FOLDERS = {
    "tactic": "tactics",
    "technique": "techniques",
    "subtechnique": "techniques",
    "mitigation": "mitigations",
    "case-study": "studies",
}
# Folders of the corpus, one per kind of page.
PAGE_FOLDERS = {
    "tactic": "tactics",
    "technique": "techniques",
    "subtechnique": "techniques",
    "mitigation": "mitigations",
    "case-study": "case-studies",
}


def object_url(atlas_id: str, kind: str) -> str:
    """The object's page on atlas.mitre.org."""
    return f"{SITE}/{_SITE_FOLDERS[kind]}/{atlas_id}"


def page_path(atlas_id: str, kind: str) -> str:
    """Corpus path of a page without the .md suffix, as used in wiki links."""
    return f"{PAGE_FOLDERS[kind]}/{atlas_id}"


@dataclass(frozen=True)
class Step:
    """One step of a case study's procedure."""

    tactic: str
    technique: str
    description: str


@dataclass(frozen=True)
class Example:
    """A case-study step that used a technique, as seen from the technique."""

    case_study: str
    step: int
    tactic: str
    description: str


@dataclass(frozen=True)
class Record:
    """One ATLAS object with its fields and its relations in both directions."""

    id: str
    type: str
    name: str
    description: str
    url: str
    atlas_version: str
    tactics: tuple[str, ...] = ()
    parent: str | None = None
    subtechniques: tuple[str, ...] = ()
    mitigations: tuple[str, ...] = ()
    case_studies: tuple[str, ...] = ()
    techniques: tuple[str, ...] = ()
    attack_reference: dict[str, str] | None = None
    maturity: str | None = None
    created: str | None = None
    modified: str | None = None
    # Mitigation: how it applies to each technique it addresses; technique: how each
    # mitigation applies to it. Keyed by the other object's ID.
    uses: dict[str, str] = field(default_factory=dict)
    procedure: tuple[Step, ...] = ()
    examples: tuple[Example, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return f"{self.id}: {self.name}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        data = dict(data)
        for key in ("tactics", "subtechniques", "mitigations", "case_studies", "techniques"):
            data[key] = tuple(data.get(key) or ())
        data["procedure"] = tuple(Step(**s) for s in data.get("procedure") or ())
        data["examples"] = tuple(Example(**e) for e in data.get("examples") or ())
        data["uses"] = dict(data.get("uses") or {})
        data["extra"] = dict(data.get("extra") or {})
        return cls(**data)

"""Eval questions: generated from the catalog (id, name, procedure) or read from ``evals/``."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..catalog import Catalog
from ..corpus import plain_text
from ..errors import AtlasRagError

TECHNIQUE_TYPES = ("technique", "subtechnique")
FILE_SUITES = {"concept": "concept.jsonl", "mitigation": "mitigation.jsonl",
               "case-study": "case_study.jsonl"}
# Each file suite asks for one kind of object, as the assistant does when it answers
# "which technique is this", "which defence", "which case study".
SUITE_TYPES: dict[str, tuple[str, ...]] = {
    "concept": TECHNIQUE_TYPES, "mitigation": ("mitigation",), "case-study": ("case-study",),
}


@dataclass(frozen=True)
class Question:
    id: str
    category: str
    query: str
    expected: frozenset[str]
    # A looser answer key where one exists (procedure: the technique or its parent).
    lenient: frozenset[str] = frozenset()
    types: tuple[str, ...] | None = None
    fold: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def split(self) -> str:
        """dev (tune on it) or test (report and gate only); a procedure step goes with its
        case study, so no case study has steps on both sides."""
        return split_of(str(self.extra.get("group") or self.id))


def split_of(key: str) -> str:
    """A fixed half of the questions (by a hash of their ID, or their group) is the test part."""
    return "test" if hashlib.sha1(key.encode("utf-8")).digest()[0] % 2 == 0 else "dev"


def id_questions(catalog: Catalog) -> list[Question]:
    return [
        Question(f"id-{r.id}", "id", f"What is {r.id}?", frozenset({r.id})) for r in catalog
    ]


def name_questions(catalog: Catalog) -> list[Question]:
    return [
        Question(f"name-{r.id}", "name", catalog.full_name(r), frozenset({r.id})) for r in catalog
    ]


def file_questions(evals_dir: Path, suite: str) -> list[Question]:
    path = evals_dir / FILE_SUITES[suite]
    questions = []
    for n, line in enumerate(read_jsonl(path), start=1):
        try:
            questions.append(
                Question(
                    str(line["id"]),
                    suite,
                    str(line["query"]),
                    frozenset(line["expected"]),
                    types=SUITE_TYPES[suite],
                )
            )
        except (KeyError, TypeError) as exc:
            raise AtlasRagError(f"{path} line {n} lacks {exc}") from exc
    return questions


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise AtlasRagError(f"cannot read eval set {path}: {exc.strerror}") from exc
    out = []
    for n, line in enumerate(lines, start=1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise AtlasRagError(f"{path} line {n} is not JSON: {exc.msg}") from exc
    return out


def case_study_folds(catalog: Catalog, folds: int, seed: int = 13) -> list[list[str]]:
    """Case studies split into ``folds`` groups of about equal step counts."""
    studies = [r for r in catalog.of_type("case-study")]
    random.Random(seed).shuffle(studies)
    studies.sort(key=lambda r: -len(r.procedure))
    groups: list[list[str]] = [[] for _ in range(folds)]
    sizes = [0] * folds
    for record in studies:  # largest first into the emptiest fold
        n = sizes.index(min(sizes))
        groups[n].append(record.id)
        sizes[n] += len(record.procedure)
    return groups


def procedure_questions(catalog: Catalog, fold_ids: list[list[str]]) -> list[Question]:
    """Every procedure step as a query for its technique, tagged with its fold."""
    fold_of = {cs: n for n, group in enumerate(fold_ids) for cs in group}
    questions = []
    for record in catalog.of_type("case-study"):
        for n, step in enumerate(record.procedure, start=1):
            technique = catalog.records[step.technique]
            lenient = {technique.id} | ({technique.parent} if technique.parent else set())
            questions.append(
                Question(
                    f"step-{record.id}-{n}",
                    "procedure",
                    plain_text(step.description),
                    frozenset({technique.id}),
                    lenient=frozenset(lenient),
                    types=TECHNIQUE_TYPES,
                    fold=fold_of[record.id],
                    extra={"group": record.id},
                )
            )
    return questions


def without_case_studies(catalog: Catalog, removed: set[str]) -> Catalog:
    """The catalog as if the ``removed`` case studies had never been published."""
    records = []
    for record in catalog:
        if record.id in removed:
            continue
        if record.case_studies or record.examples:
            record = dataclasses.replace(
                record,
                case_studies=tuple(c for c in record.case_studies if c not in removed),
                examples=tuple(e for e in record.examples if e.case_study not in removed),
            )
        records.append(record)
    return Catalog(records, catalog.version)

"""All records of one ATLAS release with lookups by ID, name and ATT&CK reference."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from .errors import UnknownIdError
from .ids import read_id
from .records import Record


def normalize_name(text: str) -> str:
    """Lower-case words only, for matching names typed in any style."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower().replace("&", " and ")))


class Catalog:
    """Records keyed by ATLAS ID, in release order."""

    def __init__(self, records: Iterable[Record], version: str) -> None:
        self.version = version
        self.records: dict[str, Record] = {r.id: r for r in records}
        self._by_name: dict[str, list[str]] = {}
        self._by_attack: dict[str, list[str]] = {}
        for record in self.records.values():
            for name in self.names_of(record):
                ids = self._by_name.setdefault(normalize_name(name), [])
                if record.id not in ids:
                    ids.append(record.id)
            if record.attack_reference and record.attack_reference.get("id"):
                self._by_attack.setdefault(record.attack_reference["id"].upper(), []).append(
                    record.id
                )
        self._columns = {t: n for n, t in enumerate(self.tactic_order())}

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records.values())

    def __contains__(self, atlas_id: object) -> bool:
        return isinstance(atlas_id, str) and atlas_id in self.records

    def get(self, atlas_id: str) -> Record:
        """The record of an ID in any letter case; UnknownIdError when the release lacks it."""
        canonical = read_id(atlas_id) if isinstance(atlas_id, str) else None
        if canonical is None and isinstance(atlas_id, str) and atlas_id.strip() in self.records:
            return self.records[atlas_id.strip()]  # a team's own note with its own ID
        if canonical is None:
            raise UnknownIdError(
                f"{atlas_id!r} is not an ATLAS ID",
                "IDs look like AML.T0051, AML.T0051.001, AML.TA0004, AML.M0015 or AML.CS0005 "
                "(also written T0051, m0015, AML-T0051-001)",
            )
        record = self.records.get(canonical)
        if record is None:
            raise UnknownIdError(
                f"{canonical} is not in ATLAS {self.version}",
                "check the ID on https://atlas.mitre.org or search by name",
            )
        return record

    def of_type(self, *types: str) -> list[Record]:
        return [r for r in self.records.values() if r.type in types]

    def parent_of(self, record: Record) -> Record | None:
        """A sub-technique's parent technique, when the catalog has it."""
        return self.records.get(record.parent) if record.parent else None

    def tactics_of(self, record: Record) -> tuple[str, ...]:
        """A technique's tactics; a sub-technique without its own takes its parent's."""
        parent = self.parent_of(record)
        return record.tactics or (parent.tactics if parent else ())

    def tactics_in_order(self, record: Record) -> list[str]:
        """A technique's (or its parent's) tactics, in matrix order."""
        tactics = self.tactics_of(record)
        return [t for t in self.tactic_order() if t in tactics]

    def tactic_order(self) -> list[str]:
        """Tactic IDs in the order of the ATLAS matrix (its columns), ID order where unknown."""
        tactics = self.of_type("tactic")

        def position(record: Record) -> tuple[int, str]:
            value = record.extra.get("matrix_position")
            return (int(value) if isinstance(value, int | str) and str(value).isdigit()
                    else len(tactics) + 1, record.id)

        return [r.id for r in sorted(tactics, key=position)]

    def matrix_key(self, atlas_id: str) -> tuple[int, str]:
        """Sort key putting objects in matrix order: by their first tactic's column, then ID."""
        record = self.records.get(atlas_id)
        if record is None:
            return (len(self._columns) + 1, atlas_id)
        if record.type == "tactic":
            return (self._columns.get(record.id, len(self._columns)), atlas_id)
        columns = [self._columns[t] for t in self.tactics_of(record) if t in self._columns]
        return (min(columns) if columns else len(self._columns), atlas_id)

    def names_of(self, record: Record) -> list[str]:
        """Names a user may call an object by; sub-techniques also as 'Parent: Name'.

        A sub-technique's own name counts alone only when it has several words: "Indirect"
        or "Data" mean nothing without their parent.
        """
        if not (record.parent and record.parent in self.records):
            return [record.name]
        parent = self.records[record.parent].name
        names = [f"{parent}: {record.name}", f"{record.name} {parent}"]
        if len(record.name.split()) > 1:
            names.insert(0, record.name)
        return names

    def full_name(self, record: Record) -> str:
        if record.parent and record.parent in self.records:
            return f"{self.records[record.parent].name}: {record.name}"
        return record.name

    def by_name(self, text: str) -> list[str]:
        """IDs whose name (normalised) equals ``text`` (normalised)."""
        return list(self._by_name.get(normalize_name(text), []))

    def names_in(self, text: str) -> list[str]:
        """IDs whose names occur in ``text`` as whole words, longest names first."""
        normalized = f" {normalize_name(text)} "
        found: list[tuple[int, str]] = []
        for name, ids in self._by_name.items():
            if len(name) >= 4 and f" {name} " in normalized:
                found += [(len(name), i) for i in ids]
        found.sort(key=lambda item: -item[0])
        seen: dict[str, None] = {}
        for _, atlas_id in found:
            seen.setdefault(atlas_id, None)
        return list(seen)

    def by_attack(self, attack_id: str) -> list[str]:
        """ATLAS objects whose ATT&CK reference is ``attack_id`` (T1596, TA0043)."""
        return list(self._by_attack.get(attack_id.upper(), []))

"""All records of one ATLAS release with lookups by ID, name and ATT&CK reference."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from .errors import UnknownIdError
from .ids import normalize_id
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

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records.values())

    def __contains__(self, atlas_id: object) -> bool:
        return isinstance(atlas_id, str) and atlas_id in self.records

    def get(self, atlas_id: str) -> Record:
        """The record of an ID in any letter case; UnknownIdError when the release lacks it."""
        canonical = normalize_id(atlas_id) if isinstance(atlas_id, str) else None
        if canonical is None and isinstance(atlas_id, str) and atlas_id.strip() in self.records:
            return self.records[atlas_id.strip()]  # a team's own note with its own ID
        if canonical is None:
            raise UnknownIdError(
                f"{atlas_id!r} is not an ATLAS ID",
                "IDs look like AML.T0051, AML.T0051.001, AML.TA0004, AML.M0015 or AML.CS0005",
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

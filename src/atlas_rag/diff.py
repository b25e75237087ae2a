"""What changed between two ATLAS releases: objects added, removed and changed, field by field.

Used before rebuilding an index on a new release, to see what the update brings. Fields that
change with every release whatever the content (``atlas_version``, ``url``, dates) are ignored.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .records import TYPES, Record
from .release import load_release

# The fields of a record whose change matters to a reader, in the order they are reported.
COMPARED_FIELDS = (
    "type",
    "name",
    "description",
    "tactics",
    "parent",
    "subtechniques",
    "mitigations",
    "case_studies",
    "techniques",
    "uses",
    "procedure",
    "maturity",
    "attack_reference",
)


@dataclass
class ReleaseDiff:
    """Objects added, removed and changed from ``old_version`` to ``new_version``.

    ``added`` and ``removed`` hold (id, type, name); ``changed`` holds (id, name, fields) with
    the names of the fields that differ. Lists follow release order.
    """

    old_version: str
    new_version: str
    added: list[tuple[str, str, str]] = field(default_factory=list)
    removed: list[tuple[str, str, str]] = field(default_factory=list)
    changed: list[tuple[str, str, list[str]]] = field(default_factory=list)
    unchanged: int = 0

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "removed": len(self.removed),
            "changed": len(self.changed),
            "unchanged": self.unchanged,
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, for ``atlas-rag diff --json``."""
        return {
            "old_version": self.old_version,
            "new_version": self.new_version,
            "counts": self.counts(),
            "added": [{"id": i, "type": t, "name": n} for i, t, n in self.added],
            "removed": [{"id": i, "type": t, "name": n} for i, t, n in self.removed],
            "changed": [{"id": i, "name": n, "fields": list(f)} for i, n, f in self.changed],
        }


def changed_fields(old: Record, new: Record) -> list[str]:
    """Names of the compared fields whose values differ between two versions of an object."""
    return [name for name in COMPARED_FIELDS if getattr(old, name) != getattr(new, name)]


def diff_releases(
    old_path: str | os.PathLike[str], new_path: str | os.PathLike[str]
) -> ReleaseDiff:
    """Compare two release files; ReleaseError if either cannot be read or validated."""
    old = load_release(old_path)
    new = load_release(new_path)
    result = ReleaseDiff(old_version=old.version, new_version=new.version)
    for record in new:
        before = old.records.get(record.id)
        if before is None:
            result.added.append((record.id, record.type, record.name))
            continue
        fields = changed_fields(before, record)
        if fields:
            result.changed.append((record.id, record.name, fields))
        else:
            result.unchanged += 1
    result.removed = [(r.id, r.type, r.name) for r in old if r.id not in new.records]
    return result


def render_diff(diff: ReleaseDiff) -> str:
    """A human-readable report: counts first, then every object added, removed or changed."""
    counts = diff.counts()
    lines = [
        f"ATLAS {diff.old_version or '?'} -> {diff.new_version or '?'}: "
        f"{counts['added']} added, {counts['removed']} removed, {counts['changed']} changed, "
        f"{counts['unchanged']} unchanged"
    ]
    if diff.empty:
        lines.append("No object was added, removed or changed.")
        return "\n".join(lines)
    for title, entries in (("Added", diff.added), ("Removed", diff.removed)):
        if not entries:
            continue
        lines += ["", f"{title} ({len(entries)}: {_by_type(entries)}):"]
        lines += [f"  {atlas_id}  {name}  [{kind}]" for atlas_id, kind, name in entries]
    if diff.changed:
        fields = Counter(f for _, _, changed in diff.changed for f in changed)
        common = ", ".join(f"{name} {n}" for name, n in fields.most_common())
        lines += ["", f"Changed ({len(diff.changed)}; fields: {common}):"]
        lines += [
            f"  {atlas_id}  {name}: {', '.join(changed)}" for atlas_id, name, changed in diff.changed
        ]
    return "\n".join(lines)


def _by_type(entries: list[tuple[str, str, str]]) -> str:
    counts = Counter(kind for _, kind, _ in entries)
    order = {kind: n for n, kind in enumerate(TYPES)}
    return ", ".join(
        f"{n} {kind}" for kind, n in sorted(counts.items(), key=lambda kv: order.get(kv[0], 99))
    )

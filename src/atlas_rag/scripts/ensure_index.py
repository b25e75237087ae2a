"""Build the index unless a usable one is already published (used by `make chat`)."""

from __future__ import annotations

import logging
import sys

from ..api import AtlasRAG, build_index
from ..errors import AtlasRagError, IndexIncompatibleError, IndexNotBuiltError
from ..settings import Settings


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
        try:
            rag = AtlasRAG.open(settings=settings)
            print(f"index ready: ATLAS {rag.version} at {rag.store.location}")
            return 0
        except (IndexNotBuiltError, IndexIncompatibleError) as exc:
            print(f"{exc.message}; building it now")
        report = build_index(settings=settings, progress=True)
        print(report.summary())
        return 0
    except AtlasRagError as exc:
        print(f"atlas-rag: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Build the index unless a usable one is already published (used by `make chat`)."""

from __future__ import annotations

import logging
import sys

from ..api import AtlasRAG, build_index
from ..errors import AtlasRagError, IndexIncompatibleError, IndexNotBuiltError
from ..settings import Settings
from ..tuning import stale_query_model


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
        try:
            rag = AtlasRAG.open(settings=settings)
            version = rag.version  # opens the index, which reads its manifest
        except (IndexNotBuiltError, IndexIncompatibleError) as exc:
            print(f"{exc.message}; building it now")
            print(build_index(settings=settings, progress=True).summary())
            return 0
        stale = stale_query_model(settings, rag.manifest)
        if stale:
            print(f"the index at {rag.store.location} is out of date: {stale}; building it again")
            return _refresh(settings)
        print(f"index ready: ATLAS {version} at {rag.store.location}")
        return 0
    except AtlasRagError as exc:
        print(f"atlas-rag: error: {exc}", file=sys.stderr)
        return 1


def _refresh(settings: Settings) -> int:
    """Build an out-of-date index again; when that fails (say, offline with no local release),
    the published index stays in use, as a build never replaces it half-way."""
    try:
        print(build_index(settings=settings, progress=True).summary())
    except AtlasRagError as exc:
        print(f"atlas-rag: could not build the index again ({exc}); the current one stays in use",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

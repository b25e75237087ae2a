"""atlas-rag: retrieval and grounded answers over MITRE ATLAS, on your own machine."""

from .answer import Answer
from .api import AtlasRAG, build_index
from .errors import (
    AtlasRagError,
    CorpusError,
    IndexIncompatibleError,
    IndexLockedError,
    IndexNotBuiltError,
    InvalidArgumentError,
    LayerError,
    QueryError,
    ReleaseError,
    StoreUnavailableError,
    UnknownIdError,
)
from .indexer import BuildReport
from .records import Record
from .retrieval import Hit
from .settings import Settings

__all__ = [
    "Answer",
    "AtlasRAG",
    "AtlasRagError",
    "BuildReport",
    "CorpusError",
    "Hit",
    "IndexIncompatibleError",
    "IndexLockedError",
    "IndexNotBuiltError",
    "InvalidArgumentError",
    "LayerError",
    "QueryError",
    "Record",
    "ReleaseError",
    "Settings",
    "StoreUnavailableError",
    "UnknownIdError",
    "build_index",
]
__version__ = "0.1.0"

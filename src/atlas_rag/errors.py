"""Exceptions raised by atlas-rag. Each carries a hint that tells the user what to do."""

from __future__ import annotations


class AtlasRagError(Exception):
    """Base class: a message for the user and a hint for the fix."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ReleaseError(AtlasRagError):
    """The ATLAS release could not be read, downloaded or validated."""


class CorpusError(AtlasRagError):
    """The corpus folder is missing or holds no usable page."""


class IndexNotBuiltError(AtlasRagError):
    """No index exists where one was expected."""


class IndexIncompatibleError(AtlasRagError):
    """The index was built with another model, dimension or format."""


class IndexLockedError(AtlasRagError):
    """Another build holds the index lock."""


class StoreUnavailableError(AtlasRagError):
    """The Chroma store (usually a Chroma server) cannot be reached."""


class QueryError(AtlasRagError, ValueError):
    """A query is empty, too long or otherwise unusable."""


class InvalidArgumentError(AtlasRagError, ValueError):
    """An argument of a tool or function has a value it cannot use."""


class UnknownIdError(AtlasRagError, KeyError):
    """An ATLAS ID that the index does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return AtlasRagError.__str__(self)


class SettingsError(AtlasRagError, ValueError):
    """A setting has a value that cannot be used."""


class LayerError(AtlasRagError, ValueError):
    """A Navigator layer that cannot be read: not JSON, another domain, or unknown IDs."""

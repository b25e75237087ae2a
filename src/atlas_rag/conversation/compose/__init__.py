"""Composers: one function per intent, registered in ``COMPOSERS``."""

from . import objects, relations, security, smalltalk
from .base import COMPOSERS, Context, composes

__all__ = ["COMPOSERS", "Context", "composes", "objects", "relations", "security", "smalltalk"]

"""Composers: one function per intent, registered in ``COMPOSERS``."""

from . import checks, narrowing, objects, relations, security, smalltalk, steps
from .base import COMPOSERS, Context, composes

__all__ = ["COMPOSERS", "Context", "checks", "composes", "narrowing", "objects", "relations", "security", "smalltalk", "steps"]

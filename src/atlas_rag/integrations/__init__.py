"""Shells that expose atlas-rag to other frameworks (each imports its framework lazily)."""

"""Measuring retrieval and answers against the eval sets in ``evals/``."""

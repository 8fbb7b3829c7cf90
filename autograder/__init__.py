"""Gradient-checking course kit: reference numerics, hidden checks, the judge and the grading pipeline."""
__version__ = "0.1.0"
